"""Does resident memory stay flat under churn plus fan-out with the chosen collector
treatment? Rounds of the same load against one reference server: in each, a fan-out
room of 200 takes a steady stream of messages while 20 workers connect, join, and close
as fast as the server lets them; between rounds every client is gone. Flat means the
quiet resident memory after round N is that after round 1, while the collector's own
figures (gc.get_stats(), from the server's REFERENCE_GC_STATS_INTERVAL_MS log line) show
it kept collecting.

    python benchmarks/memory_flatness.py --rounds 5 --gc tuned

Server on core 0, both generators (../shared/bench/loadgen.js) on core 1. Prints one line
per round and writes the RSS series and stats lines to benchmarks/results/*.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import server_capacity
from server_capacity import HERE, SECRET, machine, rss_mib, start_server

STATS = re.compile(r"gc stats: .*")


def generators(bench_dir: Path, port: int, pid: int, core: int, seconds: int, rate: int) -> Any:
    common = ["taskset", "-c", str(core), "node", str(bench_dir / "loadgen.js")]
    common += ["--port", str(port), "--secret", SECRET, "--server-pid", str(pid)]
    # No waiting for an idle machine and no retries: the two generators load it on purpose.
    common += ["--quiet-max", "0.01", "--foreign-max", "100"]
    steps = max(1, seconds // 7)
    fanout = [*common, "--mode", "fanout", "--rooms", "1", "--members", "200", "--senders"]
    fanout += ["10", "--rates", ",".join([str(rate)] * steps), "--window", "5", "--warm", "1"]
    fanout += ["--grace", "1"]
    churn = [*common, "--mode", "churn", "--concurrency", "20", "--duration", str(seconds)]
    churn += ["--rooms", "50", "--warm", "0"]
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, text=True) for a in (fanout, churn)]
    outputs = [p.communicate(timeout=seconds * 4 + 120)[0] for p in procs]
    return [
        [json.loads(line) for line in out.splitlines() if line.startswith("{")] for out in outputs
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/memory_flatness.py")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=50, help="load per round")
    parser.add_argument("--rate", type=int, default=10_000, help="fan-out deliveries/s")
    parser.add_argument("--gc", default="tuned", help="REFERENCE_GC")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared/bench")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--source", type=Path, default=None, help="import reference_server from this directory"
    )
    options = parser.parse_args(argv)
    server_capacity.SOURCE = options.source
    server = start_server(
        "reference",
        options.gc,
        options.server_core,
        extra={"REFERENCE_GC_STATS_INTERVAL_MS": "5000", "WS_ENABLE_HEARTBEAT": "true"},
    )
    pid = server.process.pid
    port = int(server.url.rsplit(":", 1)[1])
    series: list[tuple[float, float]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while not stop.wait(1.0):
            series.append((round(time.monotonic() - t0, 1), round(rss_mib(pid), 1)))

    threading.Thread(target=sample, daemon=True).start()
    time.sleep(2)
    start_rss = rss_mib(pid)
    rounds = []
    try:
        for n in range(1, options.rounds + 1):
            fan, churn = generators(
                options.bench_dir, port, pid, options.generator_core, options.seconds, options.rate
            )
            time.sleep(5)  # every client gone; the server idle
            steps = [s for s in fan if s["type"] == "step"]
            cycles = next((c for c in churn if c["type"] == "churn"), {})
            stats = STATS.findall(server.log())
            record = {
                "round": n,
                "quiet_rss_mib": round(rss_mib(pid), 1),
                "deliveries": sum(s["deliveries_per_s"] * 5 for s in steps),
                "fanout_p99_ms": max((s["p99_ms"] or 0 for s in steps), default=None),
                "churn_cycles": cycles.get("completed"),
                "churn_per_s": cycles.get("connects_per_s"),
                "churn_errors": cycles.get("errors"),
                "gc": stats[-1] if stats else None,
            }
            rounds.append(record)
            print(json.dumps(record), flush=True)
    finally:
        stop.set()
        server.stop()
    peak = max((rss for _, rss in series), default=0.0)
    summary = {
        "start_rss_mib": round(start_rss, 1),
        "peak_rss_mib": peak,
        "quiet_rss_after_round_mib": [r["quiet_rss_mib"] for r in rounds],
        "churn_cycles_total": sum(r["churn_cycles"] or 0 for r in rounds),
        "deliveries_total": sum(r["deliveries"] for r in rounds),
    }
    print(json.dumps(summary))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = options.out or HERE / "results" / f"memory-gc-{options.gc}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python benchmarks/memory_flatness.py", *sys.argv[1:]]),
                "machine": machine(),
                "summary": summary,
                "rounds": rounds,
                "rss_series": series,
                "gc_stats_lines": STATS.findall(server.log()),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
