"""The server benchmarks: the reference server against a bare python-socketio server, same
machine, same run, the server pinned to one core and the generator to the other.

    python benchmarks/server_capacity.py table          # the issue's table, 3 repetitions
    python benchmarks/server_capacity.py churn          # connect+join cycles per second
    python benchmarks/server_capacity.py idle-memory    # resident MiB per 1,000 idle sockets

The generator is the Node fan-out yardstick of ../shared/bench (`loadgen.js`, run
`npm ci` there once, or in a copy given with --bench-dir): it costs far less per delivery
than either server, so the figure is the server's. Each measurement starts a fresh server
(`taskset -c 0`) and a fresh generator (`taskset -c 1`); the servers alternate within a
repetition, and what is reported is the median over repetitions, with its range, and
the median of the per-repetition ratios. Absolute figures on a shared machine swing by
2x; the ratios are the result. Raw generator output goes to benchmarks/results/*.json.
A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reference_server.testing import RunningServer

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret-0123456789abcdef"
SERVERS = {
    "reference": [sys.executable, "-m", "reference_server"],
    "bare": [sys.executable, str(HERE / "baseline_server.py")],
}
# rooms x members: the three shapes.
QUIET_MAX_S = 5
SOURCE: Path | None = None
SHAPES = {"1x100": (1, 100), "10x20": (10, 20), "1x500": (1, 500)}


def machine() -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            "",
        )
    except OSError:
        model = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def start_server(
    kind: str, gc: str, core: int, extra: dict[str, str] | None = None
) -> RunningServer:
    env = {
        "JWT_SECRET": SECRET,
        "NODE_ENV": "development",
        # The limits out of the way: 60 messages per 100 ms per sender.
        "WS_RATE_LIMIT_WINDOW_MS": "100",
        "REFERENCE_GC": gc,
        **(extra or {}),
    }
    if SOURCE is not None:  # a snapshot of reference_server/ (e.g. `git archive HEAD`)
        env["PYTHONPATH"] = str(SOURCE)
    return RunningServer(env, command=["taskset", "-c", str(core), *SERVERS[kind]])


def loadgen(bench_dir: Path, port: int, pid: int, core: int, args: Sequence[str]) -> list[Any]:
    argv = ["taskset", "-c", str(core), "node", str(bench_dir / "loadgen.js")]
    argv += ["--port", str(port), "--secret", SECRET, "--server-pid", str(pid), *args]
    # Wait at most this long for idle cores before a step; a step that other processes
    # disturbed is retried (up to 3 times) and marked `contaminated` in the raw results.
    argv += ["--quiet-max", str(QUIET_MAX_S)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(
    kind: str, what: str, options: argparse.Namespace, shape: str | None = None
) -> dict[str, Any]:
    server = start_server(kind, options.gc, options.server_core)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        pid = server.process.pid
        time.sleep(0.5)
        rss_before = rss_mib(pid)
        if what == "capacity":
            assert shape is not None
            rooms, members = SHAPES[shape]
            args = ["--mode", "fanout", "--rooms", str(rooms), "--members", str(members)]
            # Coarse x1.6 from --start until a step misses, then two bisections.
            args += ["--senders", "10", "--start", str(options.start), "--coarse-factor", "1.6"]
            args += ["--bisect-steps", "2", "--window", "4", "--warm", "1", "--grace", "2"]
            lines = loadgen(options.bench_dir, port, pid, options.generator_core, args)
            best = next(r for r in lines if r["type"] == "summary")["max_sustained"] or {}
            figure = {
                "deliveries_per_s": best.get("deliveries_per_s", 0),
                "us_per_delivery": best.get("srv_us_per_delivery"),
                "p99_ms": best.get("p99_ms"),
            }
        elif what == "churn":
            args = ["--mode", "churn", "--concurrency", "20", "--duration", "8"]
            lines = loadgen(options.bench_dir, port, pid, options.generator_core, args)
            row = next(r for r in lines if r["type"] == "churn")
            figure = {
                "connects_per_s": row["connects_per_s"],
                "errors": row["errors"],
                "us_per_cycle": round(row["srv_cpu_pct"] * 1e4 / row["connects_per_s"], 1)
                if row.get("srv_cpu_pct") and row["connects_per_s"]
                else None,
            }
        else:  # idle-memory: 2,000 sockets in 20 rooms of 100, one message a second
            args = ["--mode", "fanout", "--rooms", "20", "--members", "100", "--senders", "1"]
            args += ["--rates", "100", "--window", "3", "--warm", "1", "--grace", "1"]
            lines = loadgen(options.bench_dir, port, pid, options.generator_core, args)
            step = next(r for r in lines if r["type"] == "step" and r.get("final"))
            figure = {
                "rss_before_mib": round(rss_before, 1),
                "rss_with_2000_mib": step["srv_rss_mb"],
                "mib_per_1000_sockets": round((step["srv_rss_mb"] - rss_before) / 2, 2),
            }
    finally:
        server.stop()
    print(f"  {what:>11} {shape or '':>6} {kind:>9}: {figure}", flush=True)
    return {"server": kind, "what": what, "shape": shape, "figure": figure, "raw": lines}


def summarize(runs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per shape: each server's median and range, and the median of per-repetition ratios."""
    rows = []
    for shape in dict.fromkeys(r["shape"] for r in runs):
        of = {
            kind: [r for r in runs if r["shape"] == shape and r["server"] == kind]
            for kind in SERVERS
        }
        values = {kind: [r["figure"][key] or 0 for r in of[kind]] for kind in SERVERS}
        by_rep = {kind: {r["rep"]: r["figure"][key] or 0 for r in of[kind]} for kind in SERVERS}
        ratios = [
            ref / by_rep["bare"][rep] if by_rep["bare"][rep] else 0.0
            for rep, ref in by_rep["reference"].items()
            if rep in by_rep["bare"]
        ] or [0.0]
        row: dict[str, Any] = {"shape": shape, "key": key}
        for kind in SERVERS:
            row[kind] = {
                "median": statistics.median(values[kind]),
                "min": min(values[kind]),
                "max": max(values[kind]),
                "values": values[kind],
            }
        row["ratio"] = {
            "median": round(statistics.median(ratios), 3),
            "min": round(min(ratios), 3),
            "max": round(max(ratios), 3),
        }
        if key == "deliveries_per_s":
            for kind in SERVERS:
                costs = [r["figure"]["us_per_delivery"] for r in of[kind]]
                row[kind]["us_per_delivery_median"] = statistics.median(
                    [c for c in costs if c is not None] or [0]
                )
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    key = rows[0]["key"]
    print(f"\n| shape | reference {key} | bare {key} | reference / bare |")
    print("|---|---:|---:|---:|")
    for row in rows:
        cells = []
        for kind in SERVERS:
            s = row[kind]
            cell = f"{s['median']:,.6g} ({s['min']:,.6g}–{s['max']:,.6g})"
            if "us_per_delivery_median" in s:
                cell += f", {s['us_per_delivery_median']:.1f} µs/delivery"
            cells.append(cell)
        r = row["ratio"]
        print(
            f"| {row['shape'] or '-'} | {cells[0]} | {cells[1]} | "
            f"{r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f}) |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/server_capacity.py")
    parser.add_argument("what", choices=["table", "churn", "idle-memory"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="of " + ", ".join(SHAPES))
    parser.add_argument("--gc", default="tuned", help="REFERENCE_GC for both servers")
    parser.add_argument("--start", type=int, default=4000, help="first deliveries/s step")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared/bench")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="raw JSON (default results/)")
    parser.add_argument(
        "--source", type=Path, default=None, help="import reference_server from this directory"
    )
    options = parser.parse_args(argv)
    global SOURCE
    SOURCE = options.source
    if not (options.bench_dir / "node_modules").is_dir():
        parser.error(f"run `npm ci` in {options.bench_dir} first (or pass --bench-dir)")
    what = "capacity" if options.what == "table" else options.what
    shapes = options.shapes.split(",") if what == "capacity" else [None]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = options.out or HERE / "results" / f"{options.what}-gc-{options.gc}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": " ".join(["python benchmarks/server_capacity.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "gc": options.gc,
    }
    runs: list[dict[str, Any]] = []
    for rep in range(options.reps):
        print(f"repetition {rep + 1} of {options.reps}", flush=True)
        for shape in shapes:
            # Alternate which server goes first, so neither always meets a warmer machine.
            kinds = list(SERVERS) if rep % 2 == 0 else list(reversed(SERVERS))
            for kind in kinds:
                try:
                    runs.append({"rep": rep + 1, **measure(kind, what, options, shape)})
                except (RuntimeError, OSError, StopIteration) as failure:
                    print(f"  {what} {shape} {kind}: FAILED {failure}", flush=True)
                    runs.append(
                        {"rep": rep + 1, "server": kind, "what": what, "shape": shape}
                        | {"error": str(failure)}
                    )
                out.write_text(json.dumps({**record, "runs": runs}, indent=1) + "\n")
    key = {
        "capacity": "deliveries_per_s",
        "churn": "connects_per_s",
        "idle-memory": "mib_per_1000_sockets",
    }[what]
    rows = summarize([r for r in runs if "error" not in r], key)
    print_table(rows)
    out.write_text(json.dumps({**record, "summary": rows, "runs": runs}, indent=1) + "\n")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
