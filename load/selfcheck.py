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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatrooms_load.run import SERVERS, plan_server

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
    observer: dict[str, Any] | None  # the observer's JSON (None: ran without one)
    server_cpu_share: float  # the server process's CPU over the run, share of one core
    returncode: int  # chatrooms-load's exit code

    @property
    def difference_ms(self) -> float | None:
        ours = self.harness.get("fanout_p50_ms")
        theirs = None if self.observer is None else self.observer.get("p50_ms")
        if ours is None or theirs is None:
            return None
        return float(ours) - float(theirs)

    def describe(self) -> str:
        h, o = self.harness, self.observer or {}
        diff = self.difference_ms
        return (
            f"self-check: harness p50 {_ms(h.get('fanout_p50_ms'))} over "
            f"{h.get('fanout_samples')} deliveries at {h.get('deliveries_per_s', 0):.0f}/s; "
            f"observer p50 {_ms(o.get('p50_ms'))} over {o.get('samples')} in {o.get('room')}; "
            f"difference {'-' if diff is None else f'{diff:+.2f} ms'}; generator CPU "
            + ", ".join(f"{c['process']} {c['share']:.0%}" for c in h.get("cpu", []))
            + f"; server CPU {self.server_cpu_share:.0%}"
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
    observe: bool = True,
) -> Agreement:
    """Start a server, the observer in the scenario's room (unless `observe` is False)
    and chatrooms-load against the same server; return what each measured. The runner's
    output goes to OUT/chatrooms-load.log."""
    import psutil  # type: ignore[import-untyped]

    from reference_server.launcher import RunningServer

    env, note = plan_server(scenario, locust_args)
    command = SERVERS[server]
    if command is not None:
        note = f"rate limits: none ({server} server)"
    out.mkdir(parents=True, exist_ok=True)
    observer_json = out / "observer.json"
    with RunningServer(env, command=command) as running:
        observer = None
        if observe:
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
        server_process = psutil.Process(running.process.pid)
        try:
            if observer is not None:
                assert observer.stdout is not None
                ready = observer.stdout.readline()
                if "ready" not in ready:
                    raise RuntimeError(f"observer did not start: {ready!r}")
            cpu_before, wall_before = sum(server_process.cpu_times()[:2]), time.monotonic()
            with (out / "chatrooms-load.log").open("w", encoding="utf-8") as log:
                done = subprocess.run(
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
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout_s,
                    check=False,
                )
            cpu_after, wall_after = sum(server_process.cpu_times()[:2]), time.monotonic()
        finally:
            if observer is not None:
                observer.terminate()
                observer.communicate(timeout=30)
    harness = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seen = json.loads(observer_json.read_text(encoding="utf-8")) if observe else None
    share = (cpu_after - cpu_before) / max(wall_after - wall_before, 1e-9)
    return Agreement(harness, seen, share, done.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatrooms_load.selfcheck")
    parser.add_argument("scenario", choices=sorted(OBSERVED_ROOM))
    parser.add_argument("--server", choices=list(SERVERS), default="reference")
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
