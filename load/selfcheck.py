"""The self-check: does the harness time messages the way an independent observer does?

Starts a server, the observer (chatrooms_load.observer: plain asyncio, python-socketio's
AsyncClient, its own clock) in one room the scenario fills, and `chatrooms-load` against
the same server. The observer times the harness's messages on receipt, and sends probes
of its own that the harness's receivers time and count. Four views of one room's fan-out
over the harness's steady window:

  P1  the harness's report: its receivers on its own messages     (harness send, harness receive)
  P2  the observer on the harness's messages                      (harness send, observer receive)
  P3  the harness's receivers on the observer's probes            (observer send, harness receive)
  P4  the observer on its own probes                              (observer send, observer receive)

P4 involves nothing of the harness, so it is the yardstick:

* receive side: P3 against P4 (same sends; only the receive stamps differ), and the
  harness's receivers must count every probe delivery due (one per harness member of
  the room when the probe went out);
* send side: P2 against P4 (same receiver; only the send stamps differ);
* reported: P1 against P4.

Each agrees when p50 and p95 are within max(1 ms, 20 %) of P4's. Both a harness that
reports 0 ms and one that reports double fail. A server that writes one message to a
room's members one after another (python-socketio: ~200 us each) gives the observer one
place in that order and the harness every place, so compare on a server that writes
fast (benchmarks/blast_server.py) or in a small room.

    python -m chatrooms_load.selfcheck fan-out --server-cmd "python benchmarks/blast_server.py" \\
        -u 20 -r 20 -t 8s --senders 2 --message-rate 5

Exit code 0: agrees; 1: disagrees (each problem names the side); 2: inconclusive (too
few probes or messages in the steady window).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatrooms_load.latency import Histogram
from chatrooms_load.run import pinned, plan_server, server_command

# The room each scenario's observer joins (one the harness's users fill).
OBSERVED_ROOM = {
    "steady-chat": "load-room-0",
    "fan-out": "load-fan-out",
    "typing-storm": "load-room-0",
    "churn": "load-room-0",
}
BOUND_MS = 1.0  # agreement: within max(BOUND_MS, BOUND_SHARE x the observer's figure)
BOUND_SHARE = 0.20
MISSING_SHARE = 0.005  # the harness may miss at most this share of the probe deliveries due
MIN_PROBES = 20  # fewer probes in the steady window: inconclusive
PROBE_RATE = 10.0  # probes per second
EDGE_S = 1.0  # probes sent in the steady window's last second may arrive after it


@dataclass(frozen=True)
class View:
    """One way of timing one set of messages: p50 and p95 in ms."""

    label: str
    samples: int
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, label: str, histogram: Histogram) -> View:
        return cls(label, histogram.total, histogram.percentile(0.5), histogram.percentile(0.95))

    def describe(self) -> str:
        return f"{self.label}: p50 {_ms(self.p50)}, p95 {_ms(self.p95)} ({self.samples} samples)"


@dataclass(frozen=True)
class Verdict:
    ok: bool | None  # None: inconclusive
    views: list[View]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        head = {True: "agrees", False: "DISAGREES", None: "inconclusive"}[self.ok]
        lines = [f"self-check: {head}"]
        lines += [f"  {view.describe()}" for view in self.views]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def bound_ms(reference: float) -> float:
    return max(BOUND_MS, BOUND_SHARE * abs(reference))


def members_at(membership: Sequence[Sequence[Any]], room: str, at: float) -> int:
    """How many harness users were in `room` at time `at` (their joinRoom had been
    acknowledged and they had not left or disconnected)."""
    return sum(int(d) for t, r, d in membership if r == room and float(t) <= at)


def judge(harness: Mapping[str, Any], observer: Mapping[str, Any]) -> Verdict:
    """Compare the harness's summary.json with the observer's JSON (pure)."""
    lo, hi = harness.get("steady_from"), harness.get("steady_to")
    if lo is None or hi is None:
        return Verdict(None, [], notes=["the harness reported no steady window"])
    room = str(observer.get("room"))
    own = Histogram()  # P4
    probe_seqs = []
    for seq, (sent, back) in observer.get("probes", {}).items():
        if lo <= sent < hi - EDGE_S:
            probe_seqs.append((int(seq), float(sent)))
            if back is not None:
                own.record((back - sent) * 1000)
    seen = Histogram()  # P3
    counted = 0
    harness_probes = harness.get("probes", {})
    for seq, _ in probe_seqs:
        wire = harness_probes.get(str(seq))
        if wire is not None:
            histogram = Histogram.from_wire(wire)
            seen.merge(histogram)
            counted += histogram.total
    membership = harness.get("membership", [])
    due = sum(members_at(membership, room, sent) for _, sent in probe_seqs)
    # The harness's own messages in the observed room, by the second they were sent:
    # each one the observer saw was due at every harness member of the room.
    seconds = range(int(lo), int(hi - EDGE_S))
    sent_seen = {int(k): int(v) for k, v in observer.get("harness_sent", {}).items()}
    counted_by_second = {
        int(s): int(n) for s, r, n in harness.get("sent_deliveries", []) if r == room
    }
    messages_due = sum(sent_seen.get(s, 0) * members_at(membership, room, s) for s in seconds)
    messages_counted = sum(counted_by_second.get(s, 0) for s in seconds)
    theirs = Histogram.of(  # P2
        ms
        for second, values in observer.get("harness", {}).items()
        if lo <= int(second) < hi
        for ms in values
    )
    reported = View(  # P1
        "P1 the harness's report (its receivers, its own messages)",
        int(harness.get("fanout_samples") or 0),
        harness.get("fanout_p50_ms"),
        harness.get("fanout_p95_ms"),
    )
    views = [
        reported,
        View.of("P2 the observer on the harness's messages", theirs),
        View.of("P3 the harness's receivers on the observer's probes", seen),
        View.of("P4 the observer on its own probes", own),
    ]
    notes = [
        f"steady window {hi - lo} s; {len(probe_seqs)} probes sent in it, "
        f"{own.total} returned to the observer; {counted} probe deliveries counted by the "
        f"harness of {due} due; {messages_counted} deliveries of the harness's "
        f"{sum(sent_seen.get(s, 0) for s in seconds)} messages in {room} counted by the "
        f"harness of {messages_due} due"
    ]
    if own.total < MIN_PROBES or theirs.total == 0 or reported.samples == 0:
        notes.append(
            f"too few samples to judge (at least {MIN_PROBES} probes and some harness "
            "messages in the steady window)"
        )
        return Verdict(None, views, notes=notes)
    problems: list[str] = []
    yardstick = views[3]
    for view, side, blame in (
        (views[2], "receive side wrong", "the harness dates its receipts wrongly"),
        (views[1], "send side wrong", "the harness stamps its sends wrongly"),
        (reported, "reported latency wrong", "the harness's figures are not what was measured"),
    ):
        for name in ("p50", "p95"):
            ours, truth = getattr(view, name), getattr(yardstick, name)
            if ours is None or truth is None:
                problems.append(f"{side}: {view.label} has no {name}")
                continue
            bound = bound_ms(truth)
            if abs(ours - truth) > bound:
                problems.append(
                    f"{side}: {view.label.split(' ', 1)[1]} {name} {ours:.2f} ms against "
                    f"{truth:.2f} ms for the observer's own probes (difference "
                    f"{ours - truth:+.2f} ms, allowed +/-{bound:.2f} ms): {blame}"
                )
    for what, got, want in (
        (f"the observer's {len(probe_seqs)} probes", counted, due),
        ("the harness's own messages the observer saw", messages_counted, messages_due),
    ):
        if want > 0 and (want - got) / want > MISSING_SHARE:
            problems.append(
                f"receive side wrong: the harness's receivers counted {got} deliveries of "
                f"{what} where {want} were due ({(want - got) / want:.1%} missing): the "
                "harness loses messages"
            )
        elif got > want:
            problems.append(
                f"receive side wrong: the harness's receivers counted {got} deliveries of "
                f"{what} where {want} were due: it counts some twice"
            )
    return Verdict(not problems, views, problems, notes)


@dataclass(frozen=True)
class SelfCheck:
    harness: dict[str, Any]  # the runner's summary.json
    observer: dict[str, Any] | None  # the observer's JSON (None: ran without one)
    server_cpu_share: float  # the server process's CPU over the run, share of one core
    returncode: int  # chatrooms-load's exit code

    @property
    def verdict(self) -> Verdict:
        if self.observer is None:
            return Verdict(None, [], notes=["ran without the observer"])
        return judge(self.harness, self.observer)

    def describe(self) -> str:
        h = self.harness
        cpu = ", ".join(f"{c['process']} {c['share']:.0%}" for c in h.get("cpu", []))
        return (
            f"harness: {h.get('deliveries_per_s', 0):.0f} deliveries/s, generator CPU {cpu}, "
            f"server CPU {self.server_cpu_share:.0%}, saturation: "
            f"{'; '.join(h.get('saturation', [])) or 'none'}\n{self.verdict.describe()}"
        )


def run_self_check(
    scenario: str,
    locust_args: list[str],
    *,
    server_cmd: Sequence[str] | None = None,
    out: Path,
    timeout_s: float = 300.0,
    observe: bool = True,
    probe_rate: float = PROBE_RATE,
    server_cpus: str | None = None,
    generator_cpus: str | None = None,
    observer_cpus: str | None = None,
    env: Mapping[str, str] | None = None,
) -> SelfCheck:
    """Start a server (the reference server unless `server_cmd`), the observer in the
    scenario's room (unless `observe` is False) and chatrooms-load against the same
    server; return what each measured. The runner's output goes to
    OUT/chatrooms-load.log. `*_cpus` pin each process (taskset -c)."""
    import psutil  # type: ignore[import-untyped]

    from reference_server.testing import RunningServer

    server_env, note = plan_server(scenario, locust_args)
    if server_cmd is not None:
        note = "rate limits: those of the server started with --server-cmd"
    elif observe and int(server_env.get("WS_RATE_LIMIT_WINDOW_MS", "60000")) > 1000:
        # The observer is one more user: its probes must stay inside its allowance too.
        server_env["WS_RATE_LIMIT_WINDOW_MS"] = "1000"
        note = "rate limits: WS_RATE_LIMIT_WINDOW_MS=1000 (the self-check's observer probes)"
    server_env.update(env or {})
    out.mkdir(parents=True, exist_ok=True)
    observer_json = out / "observer.json"
    command = pinned(server_command(server_cmd), server_cpus)
    with RunningServer(server_env, command=command) as running:
        observer = None
        if observe:
            observer = subprocess.Popen(
                pinned(
                    [sys.executable, "-m", "chatrooms_load.observer", "--host", running.url,
                     "--room", OBSERVED_ROOM[scenario], "--seconds", str(timeout_s),
                     "--probe-rate", str(probe_rate), "--json", str(observer_json)],
                    observer_cpus,
                ),
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
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
                    pinned(
                        [sys.executable, "-m", "chatrooms_load.run", scenario, "--host",
                         running.url, "--out", str(out), "--rate-note", note, *locust_args],
                        generator_cpus,
                    ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout_s,
                    check=False,
                    env={**os.environ, **(env or {})},
                )  # fmt: skip
            cpu_after, wall_after = sum(server_process.cpu_times()[:2]), time.monotonic()
        finally:
            if observer is not None:
                observer.terminate()
                observer.communicate(timeout=30)
    harness = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seen = json.loads(observer_json.read_text(encoding="utf-8")) if observe else None
    share = (cpu_after - cpu_before) / max(wall_after - wall_before, 1e-9)
    return SelfCheck(harness, seen, share, done.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chatrooms_load.selfcheck",
        description="Run a scenario next to an independent observer and say whether the "
        "harness's send and receive stamps agree with it. Other flags go to chatrooms-load.",
    )
    parser.add_argument("scenario", choices=sorted(OBSERVED_ROOM))
    parser.add_argument(
        "--server-cmd",
        default=None,
        help="start this server instead of the reference server (it must print "
        "'listening on http://HOST:PORT ' and answer GET /websocket/health)",
    )
    parser.add_argument("--probe-rate", type=float, default=PROBE_RATE)
    parser.add_argument("--server-cpus", default=None, help="taskset -c list for the server")
    parser.add_argument("--generator-cpus", default=None, help="... for chatrooms-load")
    parser.add_argument("--observer-cpus", default=None, help="... for the observer")
    parser.add_argument("--out", default=None)
    args, locust_args = parser.parse_known_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="chatrooms-selfcheck-"))
    result = run_self_check(
        args.scenario,
        locust_args,
        server_cmd=None if args.server_cmd is None else shlex.split(args.server_cmd),
        out=out,
        probe_rate=args.probe_rate,
        server_cpus=args.server_cpus,
        generator_cpus=args.generator_cpus,
        observer_cpus=args.observer_cpus,
    )
    print(result.describe(), flush=True)
    print(f"self-check: reports in {out}/", flush=True)
    return {True: 0, False: 1, None: 2}[result.verdict.ok]


if __name__ == "__main__":
    sys.exit(main())
