"""`chatrooms-load capacity SCENARIO --vary NAME=V1,V2,...`: the highest load a server
sustains with fan-out p99 under a bound, found by running the scenario at each step.

    chatrooms-load capacity fan-out --vary message-rate=1,2,4,8 -u 200 -r 50 -t 20s \\
        --senders 5 --max-p99-ms 100
    chatrooms-load capacity steady-chat --host http://10.0.0.5:3001 --secret "$S" \\
        --vary u=100,200,400 --processes 4 -r 50 -t 30s
    chatrooms-load capacity fan-out --server reference \\
        --server 'bare=python benchmarks/baseline_server.py' --vary message-rate=1,2,4 ...

Each step is an ordinary chatrooms-load run (a fresh server unless --host; its reports
in OUT/SERVER/NAME-VALUE/). A step passes when the run had no error, its fan-out p99
is under --max-p99-ms and the generator was not saturated. The search stops at the
first step that does not pass:

  miss          an error, or p99 over the bound: the server's ceiling is the last pass
  inconclusive  the generator saturated (its own CPU, or deliveries dated late): it could
                not drive this step, so the step says nothing about the server; the
                ceiling is at least the last pass (add --processes N or workers). Or
                the only errors were 429: each user sent more than the server's rate
                limit allows, which says nothing about its throughput (spread the same
                load over more senders or users)

With several --server, the servers take turns at each step (on a shared machine, other
work then weighs on all of them alike) and each stops at its own first miss. It prints
one row per step and a result line per server, and writes capacity.json (every step's
summary, raw), capacity.csv and capacity.png (p50/p95/p99 against deliveries/s).
Flags it does not know go to each run (Locust's -u/-r/-t/--processes, the scenario's).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatrooms_load.options import SCENARIOS

REFERENCE = "reference"
RATE_LIMITED = "rate-limited: each user sent more than the server allows"


@dataclass(frozen=True)
class Step:
    server: str
    value: str
    attempt: int
    summary: dict[str, Any]  # the run's summary.json, without the per-second timeline
    returncode: int
    out: str

    @property
    def verdict(self) -> tuple[str, str]:
        """("pass" | "miss" | "inconclusive", why)."""
        return classify(self.summary, self.max_p99_ms)

    max_p99_ms: float = 100.0


def classify(summary: dict[str, Any], max_p99_ms: float) -> tuple[str, str]:
    """Pure: a step's verdict from its summary."""
    if not summary:
        return "miss", "the run wrote no summary"
    saturation = summary.get("saturation") or []
    if saturation:
        return "inconclusive", "generator saturated: " + "; ".join(saturation)
    reasons = []
    failures = int(summary.get("failures", 0))
    by_code = summary.get("errors_by_code", {})
    if failures:
        codes = ", ".join(f"{c}: {n}" for c, n in by_code.items())
        if set(by_code) == {"429"}:
            # The load broke the per-user allowance (D21): a rule, not a throughput limit.
            return "inconclusive", f"{RATE_LIMITED} ({failures} errors, {codes})"
        reasons.append(f"{failures} errors ({codes})")
    p99 = summary.get("fanout_p99_ms")
    if p99 is None:
        reasons.append("no delivery timed")
    elif p99 >= max_p99_ms:
        reasons.append(f"p99 {p99:.1f} ms >= {max_p99_ms:g} ms")
    if reasons:
        return "miss", "; ".join(reasons)
    return "pass", f"p99 {p99:.1f} ms < {max_p99_ms:g} ms"


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


HEADER = (
    f"{'server':>10} | {'step':>22} | {'deliv/s':>9} | {'p50 ms':>7} | {'p95 ms':>7} | "
    f"{'p99 ms':>7} | {'errors':>6} | {'gen CPU':>7} | verdict"
)


def format_row(step: Step, label: str) -> str:
    s = step.summary
    cpu = max((c["share"] for c in s.get("cpu", [])), default=None)
    verdict, why = step.verdict
    return (
        f"{step.server:>10} | {label:>22} | {s.get('deliveries_per_s', 0):9.0f} | "
        f"{_fmt(s.get('fanout_p50_ms')):>7} | {_fmt(s.get('fanout_p95_ms')):>7} | "
        f"{_fmt(s.get('fanout_p99_ms')):>7} | {s.get('failures', 0):>6} | "
        f"{_fmt(cpu, '.0%'):>7} | {verdict.upper() if verdict != 'pass' else 'pass'} ({why})"
    )


