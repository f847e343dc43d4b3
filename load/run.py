"""`chatrooms-load SCENARIO [Locust flags]`: run one scenario headless and report.

Without --host it starts the reference server on a free port (development limits, a
window chosen for the scenario's rates and said in the output), runs Locust in a child
process (importing locust monkey-patches the importing process with gevent), writes
Locust's CSV and HTML plus a timeline CSV and PNG into the output folder, prints the
summary and stops everything. With --host it targets that server (--secret or
--token-cmd for its tokens). `--worker` runs a worker for a master elsewhere.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatrooms_load.options import DEFAULTS, SCENARIOS, add_options, workload
from chatrooms_load.ratelimits import plan_window

LIMITS_WINDOW_MS = 2000  # limits scenario: several windows fit a short run


def server_command(server_cmd: Sequence[str] | None) -> list[str]:
    """The command that starts the server: the reference server, or the caller's (any
    server that prints 'listening on http://HOST:PORT ' and answers GET
    /websocket/health, such as the yardsticks in the repository's benchmarks/)."""
    if server_cmd:
        return list(server_cmd)
    return [sys.executable, "-m", "reference_server"]


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """`command` under `taskset -c CPUS` (pin a process and its children), or as is."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def scenario_file(scenario: str) -> Path:
    return Path(__file__).with_name(f"{SCENARIOS[scenario]}.py")


def _has(argv: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in argv for f in flags)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatrooms-load",
        description="Run a Locust load scenario against the Chat Rooms API. Flags not "
        "listed here go to Locust (-u, -r, -t, --processes, --master, --worker, ...); "
        "see `locust --help` and the scenario options below.",
        epilog="scenarios: " + ", ".join(SCENARIOS) + ". `chatrooms-load capacity SCENARIO "
        "--vary NAME=V1,V2,...` steps a scenario up to the server's ceiling "
        "(chatrooms-load capacity --help).",
    )
    parser.add_argument("scenario", choices=list(SCENARIOS))
    parser.add_argument(
        "-H",
        "--host",
        default=None,
        help="target server URL; the nodes of one logical server comma-separated (users are "
        "spread over them); without it the reference server is started",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="without --host: start the reference server as a cluster of this many nodes "
        "sharing a Redis server of its own (needs redis-server on PATH and the [cluster] "
        "extra)",
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default: load-results/SCENARIO-TIMESTAMP)"
    )
    parser.add_argument(
        "--window-ms",
        type=int,
        default=None,
        help="WS_RATE_LIMIT_WINDOW_MS for the started reference server "
        "(default: chosen from the scenario's rates)",
    )
    parser.add_argument(
        "--server-cmd",
        default=None,
        metavar="CMD",
        help="without --host: start this server instead of the reference server (shell "
        "syntax; it must print 'listening on http://HOST:PORT ' and answer GET "
        "/websocket/health), e.g. 'python benchmarks/baseline_server.py'",
    )
    parser.add_argument(
        "--server-cpus",
        default=None,
        metavar="LIST",
        help="pin the started server to these CPUs (taskset -c LIST)",
    )
    parser.add_argument(
        "--generator-cpus",
        default=None,
        metavar="LIST",
        help="pin the Locust process(es) to these CPUs (taskset -c LIST)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started reference server",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["capacity"]:
        from chatrooms_load.capacity import main as capacity

        return capacity(argv[1:])
    args, locust_args = build_parser().parse_known_args(argv)
    scenario: str = args.scenario
    # -f FILE: a locustfile of one's own built on chatrooms_load.chat_user (the scenario
    # name still picks the defaults and the rate-limit plan).
    locustfile = (
        [] if _has(locust_args, "-f", "--locustfile") else ["-f", str(scenario_file(scenario))]
    )
    if _has(locust_args, "--worker"):
        # A worker takes host, users and options from its master.
        command = [sys.executable, "-m", "locust", *locustfile, *locust_args]
        return _run_locust(pinned(command, args.generator_cpus))

    defaults = DEFAULTS[scenario]
    extra: list[str] = []
    if not _has(locust_args, "-u", "--users"):
        extra += ["-u", str(defaults.users)]
    if not _has(locust_args, "-r", "--spawn-rate"):
        extra += ["-r", str(defaults.spawn_rate)]
    if not _has(locust_args, "-t", "--run-time"):
        extra += ["-t", defaults.run_time]
    if not _has(locust_args, "--only-summary", "--print-stats"):
        extra += ["--only-summary"]

    out = Path(args.out or f"load-results/{scenario}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    server = None
    if args.host is None:
        from reference_server.testing import RunningServer

        env, note = plan_server(scenario, locust_args, args.window_ms)
        for item in args.server_env:
            name, _, value = item.partition("=")
            env[name] = value
        if args.server_cmd is not None:
            note = "rate limits: those of the server started with --server-cmd"
        command = server_command(None if args.server_cmd is None else shlex.split(args.server_cmd))
        what = "reference server" if args.server_cmd is None else f"server ({args.server_cmd})"
        if args.nodes > 1:
            from reference_server.testing import RunningCluster

            server = RunningCluster(
                args.nodes, env, command=pinned(command, args.server_cpus) or None
            )
            host = ",".join(server.urls)
            what = f"{what}, a cluster of {args.nodes} nodes sharing {server.redis_url}"
        else:
            server = RunningServer(env, command=pinned(command, args.server_cpus))
            host = server.url
        print(f"chatrooms-load: {what} at {host} (development)", flush=True)
    else:
        host = args.host
        note = f"rate limits: those of {host.split(',')[0]} (read from its /websocket/health)"
    nodes = host.count(",") + 1
    target = f"{what if args.host is None else host}: {nodes} node{'s' if nodes > 1 else ''}"
    if nodes > 1:
        target += ", users spread over them"
    print(f"chatrooms-load: {target}", flush=True)
    if _has(locust_args, "--rate-note"):
        note = ""  # the caller said it
    if note:
        print(f"chatrooms-load: {note}", flush=True)
    # The summary says which server and how many nodes (D33).
    note = f"server {target}" + (f"; {note}" if note else "")

    command = [
        sys.executable,
        "-m",
        "locust",
        *locustfile,
        "--headless",
        "-H",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--summary-json",
        str(out / "summary.json"),
        "--summary-quiet",
        *(["--rate-note", note] if note else []),
        *extra,
        *locust_args,
    ]
    try:
        code = _run_locust(pinned(command, args.generator_cpus))
    finally:
        if server is not None:
            started = list(getattr(server, "nodes", [server]))
            server.stop()
            for n, node in enumerate(started):
                name = "server.log" if nodes == 1 else f"server-node{n}.log"
                if node.log_path.exists():
                    (out / name).write_text(node.log(), encoding="utf-8")
                    node.log_path.unlink(missing_ok=True)
    summary = _write_plot(out, scenario)
    if summary is not None:
        print(summary["text"], flush=True)
    else:
        print("chatrooms-load: Locust wrote no summary (see its output above)", flush=True)
    print(f"chatrooms-load: reports in {out}/ (exit code {code})", flush=True)
    return code


def plan_server(
    scenario: str, locust_args: list[str], window_ms: int | None = None
) -> tuple[dict[str, str], str]:
    """The reference server's environment for this run, and the rate-limit sentence to
    print: the default window when the scenario's senders stay under their allowance,
    else a shorter WS_RATE_LIMIT_WINDOW_MS (issue 5: "say which in the output")."""
    if window_ms is not None:
        note = f"rate limits: WS_RATE_LIMIT_WINDOW_MS={window_ms} (set with --window-ms)"
    elif scenario == "limits":
        window_ms = LIMITS_WINDOW_MS
        note = (
            f"rate limits: WS_RATE_LIMIT_WINDOW_MS={window_ms} so that a short run "
            "crosses several windows"
        )
    else:
        chat = argparse.ArgumentParser(add_help=False)
        add_options(chat)
        chat_options, _ = chat.parse_known_args(locust_args)
        window_ms, note = plan_window(workload(scenario, chat_options))
    env = {"NODE_ENV": "development"}
    if window_ms is not None:
        env["WS_RATE_LIMIT_WINDOW_MS"] = str(window_ms)
    return env, note


def _run_locust(command: list[str]) -> int:
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def _write_plot(out: Path, scenario: str) -> dict[str, Any] | None:
    """Timeline CSV and PNG from summary.json; returns the summary (None if absent)."""
    summary_path = out / "summary.json"
    if not summary_path.exists():
        return None
    from chatrooms_load.plot import plot_timeline, write_timeline_csv

    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    rows = summary["timeline"]
    write_timeline_csv(rows, out / "timeline.csv")
    try:
        plot_timeline(rows, out / "timeline.png", f"chatrooms-load {scenario}")
    except ImportError as error:  # matplotlib comes with the [load] extra
        print(f"chatrooms-load: no plot ({error})", file=sys.stderr)
    return summary


if __name__ == "__main__":
    sys.exit(main())
