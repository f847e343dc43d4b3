"""Profile one generator process on one step of generator_capacity.py: the blast server
and the observer on core 0, Locust on core 1, the scenario run through
benchmarks/profiled_locustfile.py. Prints deliveries/s, CPU, hub lag, the self-check's
verdict, the garbage collector's work over the steady part and, with --mode yappi, the
top functions by own CPU time; writes the raw result (JSON) to --out.

    flock /tmp/cpu-heavy.lock python benchmarks/profile_generator.py fan-out 30 \
        --mode yappi --out benchmarks/results/load/profile-fan-out-30-yappi.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from chatrooms_load.selfcheck import run_self_check

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generator_capacity import BLAST, SHAPES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/profile_generator.py")
    parser.add_argument("scenario", choices=sorted(SHAPES))
    parser.add_argument("rate", help="--message-rate per sender")
    parser.add_argument("--mode", choices=["gc", "yappi"], default="gc")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for Locust")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="profile-generator-"))
    profile = scratch / "profile.json"
    env = {
        "PROFILE_SCENARIO": args.scenario,
        "PROFILE_MODE": args.mode,
        "PROFILE_OUT": str(profile),
        **dict(item.split("=", 1) for item in args.env),
    }
    result = run_self_check(
        args.scenario,
        [
            *SHAPES[args.scenario],
            "--message-rate",
            args.rate,
            "-f",
            str(HERE / "profiled_locustfile.py"),
        ],
        server_cmd=BLAST,
        out=scratch / "run",
        timeout_s=180,
        server_cpus="0",
        observer_cpus="0",
        generator_cpus="1",
        env={**os.environ, **env},
    )
    prof = json.loads(profile.read_text(encoding="utf-8"))
    harness = result.harness
    cpu = max((c["share"] for c in harness["cpu"]), default=0)
    lag = max((c.get("lag_p99_ms") or 0 for c in harness["cpu"]), default=0)
    record = {
        "command": "python benchmarks/profile_generator.py " + " ".join(argv or sys.argv[1:]),
        "deliveries_per_s": harness["deliveries_per_s"],
        "cpu_share": cpu,
        "lag_p99_ms": lag,
        "saturation": harness["saturation"],
        "selfcheck_ok": result.verdict.ok,
        "selfcheck_problems": result.verdict.problems,
        "profile": prof,
    }
    Path(args.out).write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(
        f"{args.scenario} rate {args.rate} ({args.mode}): {harness['deliveries_per_s']:.0f} "
        f"deliveries/s, CPU {cpu:.0%}, hub lag p99 {lag} ms, saturation "
        f"{harness['saturation'] or 'none'}, self-check {result.verdict.ok} "
        f"{result.verdict.problems}"
    )
    deliveries = harness["deliveries_per_s"] * prof["wall_s"]
    print(f"steady {prof['wall_s']:.1f} s, CPU {prof['cpu_s']:.1f} s "
          f"({prof['cpu_s'] / max(deliveries, 1) * 1e6:.1f} us per delivery)")  # fmt: skip
    print(f"gc thresholds {prof['thresholds']}, tracked objects {prof['tracked_before']} -> "
          f"{prof['tracked_after']}, frozen {prof['frozen']}")  # fmt: skip
    for gen, c in prof["collections"].items():
        print(f"  gen{gen}: {c['count']} collections, {c['total_ms']:.0f} ms in all "
              f"({c['total_ms'] / 10 / prof['wall_s']:.1f}% of wall), max {c['max_ms']:.1f} ms, "
              f"{c['collected']} collected")  # fmt: skip
    if "functions" in prof:
        total = prof["functions_total_s"]
        print(f"top functions by own CPU ({total:.1f} s profiled):")
        print(f"  {'own %':>6} {'own us/deliv':>12} {'calls':>9}  function")
        for row in prof["functions"][: args.top]:
            per = row["tsub_s"] / max(deliveries, 1) * 1e6
            print(f"  {row['tsub_s'] / total:6.1%} {per:12.2f} {row['ncall']:9d}  {row['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