def result_line(server: str, steps: list[Step], flag: str, max_p99_ms: float) -> str:
    """The one-line result for one server (pure)."""
    final = [s for s in steps if s.attempt == max(t.attempt for t in steps if t.value == s.value)]
    passed = [s for s in final if s.verdict[0] == "pass"]
    stopped = next((s for s in final if s.verdict[0] != "pass"), None)
    best = max(passed, key=lambda s: float(s.summary.get("deliveries_per_s", 0)), default=None)
    if best is None:
        head = f"capacity ({server}): no step passed (p99 < {max_p99_ms:g} ms, no error)"
    else:
        s = best.summary
        head = (
            f"capacity ({server}): {s['deliveries_per_s']:,.0f} deliveries/s at {flag} "
            f"{best.value} (p50 {_fmt(s.get('fanout_p50_ms'))} / p95 "
            f"{_fmt(s.get('fanout_p95_ms'))} / p99 {_fmt(s.get('fanout_p99_ms'))} ms)"
        )
    if stopped is None:
        return head + "; every step passed: the ceiling is higher, add steps"
    verdict, why = stopped.verdict
    if verdict == "inconclusive":
        further = (
            "spread the load over more --senders or users"
            if why.startswith(RATE_LIMITED)
            else "measure further with --processes N or workers"
        )
        return (
            head + f"; {flag} {stopped.value} inconclusive ({why}): the server's ceiling is "
            f"at least this, {further}"
        )
    return head + f"; {flag} {stopped.value} missed ({why})"


