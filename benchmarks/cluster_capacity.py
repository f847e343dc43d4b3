"""Several nodes, what they cost (issue 12): one in-memory node, one Redis-backed node and
two Redis-backed nodes, the same Locust scenarios at the same offered loads, in one run.

    python benchmarks/cluster_capacity.py table --repeat 2 --duration 20     # the table
    python benchmarks/cluster_capacity.py costs      # Redis round-trips and µs per event
    python benchmarks/cluster_capacity.py profile    # cProfile of one node of two

`table`: for each repetition, each scenario and each step of its ladder, the three
configurations take turns (the order rotates by repetition, so drift on a shared machine
hits all alike). Each measurement starts the server fresh on free loopback ports: the
node(s), and for the Redis configurations a fresh `redis-server` (no persistence), all
pinned to core 0 (`taskset`), and runs `chatrooms-load SCENARIO --host URL[,URL]` with
the Locust process pinned to core 1. Users are spread over the nodes by the harness
(chatrooms_load.chat_user.node_of: each room's members over every node). Recorded per
measurement, over the Locust summary's steady window: deliveries/s, fan-out p50/p95/p99,
errors, the CPU seconds of the node processes and of redis-server (psutil, sampled every
0.5 s) per 1,000 deliveries, and `INFO commandstats` deltas (calls per message sent).
Raw JSON and the Markdown table with ratios to the in-memory node of the same repetition
go to benchmarks/results/cluster/.

`costs`: no load, one event at a time (the project's own gevent client, 20 users in one
room): for each event kind (connect, joinRoom, sendMessage, typing on / refresh / off,
leaveRoom, disconnect), the Redis round-trips each event makes, the commands (EVALSHA by
script name, the commands inside each script), Redis's own execution time (SLOWLOG with
a 0 µs threshold) and the PUBLISHes of the client manager; node CPU per event (psutil)
and the response time, with the in-memory node for comparison.

`profile`: the two-node Redis configuration under steady-chat with node 0 run under
cProfile; its own time grouped by layer (redis-py, the manager's pub/sub, python-socketio
/ engineio, uvicorn / websockets, asyncio, reference_server), built-ins charged to their
callers' layer, and the calls per message of the Redis client's entry points.

`--source DIR` imports reference_server from a snapshot (`git archive HEAD
reference_server | tar -x -C DIR`), so that a tree others are editing does not change the
server under test. A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "cluster"
SERVER_CORE = "0"
GENERATOR_CORE = "1"
# The limits out of the way: 60 messages per second per user is far above every rate here.
WINDOW_MS = "1000"
SOURCE: Path | None = None

# name -> (Redis-backed, nodes)
CONFIGS: dict[str, tuple[bool, int]] = {
    "memory-1": (False, 1),
    "redis-1": (True, 1),
    "redis-2": (True, 2),
}
# Scenario -> fixed Locust options, members per room (deliveries per message), the ladder
# of --message-rate steps. steady-chat uses 9 rooms of 20 (180 users): the published
# figures were measured when the harness put user n on node n mod nodes, which spread a
# room over two nodes only for an odd number of rooms (node_of now does for any).
SCENARIOS: dict[str, tuple[list[str], int, list[str]]] = {
    "steady-chat": (["-u", "180", "-r", "60", "--rooms", "9"], 20, ["0.75", "2.25"]),
    "fan-out": (["-u", "200", "-r", "60", "--senders", "5"], 200, ["4", "12"]),
}


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line), ""
    )
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    versions = {}
    for package in ("python-socketio", "python-engineio", "redis", "uvicorn", "locust"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": redis_version,
        "packages": versions,
    }


REVISION = "HEAD"


def source_commit() -> str:
    """The commit measured (the snapshot's), or the working tree's HEAD + ' (working tree)'."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", REVISION or "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("" if REVISION else " (working tree)")


def snapshot(revision: str) -> Path:
    """reference_server, chatrooms_load and chatrooms_fixtures as of `revision`, in a
    fresh directory for PYTHONPATH: a tree others are editing does not change the run."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = Path(f"/tmp/cluster-capacity-src-{commit}")
    if not (target / "chatrooms_load").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "reference_server", "load", "fixtures"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        (target / "load").rename(target / "chatrooms_load")
        (target / "fixtures").rename(target / "chatrooms_fixtures")
    return target


def node_env(redis_url: str | None) -> dict[str, str]:
    env = {"NODE_ENV": "development", "WS_RATE_LIMIT_WINDOW_MS": WINDOW_MS}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    return env


PROFILED = """
import cProfile, runpy, sys, time
profile = cProfile.Profile(time.process_time)
sys.argv = ["reference_server"]
profile.enable()
try:
    runpy.run_module("reference_server", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""


class Server:
    """The nodes of one configuration (and its own redis-server), pinned to SERVER_CORE."""

    def __init__(self, config: str, profile_to: Path | None = None) -> None:
        from reference_server.testing import RedisServer, RunningServer

        redis_backed, count = CONFIGS[config]
        self.config = config
        self.redis: Any = None
        self.nodes: list[Any] = []
        try:
            if redis_backed:
                self.redis = RedisServer()
                # Every thread of redis-server (its I/O and background threads) on core 0.
                subprocess.run(
                    ["taskset", "-a", "-cp", SERVER_CORE, str(self.redis.process.pid)],
                    capture_output=True,
                    check=True,
                )
            url = self.redis.url if self.redis is not None else None
            for n in range(count):
                # -P: the current directory must not shadow the snapshot on PYTHONPATH.
                argv = ["taskset", "-c", SERVER_CORE, sys.executable, "-P"]
                if profile_to is not None and n == 0:
                    # cProfile on the CPU clock: `-m cProfile` times wall clock, which
                    # charges the event loop's idle waits to asyncio.
                    argv += ["-c", PROFILED.format(out=str(profile_to))]
                else:
                    argv += ["-m", "reference_server"]
                self.nodes.append(RunningServer(node_env(url), command=argv))
        except BaseException:
            self.stop()
            raise

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def pids(self) -> dict[str, int]:
        pids = {f"node{n}": node.process.pid for n, node in enumerate(self.nodes)}
        if self.redis is not None:
            pids["redis"] = self.redis.process.pid
        return pids

    def redis_client(self) -> Any:
        import redis

        return redis.Redis(port=self.redis.port, decode_responses=True)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(timeout_s=30)
            node.log_path.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.stop()


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a process, from /proc/PID/task/*/schedstat (ns, where
    psutil's figures come in 10 ms ticks)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return total / 1e9


class Sampler(threading.Thread):
    """CPU seconds of each server process (and Redis's commandstats) every `every_s`."""

    def __init__(self, server: Server, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pids = server.pids()
        self.client = server.redis_client() if server.redis is not None else None
        self.every_s = every_s
        self.samples: list[tuple[float, dict[str, float], dict[str, int]]] = []
        self.halt = threading.Event()

    def sample(self) -> None:
        cpu = {}
        for name, pid in self.pids.items():
            cpu[name] = cpu_seconds(pid)
        calls: dict[str, int] = {}
        if self.client is not None:
            try:
                for key, value in self.client.info("commandstats").items():
                    calls[key.removeprefix("cmdstat_")] = int(value["calls"])
            except Exception:  # noqa: BLE001 - a lost sample, not a failed run
                pass
        self.samples.append((time.time(), cpu, calls))

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.sample()

    def window(
        self, start: float, end: float
    ) -> tuple[float, dict[str, float], dict[str, int]] | None:
        """Seconds, CPU seconds per process and calls per command between the samples
        nearest to start and end."""
        if len(self.samples) < 2:
            return None
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - end))
        if last[0] <= first[0]:
            return None
        cpu = {name: last[1][name] - first[1][name] for name in last[1]}
        calls = {k: v - first[2].get(k, 0) for k, v in last[2].items() if v - first[2].get(k, 0)}
        return last[0] - first[0], cpu, calls


def run_load(scenario: str, rate: str, urls: list[str], duration: int, out: Path) -> dict[str, Any]:
    fixed, _, _ = SCENARIOS[scenario]
    argv = [sys.executable, "-P", "-m", "chatrooms_load.run", scenario, "--host", ",".join(urls)]
    argv += ["--out", str(out), "--generator-cpus", GENERATOR_CORE, *fixed]
    argv += ["--message-rate", rate, "-t", f"{duration}s", "--exit-code-on-error", "0"]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration + 180,
        cwd=SOURCE or ROOT,
        env={**os.environ, **({"PYTHONPATH": str(SOURCE)} if SOURCE else {})},
    )
    summary_path = out / "summary.json"
    if not summary_path.exists():
        raise RuntimeError(
            f"no summary ({done.returncode}): {done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary


def measure(config: str, scenario: str, rate: str, duration: int, scratch: Path) -> dict[str, Any]:
    server = Server(config)
    try:
        sampler = Sampler(server)
        sampler.sample()
        sampler.start()
        out = scratch / f"{config}-{scenario}-{rate}-{time.time_ns()}"
        try:
            summary = run_load(scenario, rate, server.urls, duration, out)
        finally:
            sampler.halt.set()
            sampler.join()
    finally:
        server.stop()
    shutil.rmtree(out, ignore_errors=True)
    members = SCENARIOS[scenario][1]
    rate_per_s = summary["deliveries_per_s"]
    figure: dict[str, Any] = {
        "deliveries_per_s": round(rate_per_s, 1),
        "p50_ms": summary["fanout_p50_ms"],
        "p95_ms": summary["fanout_p95_ms"],
        "p99_ms": summary["fanout_p99_ms"],
        "failures": summary["failures"],
        "errors_by_code": summary["errors_by_code"],
        "generator_cpu": max((c["share"] for c in summary["cpu"]), default=None),
        "saturation": summary["saturation"],
        "steady": [summary.get("steady_from"), summary.get("steady_to")],
        # Per second: [epoch s, deliveries, p50, p95, p99 ms]; the ramp is visible here.
        "timeline": summary["timeline"],
    }
    window = None
    if summary.get("steady_from") is not None and summary.get("steady_to") is not None:
        window = sampler.window(summary["steady_from"], summary["steady_to"])
    if window is not None and rate_per_s > 0:
        seconds, cpu, calls = window
        per_k = 1000.0 / (rate_per_s * seconds)
        nodes = sum(v for k, v in cpu.items() if k.startswith("node"))
        figure["cpu_s"] = {k: round(v, 3) for k, v in cpu.items()}
        figure["window_s"] = round(seconds, 2)
        figure["server_cpu_ms_per_1k"] = round((nodes + cpu.get("redis", 0.0)) * per_k * 1000, 1)
        figure["nodes_cpu_ms_per_1k"] = round(nodes * per_k * 1000, 1)
        figure["redis_cpu_ms_per_1k"] = round(cpu.get("redis", 0.0) * per_k * 1000, 1)
        figure["server_cores"] = round((nodes + cpu.get("redis", 0.0)) / seconds, 3)
        figure["redis_cores"] = round(cpu.get("redis", 0.0) / seconds, 3)
        if calls:
            messages = rate_per_s * seconds / members
            figure["messages_in_window"] = round(messages)
            figure["calls_per_message"] = {
                k: round(v / messages, 2)
                for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                if k != "info"
            }
    print(
        f"  {scenario:>11} rate {rate:>5} {config:>8}: {figure['deliveries_per_s']:>9,.0f}/s "
        f"p50/p95/p99 {figure['p50_ms']}/{figure['p95_ms']}/{figure['p99_ms']} ms, "
        f"failures {figure['failures']}, server {figure.get('server_cpu_ms_per_1k')} "
        f"CPU-ms/1k (redis {figure.get('redis_cpu_ms_per_1k')})",
        flush=True,
    )
    return {"config": config, "scenario": scenario, "rate": rate, "figure": figure}


# -- the table ------------------------------------------------------------------------


def _med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def settled_p99(figure: dict[str, Any]) -> tuple[float | None, float | None]:
    """The per-second p99 over the steady window without its first second (median, max):
    the harness counts the second after the last user spawned as steady, and in a Redis
    node that second still holds the tail of the join storm (each joinRoom reads every
    member's name, one round-trip each)."""
    start, end = figure.get("steady") or (None, None)
    if start is None or end is None:
        return None, None
    p99 = [row[4] for row in figure.get("timeline", []) if start + 1 <= row[0] < end and row[4]]
    return (statistics.median(p99), max(p99)) if p99 else (None, None)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario, rate and configuration: medians over repetitions, and the median of
    the per-repetition ratios to memory-1."""
    ok = [r for r in runs if "error" not in r]
    rows = []
    keys = dict.fromkeys((r["scenario"], r["rate"]) for r in ok)
    for scenario, rate in keys:
        of = [r for r in ok if r["scenario"] == scenario and r["rate"] == rate]
        base = {r["rep"]: r["figure"] for r in of if r["config"] == "memory-1"}
        for config in CONFIGS:
            mine = [r for r in of if r["config"] == config]
            if not mine:
                continue
            fig = [r["figure"] for r in mine]
            row: dict[str, Any] = {"scenario": scenario, "rate": rate, "config": config}
            row["n"] = len(mine)
            for key in (
                "deliveries_per_s",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "server_cpu_ms_per_1k",
                "nodes_cpu_ms_per_1k",
                "redis_cpu_ms_per_1k",
                "server_cores",
                "redis_cores",
            ):
                row[key] = _med([f.get(key) for f in fig])
            settled = [settled_p99(f) for f in fig]
            row["settled_p99_ms"] = _med([x[0] for x in settled])
            row["settled_p99_max_ms"] = max((x[1] for x in settled if x[1]), default=None)
            row["failures"] = sum(f["failures"] for f in fig)
            row["saturated"] = sum(1 for f in fig if f["saturation"])
            ratios: dict[str, float | None] = {}
            for key in ("deliveries_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_1k"):
                pairs = [
                    r["figure"].get(key) / base[r["rep"]][key]
                    for r in mine
                    if r["rep"] in base
                    and r["figure"].get(key) is not None
                    and base[r["rep"]].get(key)
                ]
                ratios[key] = round(statistics.median(pairs), 2) if pairs else None
            row["ratio"] = ratios
            calls = [f.get("calls_per_message") for f in fig if f.get("calls_per_message")]
            if calls:
                names = dict.fromkeys(k for c in calls for k in c)
                row["calls_per_message"] = {k: _med([c.get(k, 0) for c in calls]) for k in names}
            rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    def num(value: float | None, fmt: str = ",.0f") -> str:
        return "-" if value is None else format(value, fmt)

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"×{value:.2f}"

    lines = [
        "| scenario, msg/s per sender | nodes × store | deliveries/s | p50 / p95 / p99 ms | "
        "p99 per second after the first steady one, median (max) ms | "
        "server CPU ms per 1,000 deliveries (of it Redis) | server cores busy | "
        "vs 1 × memory: deliveries/s, CPU per delivery, p50, p99 | failures |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | --- | ---: |",
    ]
    for row in rows:
        r = row["ratio"]
        base = row["config"] == "memory-1"
        nodes = CONFIGS[row["config"]][1]
        store = "Redis" if CONFIGS[row["config"]][0] else "memory"
        lines.append(
            f"| {row['scenario']} {row['rate']} | {nodes} × {store} | "
            f"{num(row['deliveries_per_s'])} | {num(row['p50_ms'], '.1f')} / "
            f"{num(row['p95_ms'], '.1f')} / {num(row['p99_ms'], '.1f')} | "
            f"{num(row.get('settled_p99_ms'), '.0f')} "
            f"({num(row.get('settled_p99_max_ms'), '.0f')}) | "
            f"{num(row['server_cpu_ms_per_1k'], '.0f')} ({num(row['redis_cpu_ms_per_1k'], '.0f')})"
            f" | {num(row['server_cores'], '.2f')} | "
            + ("1 (base)" if base else f"{ratio(r['deliveries_per_s'])}, "
               f"{ratio(r['server_cpu_ms_per_1k'])}, {ratio(r['p50_ms'])}, {ratio(r['p99_ms'])}")
            + f" | {row['failures']} |"
        )  # fmt: skip
    return "\n".join(lines)


def cmd_table(options: argparse.Namespace) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = options.out or RESULTS / f"table-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(options.scratch or f"/tmp/cluster-capacity-{stamp}")
    scratch.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": "python benchmarks/cluster_capacity.py " + " ".join(sys.argv[1:]),
        "commit": source_commit(),
        "machine": machine(),
        "configs": {k: {"redis": v[0], "nodes": v[1]} for k, v in CONFIGS.items()},
        "scenarios": {k: {"options": v[0], "members": v[1]} for k, v in SCENARIOS.items()},
        "duration_s": options.duration,
        "pinning": {"server_and_redis": SERVER_CORE, "generator": GENERATOR_CORE},
    }
    scenarios = options.scenarios.split(",")
    runs: list[dict[str, Any]] = []
    order = list(CONFIGS)
    for rep in range(1, options.repeat + 1):
        print(f"repetition {rep} of {options.repeat}", flush=True)
        for scenario in scenarios:
            rates = options.rates.get(scenario) or SCENARIOS[scenario][2]
            for step, rate in enumerate(rates):
                # Rotate who goes first, by repetition and step.
                shift = (rep - 1 + step) % len(order)
                for config in order[shift:] + order[:shift]:
                    try:
                        got = measure(config, scenario, rate, options.duration, scratch)
                        runs.append({"rep": rep, **got})
                    except (RuntimeError, OSError, subprocess.SubprocessError) as failure:
                        print(f"  {scenario} {rate} {config}: FAILED {failure}", flush=True)
                        runs.append(
                            {"rep": rep, "config": config, "scenario": scenario, "rate": rate}
                            | {"error": str(failure)}
                        )
                    out.write_text(json.dumps({**record, "runs": runs}, indent=1) + "\n")
    rows = summarize(runs)
    text = table(rows)
    print("\n" + text)
    out.write_text(json.dumps({**record, "summary": rows, "runs": runs}, indent=1) + "\n")
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(f"\nraw results: {out}")
    return 0


# -- costs per event ------------------------------------------------------------------


def script_names() -> dict[str, str]:
    """EVALSHA digest -> the name of the script in reference_server.cluster (a script may
    be registered with another of the module's Lua strings in front, e.g. shared helpers)."""
    from reference_server import cluster

    scripts = {
        name.strip("_").lower(): text
        for name, text in vars(cluster).items()
        if name.startswith("_") and isinstance(text, str) and "redis.call" in text
    }
    names = {}
    for prefix in ["", *scripts.values()]:
        for name, text in scripts.items():
            names[hashlib.sha1((prefix + text).encode()).hexdigest()] = name
    return names


BACKGROUND = (":nodes", ":node:", ":sweep:")


def _label(words: list[str], names: dict[str, str]) -> str:
    name = words[0].upper()
    if name == "EVALSHA" and len(words) > 1:
        return "EVALSHA " + names.get(words[1], words[1][:8])
    return name


def from_monitor(lines: list[dict[str, Any]], names: dict[str, str], me: str) -> dict[str, Any]:
    """Round-trips and commands from MONITOR's lines: a MULTI ... EXEC block is one
    round-trip, the Lua client's lines are the commands inside the script before them
    (MONITOR shows a script's EVALSHA first, then its commands); the leases and sweeps of
    the nodes (D34) and this script's own commands are left out."""
    trips: Counter[str] = Counter()
    commands: Counter[str] = Counter()
    inner: Counter[str] = Counter()
    blocks: dict[str, list[list[str]]] = {}
    script = ""
    for line in lines:
        words = str(line["command"]).split()
        if not words:
            continue
        if line["client_type"] == "lua":
            if script:
                inner[f"{script}: {words[0].upper()}"] += 1
            continue
        client = f"{line['client_address']}:{line['client_port']}"
        script = ""
        if client == me:
            continue
        name = words[0].upper()
        if name == "MULTI":
            blocks[client] = []
            continue
        if client in blocks:
            if name != "EXEC":
                blocks[client].append(words)
                continue
            block = blocks.pop(client)
            if any(m in w for words_ in block for w in words_[1:] for m in BACKGROUND):
                continue
            trips["MULTI/EXEC"] += 1
            commands.update(_label(w, names) for w in block)
            continue
        if any(m in w for w in words[1:] for m in BACKGROUND):
            continue
        label = _label(words, names)
        if name == "EVALSHA":
            script = label
        trips[label] += 1
        commands[label] += 1
    return {"round_trips": dict(trips), "commands": dict(commands), "inner": dict(inner)}


def from_slowlog(entries: list[Any], names: dict[str, str], me: str) -> dict[str, int]:
    """Redis's own execution µs per command (SLOWLOG at a 0 µs threshold; a script's
    entry includes the commands inside it, which are left out here)."""
    usec: Counter[str] = Counter()
    for entry in entries:
        args, client = [str(a) for a in entry[3]], str(entry[4])
        if client in ("?:0", me) or any(m in a for a in args[1:] for m in BACKGROUND):
            continue
        usec[_label(args, names)] += int(entry[2])
    return dict(usec)


def cmd_costs(options: argparse.Namespace) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = options.out or RESULTS / f"costs-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": "python benchmarks/cluster_capacity.py " + " ".join(sys.argv[1:]),
        "commit": source_commit(),
        "machine": machine(),
        "users": options.users,
        "messages_per_user": options.messages,
        "results": {},
    }
    for config in CONFIGS:
        server = Server(config)
        try:
            argv = [sys.executable, "-P", str(Path(__file__).resolve()), "_drive"]
            argv += ["--urls", ",".join(server.urls), "--users", str(options.users)]
            argv += ["--messages", str(options.messages)]
            argv += ["--pids", ",".join(str(p) for p in server.pids().values())]
            record.setdefault("processes", {})[config] = list(server.pids())
            if server.redis is not None:
                argv += ["--redis-port", str(server.redis.port)]
            env = {**os.environ, **({"PYTHONPATH": str(SOURCE)} if SOURCE else {})}
            done = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=300, env=env
            )
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
            record["results"][config] = json.loads(done.stdout)
        finally:
            server.stop()
        print(f"{config}:", flush=True)
        for phase, figures in record["results"][config].items():
            print(f"  {phase:>15}: {_costs_line(figures)}", flush=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
    text = costs_table(record)
    print("\n" + text)
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(f"\nraw results: {out}")
    return 0


def _costs_line(f: dict[str, Any]) -> str:
    parts = [f"{f['events']} events", f"reply p50 {f['reply_p50_ms']:.2f} ms"]
    parts.append(f"server CPU {f['server_cpu_us_per_event']:.0f} µs/event")
    if "round_trips_per_event" in f:
        parts.append(f"{f['round_trips_per_event']:.2f} round-trips")
        parts.append(f"redis exec {f['redis_exec_us_per_event']:.0f} µs")
        parts.append(f"publish {f['publish_per_event']:.2f}")
    return ", ".join(parts)


def costs_table(record: dict[str, Any]) -> str:
    results = record["results"]
    lines = [
        "| event | round-trips to Redis (what) | Redis exec µs | PUBLISH (2 nodes) | "
        "server CPU µs, memory / Redis 1 / Redis 2 nodes | of it 1 Redis node: node / "
        "redis-server | reply p50 ms, memory / Redis 1 / Redis 2 |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for phase in results.get("redis-1", {}):
        one = results["redis-1"][phase]
        two = results.get("redis-2", {}).get(phase, {})
        mem = results.get("memory-1", {}).get(phase, {})
        kinds = sorted(one["round_trips_by_kind"].items(), key=lambda kv: -kv[1])
        what = ", ".join(f"{v:g} {k}" for k, v in kinds)
        cpu = " / ".join(f"{x.get('server_cpu_us_per_event', 0):.0f}" for x in (mem, one, two))
        reply = " / ".join(f"{x.get('reply_p50_ms', 0):.2f}" for x in (mem, one, two))
        split = " / ".join(f"{x:.0f}" for x in one.get("cpu_us_per_event_by_process", []))
        lines.append(
            f"| {phase} | {one['round_trips_per_event']:.2f} ({what}) | "
            f"{one['redis_exec_us_per_event']:.0f} | {two.get('publish_per_event', 0):.2f} | "
            f"{cpu} | {split} | {reply} |"
        )
    return "\n".join(lines)


class Monitor:
    """MONITOR on its own connection, in a greenlet (the driver is gevent-patched)."""

    MARK = "cluster-capacity-monitor-stop"

    def __init__(self, port: int) -> None:
        import gevent
        import gevent.event
        import redis

        self.lines: list[dict[str, Any]] = []
        self.client = redis.Redis(port=port, decode_responses=True)
        self.started = gevent.event.Event()
        self.task = gevent.spawn(self._listen)
        self.started.wait(5)

    def _listen(self) -> None:
        with self.client.monitor() as monitor:
            self.started.set()
            for line in monitor.listen():
                if self.MARK in str(line["command"]):
                    return
                self.lines.append(line)

    def stop(self, client: Any) -> list[dict[str, Any]]:
        client.echo(self.MARK)
        self.task.join(10)
        self.client.close()
        return self.lines


def drive(options: argparse.Namespace) -> int:
    """The `costs` client (a child process, gevent-patched): phases of one event kind."""
    from gevent import monkey

    monkey.patch_all()
    import redis

    from chatrooms_fixtures.tokens import mint
    from chatrooms_load.client import ChatConnection

    urls = options.urls.split(",")
    pids = [int(p) for p in options.pids.split(",")]
    client = None
    names: dict[str, str] = {}
    me = ""
    if options.redis_port:
        client = redis.Redis(port=options.redis_port, decode_responses=True)
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 1_000_000)
        names = script_names()
        me = str(client.client_info()["addr"])
    users = [f"bench-{n}" for n in range(options.users)]
    conns = [
        ChatConnection(urls[n % len(urls)], token=mint(user, user)) for n, user in enumerate(users)
    ]
    room = {"roomId": "cost-room"}

    def cpu() -> list[float]:
        return [cpu_seconds(p) for p in pids]

    def events(kind: str) -> list[Any]:
        if kind == "connect":
            return [c.connect for c in conns]
        if kind == "disconnect":
            return [c.close for c in conns]
        payload: dict[str, Any] = {
            "joinRoom": room,
            "leaveRoom": room,
            "sendMessage": {**room, "content": "cost"},
            "typing on": {**room, "isTyping": True},
            "typing refresh": {**room, "isTyping": True},
            "typing off": {**room, "isTyping": False},
        }[kind]
        name = kind.split()[0]
        times = options.messages if kind == "sendMessage" else 1
        return [lambda c=c: c.call(name, payload) for _ in range(times) for c in conns]

    results: dict[str, Any] = {}
    phases = ["connect", "joinRoom", "sendMessage", "typing on", "typing refresh", "typing off"]
    for kind in [*phases, "leaveRoom", "disconnect"]:
        todo = events(kind)
        time.sleep(0.3)
        watcher = None
        if client is not None:
            client.slowlog_reset()
            watcher = Monitor(options.redis_port)
        before = cpu()
        replies = []
        for call in todo:
            started = time.perf_counter()
            answer = call()
            replies.append((time.perf_counter() - started) * 1000)
            status = getattr(answer, "status", None)
            if status is not None:
                raise RuntimeError(f"{kind}: {answer.error}")
        time.sleep(0.3)  # the emits to other nodes and their replies settle
        spent = [after - was for after, was in zip(cpu(), before, strict=True)]
        figures: dict[str, Any] = {
            "events": len(todo),
            "reply_p50_ms": statistics.median(replies),
            "server_cpu_us_per_event": sum(spent) * 1e6 / len(todo),
            # node0[, node1][, redis]: the order of --pids
            "cpu_us_per_event_by_process": [round(x * 1e6 / len(todo), 1) for x in spent],
        }
        if client is not None and watcher is not None:
            lines = watcher.stop(client)
            slowlog = client.execute_command("SLOWLOG", "GET", "-1")
            got = from_monitor(lines, names, me)
            usec = from_slowlog(slowlog, names, me)
            n = len(todo)
            figures["round_trips_per_event"] = sum(got["round_trips"].values()) / n
            figures["round_trips_by_kind"] = {
                k: round(v / n, 2) for k, v in got["round_trips"].items()
            }
            figures["commands_per_event"] = {k: round(v / n, 2) for k, v in got["commands"].items()}
            figures["inside_scripts_per_event"] = {
                k: round(v / n, 2) for k, v in got["inner"].items()
            }
            figures["redis_exec_us_per_event"] = sum(usec.values()) / n
            figures["redis_exec_us_by_command"] = {k: round(v / n, 1) for k, v in usec.items()}
            figures["publish_per_event"] = got["commands"].get("PUBLISH", 0) / n
        results[kind] = figures
    if client is not None:
        client.config_set("slowlog-log-slower-than", 10_000)
    print(json.dumps(results))
    return 0


# -- profile --------------------------------------------------------------------------

LAYERS = (
    ("redis-py client", ("/redis/",)),
    # redis-py's connections are asyncio streams with asyncio.timeout() around each read
    # (uvicorn and engineio use neither).
    ("redis-py socket I/O (asyncio streams, timeouts)", ("asyncio/streams.py", "timeouts.py")),
    ("manager pub/sub (AsyncRedisManager)", ("async_redis_manager", "async_pubsub_manager")),
    ("python-socketio / engineio", ("/socketio/", "/engineio/")),
    ("uvicorn / websockets", ("/uvicorn/", "/websockets/", "/h11/", "/httptools/")),
    ("reference_server", ("/reference_server/",)),
    ("asyncio event loop", ("/asyncio/", "/uvloop/", "selectors")),
)


REDIS_ENTRY_POINTS = {
    "execute_command",
    "execute",
    "__call__",
    "read_response",
    "send_packed_command",
    "get_connection",
    "release",
    "_execute_transaction",
    "parse_response",
}
HANDLERS = {"send_message", "join_room", "typing"}


def layer_of(filename: str) -> str | None:
    for layer, marks in LAYERS:
        if any(mark in filename for mark in marks):
            return layer
    return None


def profile_split(path: Path, messages: float, deliveries: float) -> dict[str, Any]:
    import pstats

    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    for (filename, _, _), (_, _, tt, _, callers) in stats.items():
        layer = layer_of(filename)
        if layer is None and filename == "~" and callers:
            # A built-in (socket send, json, pickle): charged to its callers' layers.
            for (cfile, _, cname), (_, _, ctt, _) in callers.items():
                own[layer_of(cfile) or f"other ({Path(cfile).name}:{cname})"[:60]] += ctt
            continue
        own[layer or "other"] += tt
    total = sum(own.values())
    calls = {}
    for (filename, _, func), (_, nc, tt, ct, _) in stats.items():
        if (
            ("/redis/" in filename and func in REDIS_ENTRY_POINTS)
            or func in ("pack_command", "pack_commands")
            or ("reference_server/events.py" in filename and func in HANDLERS)
            or "async_redis_manager" in filename
            or "async_pubsub_manager" in filename
        ):
            calls[f"{Path(filename).parent.name}/{Path(filename).name}:{func}"] = {
                "ncalls": nc,
                "per_message": round(nc / messages, 2) if messages else None,
                "own_s": round(tt, 3),
                "cum_s": round(ct, 3),
            }
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:40]
    return {
        "own_time_s": round(total, 3),
        "by_layer": {
            k: {
                "s": round(v, 3),
                "share": round(v / total, 3),
                "ms_per_1k_deliveries": round(v * 1e6 / deliveries, 2) if deliveries else None,
                "us_per_message": round(v * 1e6 / messages, 1) if messages else None,
            }
            for k, v in own.most_common(25)
        },
        "calls": calls,
        "top_own": [
            {"function": f"{Path(f).name}:{line}:{fn}", "ncalls": nc, "own_s": round(tt, 3)}
            for (f, line, fn), (_, nc, tt, _, _) in top
        ],
    }


def cmd_profile(options: argparse.Namespace) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = options.out or RESULTS / f"profile-{options.config}-{options.scenario}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_suffix(".pstats")
    rate = options.rate or SCENARIOS[options.scenario][2][0]
    server = Server(options.config, profile_to=raw)
    scratch = Path(f"/tmp/cluster-profile-{stamp}")
    try:
        sampler = Sampler(server)
        sampler.sample()
        sampler.start()
        try:
            summary = run_load(options.scenario, rate, server.urls, options.duration, scratch)
        finally:
            sampler.halt.set()
            sampler.join()
    finally:
        server.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    members = SCENARIOS[options.scenario][1]
    # Messages node 0 handled while profiled: all its users' sends over the whole run.
    total_deliveries = summary["deliveries"]
    messages_all = total_deliveries / members
    messages_node0 = messages_all / CONFIGS[options.config][1]
    deliveries_node0 = total_deliveries / CONFIGS[options.config][1]
    split = profile_split(raw, messages_node0, deliveries_node0)
    window = sampler.window(sampler.samples[0][0], sampler.samples[-1][0])
    record = {
        "command": "python benchmarks/cluster_capacity.py " + " ".join(sys.argv[1:]),
        "commit": source_commit(),
        "machine": machine(),
        "config": options.config,
        "scenario": options.scenario,
        "rate": rate,
        "deliveries_per_s": summary["deliveries_per_s"],
        "p50_p95_p99_ms": [summary[f"fanout_p{p}_ms"] for p in (50, 95, 99)],
        "failures": summary["failures"],
        "messages_sent_by_node0_users": round(messages_node0),
        "deliveries_by_node0": round(deliveries_node0),
        "note": "own CPU time (cProfile on time.process_time) of node 0 over the whole run, "
        "ramp included; built-ins charged to their callers' layer; ncalls of coroutines "
        "count every resumption",
        "whole_run_cpu_s": window[1] if window else None,
        "whole_run_commandstats_calls": window[2] if window else None,
        "profile": split,
        "pstats": raw.name,
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: record[k] for k in ("deliveries_per_s", "p50_p95_p99_ms")}))
    print(f"own CPU {split['own_time_s']} s over {messages_node0:.0f} messages:")
    for layer, v in list(split["by_layer"].items())[:12]:
        print(f"  {v['share']:6.1%} {v['s']:8.3f} s {v['us_per_message']:8.1f} µs/message  {layer}")
    for name, v in split["calls"].items():
        print(f"  {v['per_message']!s:>7} per message  {name} (own {v['own_s']} s)")
    print(f"\nraw results: {out} and {raw}")
    return 0


def parse_rates(values: list[str]) -> dict[str, list[str]]:
    rates = {}
    for value in values:
        scenario, _, ladder = value.partition("=")
        rates[scenario] = ladder.split(",")
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/cluster_capacity.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("table", help="the three configurations, same scenarios and rates")
    t.add_argument("--repeat", type=int, default=2, help="repetitions (default 2)")
    t.add_argument("--duration", type=int, default=20, help="seconds per Locust run")
    t.add_argument("--scenarios", default=",".join(SCENARIOS), help="of " + ", ".join(SCENARIOS))
    t.add_argument(
        "--rates",
        action="append",
        default=[],
        metavar="SCENARIO=R1,R2",
        help="--message-rate ladder of a scenario (default: "
        + "; ".join(f"{k}={','.join(v[2])}" for k, v in SCENARIOS.items())
        + ")",
    )
    t.add_argument("--scratch", default=None, help="Locust report folders (deleted after each)")
    c = sub.add_parser("costs", help="Redis round-trips, commands and µs per event kind")
    c.add_argument("--users", type=int, default=20)
    c.add_argument("--messages", type=int, default=10, help="sendMessage per user")
    p = sub.add_parser("profile", help="cProfile of node 0 under a scenario")
    p.add_argument("--config", default="redis-2", choices=list(CONFIGS))
    p.add_argument("--scenario", default="steady-chat", choices=list(SCENARIOS))
    p.add_argument("--rate", default=None, help="--message-rate (default: the ladder's first)")
    p.add_argument("--duration", type=int, default=20)
    d = sub.add_parser("_drive")  # internal: the costs client
    d.add_argument("--urls")
    d.add_argument("--users", type=int)
    d.add_argument("--messages", type=int)
    d.add_argument("--pids")
    d.add_argument("--redis-port", type=int, default=None)
    for each in (t, c, p):
        each.add_argument("--out", type=Path, default=None, help="raw JSON (default: "
                          "benchmarks/results/cluster/WHAT-TIME.json)")  # fmt: skip
        each.add_argument(
            "--snapshot",
            default="HEAD",
            metavar="REV",
            help="measure reference_server and chatrooms_load as committed at REV (git "
            "archive into /tmp; default HEAD); 'none': the working tree",
        )
        each.add_argument(
            "--source",
            type=Path,
            default=None,
            help="or import reference_server and chatrooms_load from this directory",
        )
    options = parser.parse_args(argv)
    if options.what == "_drive":
        return drive(options)
    global SOURCE, REVISION
    if options.source is not None:
        SOURCE, REVISION = options.source.resolve(), ""
    elif options.snapshot.lower() != "none":
        SOURCE, REVISION = snapshot(options.snapshot), options.snapshot
    else:
        REVISION = ""
    if SOURCE is not None:
        sys.path.insert(0, str(SOURCE))
    if shutil.which("redis-server") is None:
        parser.error("no redis-server on PATH")
    if options.what == "table":
        options.rates = parse_rates(options.rates)
        return cmd_table(options)
    if options.what == "costs":
        return cmd_costs(options)
    return cmd_profile(options)


if __name__ == "__main__":
    sys.exit(main())
