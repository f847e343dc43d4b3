"""What one Locust process observes: each step runs a scenario against the blast server
(benchmarks/blast_server.py, which writes a message to all of a room's members in
microseconds, so the generator runs out first) with the self-check's observer in one
room, and records the harness's summary, the generator's CPU, the saturation warning and
the self-check's verdict. Server and observer on one core, the generator on the other.
Raw results go to one JSON file; `python benchmarks/tables.py generator FILE` makes the
table.

    python benchmarks/generator_capacity.py --repeat 3 \
        --out benchmarks/results/load/generator-capacity.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatrooms_load.selfcheck import run_self_check

HERE = Path(__file__).resolve().parent
BLAST = [sys.executable, str(HERE / "blast_server.py")]
# (scenario, label, args for 200 users; deliveries/s = users x rate x room size)
SHAPES = {
    "steady-chat": ["-u", "200", "-r", "100", "-t", "15s", "--rooms", "10"],
    "fan-out": ["-u", "200", "-r", "100", "-t", "15s", "--senders", "5"],
}
# message rates per sender for 10k, 30k, 50k, 70k and 90k deliveries/s (and 110k in fan-out;
# the last past the ceiling, to show the saturation warning there)
RATES = {
    "steady-chat": ["2.5", "7.5", "12.5", "17.5", "22.5"],
    "fan-out": ["10", "30", "50", "70", "90", "110"],
}


def machine() -> dict[str, str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "lscpu": "\n".join(lscpu.splitlines()[:15]),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/generator_capacity.py")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", default="steady-chat,fan-out")
    parser.add_argument(
        "--rates",
        action="append",
        default=[],
        metavar="SCENARIO=R1,R2",
        help="message rates per sender for one shape instead of its default steps",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--append",
        action="store_true",
        help="add the runs to those already in --out (one shape at a time, so that no run "
        "holds a shared machine's lock for long)",
    )
    args = parser.parse_args(argv)
    rates = dict(RATES)
    for item in args.rates:
        name, _, values = item.partition("=")
        rates[name] = values.split(",")
    runs = []
    scratch = Path(tempfile.mkdtemp(prefix="generator-capacity-"))
    for repetition in range(1, args.repeat + 1):
        for scenario in args.shapes.split(","):
            for rate in rates[scenario]:
                result = run_self_check(
                    scenario,
                    [*SHAPES[scenario], "--message-rate", rate],
                    server_cmd=BLAST,
                    out=scratch / f"{scenario}-{rate}-{repetition}",
                    timeout_s=180,
                    server_cpus="0",
                    observer_cpus="0",
                    generator_cpus="1",
                )
                verdict = result.verdict
                harness = {
                    k: v
                    for k, v in result.harness.items()
                    if k not in ("timeline", "probes", "membership", "sent_deliveries", "text")
                }
                runs.append(
                    {
                        "scenario": scenario,
                        "message_rate": rate,
                        "repetition": repetition,
                        "harness": harness,
                        "server_cpu": result.server_cpu_share,
                        "selfcheck": {
                            "ok": verdict.ok,
                            "problems": verdict.problems,
                            "views": [v.__dict__ for v in verdict.views],
                        },
                    }
                )
                cpu = max((c["share"] for c in harness["cpu"]), default=0)
                print(
                    f"{scenario} rate {rate} #{repetition}: {harness['deliveries_per_s']:.0f}/s "
                    f"CPU {cpu:.0%} saturation {harness['saturation'] or 'none'} "
                    f"self-check {verdict.ok}",
                    flush=True,
                )
    record = {
        "command": "python benchmarks/generator_capacity.py " + " ".join(argv or sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "runs": runs,
    }
    out = Path(args.out)
    if args.append and out.exists():
        earlier = json.loads(out.read_text(encoding="utf-8"))
        record = {
            **record,
            "command": f"{earlier['command']} && {record['command']}",
            "when": f"{earlier['when']} .. {record['when']}",
            "runs": [*earlier["runs"], *runs],
        }
    out.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
