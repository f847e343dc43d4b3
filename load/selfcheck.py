"""The self-check: does the harness agree with an independent observer?

Starts a server, an observer process (chatrooms_load.observer: plain asyncio,
python-socketio's AsyncClient) in one room, and `chatrooms-load` against the same
server; then compares the harness's fan-out p50 with the observer's. Used by
tests/load/test_selfcheck.py and by the capacity benchmark:

    python -m chatrooms_load.selfcheck fan-out -u 20 -r 20 -t 8s --senders 2 --message-rate 5
    python -m chatrooms_load.selfcheck steady-chat --server baseline -u 200 ...

Exit code 1 when the two p50s differ by more than --tolerance-ms (default 5).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatrooms_load.run import plan_server

# The room each scenario's observer joins (one the harness's users fill).
OBSERVED_ROOM = {
    "steady-chat": "load-room-0",
    "fan-out": "load-fan-out",
    "typing-storm": "load-room-0",
    "churn": "load-room-0",
}
TOLERANCE_MS = 5.0


@dataclass(frozen=True)
class Agreement:
    harness: dict[str, Any]  # the runner's summary.json
    observer: dict[str, Any]  # the observer's JSON

    @property
    def difference_ms(self) -> float | None:
        ours, theirs = self.harness.get("fanout_p50_ms"), self.observer.get("p50_ms")
        if ours is None or theirs is None:
            return None
        return float(ours) - float(theirs)

    def describe(self) -> str:
        h, o = self.harness, self.observer
        diff = self.difference_ms
        return (
            f"self-check: harness p50 {_ms(h.get('fanout_p50_ms'))} over "
            f"{h.get('fanout_samples')} deliveries at {h.get('deliveries_per_s', 0):.0f}/s; "
            f"observer p50 {_ms(o.get('p50_ms'))} over {o.get('samples')} in {o.get('room')}; "
            f"difference {'-' if diff is None else f'{diff:+.2f} ms'}; generator CPU "
            + ", ".join(f"{c['process']} {c['share']:.0%}" for c in h.get("cpu", []))
        )


def _ms(value: object) -> str:
    return "-" if value is None else f"{float(value):.2f} ms"  # type: ignore[arg-type]


def run_self_check(
    scenario: str,
    locust_args: list[str],
    *,
    server: str = "reference",
    out: Path,
    timeout_s: float = 300.0,
) -> Agreement:
    """Run the scenario with an observer in the same room; return both results."""
    from reference_server.launcher import RunningServer

    env, note = plan_server(scenario, locust_args)
    command = None
    if server == "baseline":
        command = [sys.executable, "-m", "chatrooms_load.baseline_server"]
        note = "rate limits: none (baseline server)"
    out.mkdir(parents=True, exist_ok=True)
    with RunningServer(env, command=command) as running:
        observer_json = out / "observer.json"
        observer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatrooms_load.observer",
                "--host",
                running.url,
                "--room",
                OBSERVED_ROOM[scenario],
                "--seconds",
                str(timeout_s),
                "--json",
                str(observer_json),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert observer.stdout is not None
            ready = observer.stdout.readline()
            if "ready" not in ready:
                raise RuntimeError(f"observer did not start: {ready!r}")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "chatrooms_load.run",
                    scenario,
                    "--host",
                    running.url,
                    "--out",
                    str(out),
                    "--rate-note",
                    note,
                    *locust_args,
                ],
                timeout=timeout_s,
                check=False,
            )
        finally:
            observer.terminate()
            observer.communicate(timeout=30)
    harness = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return Agreement(harness, json.loads(observer_json.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatrooms_load.selfcheck")
    parser.add_argument("scenario", choices=sorted(OBSERVED_ROOM))
    parser.add_argument("--server", choices=["reference", "baseline"], default="reference")
    parser.add_argument("--tolerance-ms", type=float, default=TOLERANCE_MS)
    parser.add_argument("--out", default=None)
    args, locust_args = parser.parse_known_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="chatrooms-selfcheck-"))
    agreement = run_self_check(args.scenario, locust_args, server=args.server, out=out)
    print(agreement.describe(), flush=True)
    diff = agreement.difference_ms
    return 0 if diff is not None and abs(diff) <= args.tolerance_ms else 1


if __name__ == "__main__":
    sys.exit(main())