def plot(results: dict[str, list[Step]], path: Path, title: str, max_p99_ms: float) -> None:
    """p50/p95/p99 against deliveries/s, one line style per server, steps as points;
    a step that did not pass is drawn hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    figure, axis = plt.subplots(figsize=(9, 5.5))
    styles = ["-", "--", ":", "-."]
    for index, (server, steps) in enumerate(results.items()):
        rows = sorted(
            ((float(s.summary.get("deliveries_per_s", 0)), s) for s in steps
             if s.summary.get("fanout_p50_ms") is not None),
            key=lambda row: row[0],
        )  # fmt: skip
        for key, label, color in (
            ("fanout_p50_ms", "p50", "tab:green"),
            ("fanout_p95_ms", "p95", "tab:orange"),
            ("fanout_p99_ms", "p99", "tab:red"),
        ):
            xs = [x for x, _ in rows]
            ys = [s.summary[key] for _, s in rows]
            axis.plot(xs, ys, styles[index % 4], color=color, label=f"{server} {label}")
            for x, s in rows:
                ok = s.verdict[0] == "pass"
                axis.plot(
                    [x], [s.summary[key]], "o", color=color, fillstyle="full" if ok else "none"
                )
    axis.axhline(max_p99_ms, color="grey", linewidth=0.8, linestyle="--")
    axis.set_xlabel("deliveries/s (steady part of each step)")
    axis.set_ylabel("fan-out latency (ms)")
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_title(title)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _server_option(spec: str) -> tuple[str, list[str]]:
    name, sep, command = spec.partition("=")
    if not sep:
        if spec != REFERENCE:
            raise SystemExit(f"--server wants NAME=COMMAND or '{REFERENCE}', got {spec!r}")
        return REFERENCE, []
    return name, ["--server-cmd", command]


def run_step(
    scenario: str, server_args: list[str], run_args: list[str], out: Path, timeout_s: float
) -> tuple[dict[str, Any], int]:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "output.log").open("w", encoding="utf-8") as log:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "chatrooms_load.run", scenario, *server_args,
                 "--out", str(out), *run_args],
                stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
            )  # fmt: skip
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = -1
    path = out / "summary.json"
    if not path.exists():
        return {}, code
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary.pop("timeline", None)
    for bulky in ("probes", "membership", "sent_deliveries", "text"):
        summary.pop(bulky, None)
    return summary, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chatrooms-load capacity",
        description="Step a scenario up until the server misses: the highest deliveries/s "
        "with fan-out p99 under --max-p99-ms, no error and an unsaturated generator.",
    )
    parser.add_argument("scenario", choices=list(SCENARIOS))
    parser.add_argument(
        "--vary",
        required=True,
        metavar="NAME=V1,V2,...",
        help="the option to step through, e.g. message-rate=1,2,4 or u=50,100,200",
    )
    parser.add_argument("--max-p99-ms", type=float, default=100.0)
    parser.add_argument("-H", "--host", default=None, help="the server to measure (else started)")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=CMD",
        help=f"a server to start for each step ('{REFERENCE}': the reference server, the "
        "default); give several to measure them side by side, taking turns",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=1,
        help="run a step that did not pass up to this many times (shared machines)",
    )
    parser.add_argument("--step-timeout", type=float, default=900.0, help="seconds per step")
    parser.add_argument("--out", default=None, help="default: load-results/capacity-SCENARIO-TIME")
    args, run_args = parser.parse_known_args(argv)
    name, _, values = args.vary.partition("=")
    if not name or not values:
        parser.error("--vary wants NAME=V1,V2,...")
    flag = f"-{name}" if len(name) == 1 else f"--{name}"
    out = Path(
        args.out or f"load-results/capacity-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    out.mkdir(parents=True, exist_ok=True)
    if args.host is not None:
        servers = {args.host: ["--host", args.host]}
    else:
        servers = dict(_server_option(spec) for spec in (args.server or [REFERENCE]))
    results: dict[str, list[Step]] = {server: [] for server in servers}
    stopped: set[str] = set()
    print(f"capacity {args.scenario}: {' '.join(run_args)}; steps {flag} {values}", flush=True)
    print(HEADER, flush=True)
    for value in values.split(","):
        for server, server_args in servers.items():
            if server in stopped:
                continue
            for attempt in range(1, args.attempts + 1):
                step_out = out / _safe(server) / f"{name}-{value}-{attempt}"
                summary, code = run_step(
                    args.scenario,
                    server_args,
                    [*run_args, flag, value],
                    step_out,
                    args.step_timeout,
                )
                step = Step(server, value, attempt, summary, code, str(step_out), args.max_p99_ms)
                results[server].append(step)
                print(format_row(step, f"{flag} {value} #{attempt}"), flush=True)
                if step.verdict[0] == "pass":
                    break
            if step.verdict[0] != "pass":
                stopped.add(server)
        if len(stopped) == len(servers):
            break
    lines = [result_line(server, steps, flag, args.max_p99_ms) for server, steps in results.items()]
    for line in lines:
        print(line, flush=True)
    raw = {
        "command": ["chatrooms-load", "capacity", *(argv if argv is not None else sys.argv[1:])],
        "scenario": args.scenario,
        "vary": args.vary,
        "max_p99_ms": args.max_p99_ms,
        "results": lines,
        "steps": {
            server: [
                {"value": s.value, "attempt": s.attempt, "verdict": s.verdict[0],
                 "why": s.verdict[1], "returncode": s.returncode, "summary": s.summary}
                for s in steps
            ]
            for server, steps in results.items()
        },
    }  # fmt: skip
    (out / "capacity.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    _write_csv(results, out / "capacity.csv")
    try:
        plot(results, out / "capacity.png", f"chatrooms-load capacity {args.scenario}",
             args.max_p99_ms)  # fmt: skip
    except ImportError as error:
        print(f"capacity: no plot ({error})", file=sys.stderr)
    print(f"capacity: reports in {out}/ (capacity.json, capacity.csv, capacity.png)", flush=True)
    return 0 if all(any(s.verdict[0] == "pass" for s in steps) for steps in results.values()) else 1


def _safe(server: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in server)


def _write_csv(results: dict[str, list[Step]], path: Path) -> None:
    lines = ["server,step,attempt,deliveries_per_s,p50_ms,p95_ms,p99_ms,failures,gen_cpu,verdict"]
    for server, steps in results.items():
        for s in steps:
            m = s.summary
            cpu = max((c["share"] for c in m.get("cpu", [])), default="")
            cells = [
                server,
                s.value,
                s.attempt,
                m.get("deliveries_per_s", ""),
                m.get("fanout_p50_ms", ""),
                m.get("fanout_p95_ms", ""),
                m.get("fanout_p99_ms", ""),
                m.get("failures", ""),
                cpu,
                s.verdict[0],
            ]
            lines.append(",".join(shlex.quote(str("" if c is None else c)) for c in cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
