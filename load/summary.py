"""What a run counted (Tally), the generator's own CPU (CpuReport), and the end summary
built from them. Pure: the Locust glue in chat_user.py fills these in, workers ship them
to the master with `to_wire()`, and unit tests build them by hand."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from chatrooms_load.latency import Histogram, Timeline

# A process that used this share of one core over the steady part of the run was the
# bottleneck itself: CPython runs one core per process, so it sent less than planned
# and read its sockets late.
SATURATED_CPU_SHARE = 0.90
# With --rx-timestamps user a delivery is timed when the client gets round to reading
# it, so the hub's lag (how late a greenlet that asked to sleep 0.1 s woke) is added to
# the latencies; past this p99 they no longer agree with an independent observer. With
# kernel timestamps the lag only delays sends, which the CPU share already tells.
SATURATED_LAG_MS = 5.0
# With kernel timestamps: a message that arrives while an older one on the same
# connection still waits unread is merged into it by the kernel, which stamps the merge
# with the newer arrival, so the older one is dated late. Past this share of deliveries
# dated late by more than 5 ms, the generator fell behind and its latencies lean high.
SATURATED_LATE_SHARE = 0.01
# ... counted only when the hub was late too: two messages under one kernel timestamp
# while the generator read promptly were written together by the server (a busy
# python-socketio server flushes a member's queue in one go), and neither is dated late.
# 8 ms, not 10: the self-check disagreed at fan-out 30,000/s with 2.5 % dated late and a
# hub lag p99 of 9.4 ms, which 10 ms let through (benchmarks/results/load/).
SATURATED_LATE_LAG_MS = 8.0
# The reads themselves (chatrooms_load.client's poller): a frame read more than 1 ms after
# the kernel stamped it waited unread that long, and a frame that waits is merged with the
# next arrival on its connection and dated by it. Past this share of the steady part's
# reads, enough deliveries may be dated late to move the reported p95.
SATURATED_SLOW_READ_SHARE = 0.05
SLOW_READ_MS = 1.0


@dataclass
class Tally:
    """Counts of one process (or, merged, of the whole run)."""

    deliveries: int = 0  # receiveMessage of a harness message, at any receiver
    timed: int = 0  # deliveries with a latency (their histograms are in the timeline)
    connect: Histogram = field(default_factory=Histogram)
    attempts: int = 0  # connects + client events that expect a response
    failures: int = 0  # failed connects and events, unexpected disconnects
    errors: Counter[str] = field(default_factory=Counter)  # by status code or kind
    expected_429: int = 0  # limits scenario: refusals it provoked on purpose
    over_limit: int = 0  # limits scenario: deliveries of messages refused with 429
    late_deliveries: int = 0  # dated > 5 ms late by the kernel: read after a later arrival
    bursts: int = 0  # limits scenario: bursts sent over the limit
    bursts_unanswered: int = 0  # ... not fully answered within their timeout: never judged
    bursts_outlasted: int = 0  # ... answered after their window ended: inconclusive
    disconnects: int = 0  # the server or the network ended a session
    client_disconnects: int = 0  # the harness ended a session (churn, end of run)
    events: Counter[str] = field(default_factory=Counter)  # other server events received
    timeline: Timeline = field(default_factory=Timeline)
    # The self-check's observer probes (sender OBSERVER_SENDER), kept out of the figures
    # above: per probe seq, the latencies the harness's receivers saw (total = count).
    probes: dict[int, Histogram] = field(default_factory=dict)
    # (time, room, +1 joined / -1 left or disconnected): who was in which room when, so
    # the self-check knows how many of the harness's receivers each probe should reach.
    membership: list[tuple[float, str, int]] = field(default_factory=list)
    # Deliveries of the harness's own messages by (second they were sent, room): the
    # self-check compares them with the messages the observer saw in its room.
    sent_deliveries: Counter[tuple[int, str]] = field(default_factory=Counter)
    # Per second: [frames read with a kernel timestamp, read > 1 ms after it, > 5 ms].
    reads: dict[int, list[int]] = field(default_factory=dict)

    def add_reads(self, seconds: dict[int, list[int]]) -> None:
        for second, counts in seconds.items():
            ours = self.reads.setdefault(second, [0, 0, 0])
            for i, n in enumerate(counts):
                ours[i] += n

    def probe(self, seq: int, latency_ms: float) -> None:
        histogram = self.probes.get(seq)
        if histogram is None:
            histogram = self.probes[seq] = Histogram()
        histogram.record(latency_ms)

    def error(self, code: str) -> None:
        self.failures += 1
        self.errors[code] += 1

    def merge(self, other: Tally) -> None:
        self.deliveries += other.deliveries
        self.timed += other.timed
        self.connect.merge(other.connect)
        self.attempts += other.attempts
        self.failures += other.failures
        self.errors.update(other.errors)
        self.expected_429 += other.expected_429
        self.over_limit += other.over_limit
        self.late_deliveries += other.late_deliveries
        self.bursts += other.bursts
        self.bursts_unanswered += other.bursts_unanswered
        self.bursts_outlasted += other.bursts_outlasted
        self.disconnects += other.disconnects
        self.client_disconnects += other.client_disconnects
        self.events.update(other.events)
        self.timeline.merge(other.timeline)
        for seq, histogram in other.probes.items():
            self.probes.setdefault(seq, Histogram()).merge(histogram)
        self.membership.extend(other.membership)
        self.sent_deliveries.update(other.sent_deliveries)
        self.add_reads(other.reads)

    def drain(self) -> Tally:
        """Hand over everything counted so far and start from zero (worker reports)."""
        out = Tally()
        out.merge(self)
        self.__init__()  # type: ignore[misc]
        return out

    def to_wire(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "timed": self.timed,
            "connect": self.connect.to_wire(),
            "attempts": self.attempts,
            "failures": self.failures,
            "errors": dict(self.errors),
            "expected_429": self.expected_429,
            "over_limit": self.over_limit,
            "late_deliveries": self.late_deliveries,
            "bursts": [self.bursts, self.bursts_unanswered, self.bursts_outlasted],
            "disconnects": self.disconnects,
            "client_disconnects": self.client_disconnects,
            "events": dict(self.events),
            "timeline": self.timeline.to_wire(),
            "probes": {str(seq): h.to_wire() for seq, h in self.probes.items()},
            "membership": [list(entry) for entry in self.membership],
            "sent_deliveries": [[s, room, n] for (s, room), n in self.sent_deliveries.items()],
            "reads": {str(s): counts for s, counts in self.reads.items()},
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Tally:
        return cls(
            deliveries=data["deliveries"],
            timed=data["timed"],
            connect=Histogram.from_wire(data["connect"]),
            attempts=data["attempts"],
            failures=data["failures"],
            errors=Counter(data["errors"]),
            expected_429=data["expected_429"],
            over_limit=data["over_limit"],
            late_deliveries=data["late_deliveries"],
            bursts=data.get("bursts", [0, 0, 0])[0],
            bursts_unanswered=data.get("bursts", [0, 0, 0])[1],
            bursts_outlasted=data.get("bursts", [0, 0, 0])[2],
            disconnects=data["disconnects"],
            client_disconnects=data["client_disconnects"],
            events=Counter(data["events"]),
            timeline=Timeline.from_wire(data["timeline"]),
            probes={int(k): Histogram.from_wire(v) for k, v in data.get("probes", {}).items()},
            membership=[(float(t), str(r), int(d)) for t, r, d in data.get("membership", [])],
            sent_deliveries=Counter(
                {(int(s), str(room)): int(n) for s, room, n in data.get("sent_deliveries", [])}
            ),
            reads={int(s): [int(n) for n in c] for s, c in data.get("reads", {}).items()},
        )


@dataclass(frozen=True)
class CpuReport:
    """One generator process: CPU seconds used over wall seconds, and how late the gevent
    hub woke a greenlet that asked to sleep 0.1 s (p99, ms)."""

    process: str
    cpu_s: float
    wall_s: float
    lag_p99_ms: float | None

    @property
    def share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def saturation(self, *, user_timestamps: bool = False) -> str | None:
        """Why this process's numbers measure the generator, or None."""
        reasons = []
        if self.share >= SATURATED_CPU_SHARE:
            reasons.append(f"CPU {self.share:.0%} of one core")
        lag = self.lag_p99_ms
        if user_timestamps and lag is not None and lag >= SATURATED_LAG_MS:
            reasons.append(f"hub lag p99 {lag:.1f} ms with user-space receive timestamps")
        return f"{self.process}: " + ", ".join(reasons) if reasons else None


@dataclass(frozen=True)
class Summary:
    scenario: str
    steady_s: float
    deliveries: int
    deliveries_per_s: float
    peak_deliveries_per_s: int
    fanout_samples: int
    fanout_p50_ms: float | None
    fanout_p95_ms: float | None
    fanout_p99_ms: float | None
    connect_p95_ms: float | None
    attempts: int
    failures: int
    error_ratio: float
    errors_by_code: dict[str, int]
    expected_429: int
    over_limit: int
    late_deliveries: int
    disconnects: int
    client_disconnects: int
    events: dict[str, int]
    cpu: list[CpuReport]
    saturation: list[str]
    notes: list[str]
    timeline: list[tuple[int, int, float | None, float | None, float | None]]
    steady_from: int | None = None  # the steady window [steady_from, steady_to), seconds
    steady_to: int | None = None
    probes: dict[str, dict[str, int]] = field(default_factory=dict)  # seq -> histogram
    membership: list[tuple[float, str, int]] = field(default_factory=list)
    sent_deliveries: list[tuple[int, str, int]] = field(default_factory=list)
    bursts: int = 0  # limits: bursts sent, not fully answered in time, outlasting the window
    bursts_unanswered: int = 0
    bursts_outlasted: int = 0
    # Over the steady part: frames read with a kernel timestamp, read > 1 ms after it, > 5 ms.
    reads: tuple[int, int, int] = (0, 0, 0)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpu"] = [{**asdict(c), "share": round(c.share, 4)} for c in self.cpu]
        return out


def summarize(
    scenario: str,
    tally: Tally,
    cpu: list[CpuReport],
    *,
    steady_from: int | None,
    steady_to: int | None,
    notes: list[str] | None = None,
    user_timestamps: bool = False,
) -> Summary:
    """Deliveries/s and fan-out percentiles over the steady part of the run: the whole
    seconds from `steady_from` (the first after all users spawned) up to `steady_to`
    (when the test stopped). A run with no whole steady second uses every second from
    its first delivery to its last."""
    rows = tally.timeline.seconds
    steady: list[int] = []
    if steady_from is not None and steady_to is not None:
        steady = list(range(tally.timeline.ramp_end(steady_from, steady_to), steady_to))
    window = steady or (list(range(min(rows), max(rows) + 1)) if rows else [])
    latency = Histogram()
    delivered = 0
    reads = [0, 0, 0]
    for second in window:
        if second in rows:
            latency.merge(rows[second].latency)
            delivered += rows[second].deliveries
        for i, n in enumerate(tally.reads.get(second, ())):
            reads[i] += n
    saturation = [
        reason for report in cpu if (reason := report.saturation(user_timestamps=user_timestamps))
    ]
    timed = tally.timed
    lag = max((r.lag_p99_ms for r in cpu if r.lag_p99_ms is not None), default=None)
    behind = lag is None or lag >= SATURATED_LATE_LAG_MS
    if timed and behind and tally.late_deliveries / timed >= SATURATED_LATE_SHARE:
        late = (
            f"{tally.late_deliveries / timed:.1%} of deliveries were read after a message "
            "sent over 5 ms later had arrived, so the kernel dated them late"
        )
        if cpu and all(report.share < 0.6 for report in cpu):
            # Behind without using its core: other processes held the CPU.
            late += " while the generator had CPU to spare (a busy machine?)"
        saturation.append(late)
    if reads[0] and reads[1] / reads[0] >= SATURATED_SLOW_READ_SHARE:
        saturation.append(
            f"{reads[1] / reads[0]:.1%} of frames were read over {SLOW_READ_MS:g} ms after they "
            f"arrived ({reads[2] / reads[0]:.1%} over 5 ms): a frame that waits unread is dated "
            "by the next one to arrive on its connection"
        )
    return Summary(
        scenario=scenario,
        steady_s=float(len(steady)),
        deliveries=tally.deliveries,
        deliveries_per_s=delivered / len(window) if window else 0.0,
        peak_deliveries_per_s=max((rows[s].deliveries for s in window if s in rows), default=0),
        fanout_samples=latency.total,
        fanout_p50_ms=latency.percentile(0.50),
        fanout_p95_ms=latency.percentile(0.95),
        fanout_p99_ms=latency.percentile(0.99),
        connect_p95_ms=tally.connect.percentile(0.95),
        attempts=tally.attempts,
        failures=tally.failures,
        error_ratio=tally.failures / tally.attempts if tally.attempts else 0.0,
        errors_by_code=dict(sorted(tally.errors.items())),
        expected_429=tally.expected_429,
        over_limit=tally.over_limit,
        late_deliveries=tally.late_deliveries,
        disconnects=tally.disconnects,
        client_disconnects=tally.client_disconnects,
        events=dict(sorted(tally.events.items())),
        cpu=cpu,
        saturation=saturation,
        notes=list(notes or []),
        timeline=tally.timeline.rows(),
        steady_from=window[0] if window else None,
        steady_to=window[-1] + 1 if window else None,
        probes={str(seq): h.to_wire() for seq, h in sorted(tally.probes.items())},
        membership=sorted(tally.membership),
        bursts=tally.bursts,
        bursts_unanswered=tally.bursts_unanswered,
        bursts_outlasted=tally.bursts_outlasted,
        sent_deliveries=sorted((s, room, n) for (s, room), n in tally.sent_deliveries.items()),
        reads=(reads[0], reads[1], reads[2]),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _cpu(report: CpuReport) -> str:
    details = []
    if report.lag_p99_ms is not None:
        details.append(f"hub lag p99 {report.lag_p99_ms:.1f} ms")
    return f"{report.process} {report.share:.0%}" + (f" ({', '.join(details)})" if details else "")


def format_summary(summary: Summary) -> str:
    """The block printed at the end of a run."""
    s = summary
    errors = ", ".join(f"{code}: {n}" for code, n in s.errors_by_code.items()) or "none"
    cpu = ", ".join(_cpu(c) for c in s.cpu)
    lines = [
        f"=== chatrooms-load summary: {s.scenario} ===",
        f"deliveries/s      {s.deliveries_per_s:.1f} (steady {s.steady_s:.0f} s; peak "
        f"{s.peak_deliveries_per_s}/s; {s.deliveries} receiveMessage deliveries in all)",
        f"fan-out latency   p50 {_ms(s.fanout_p50_ms)}  p95 {_ms(s.fanout_p95_ms)}  "
        f"p99 {_ms(s.fanout_p99_ms)}  ({s.fanout_samples} samples, "
        f"{s.late_deliveries} dated late by a slow read)",
        f"connect           p95 {_ms(s.connect_p95_ms)}",
        *(
            [
                f"reads             {s.reads[0]} frames in the steady part, "
                f"{s.reads[1] / s.reads[0]:.1%} read > 1 ms after they arrived, "
                f"{s.reads[2] / s.reads[0]:.1%} > 5 ms"
            ]
            if s.reads[0]
            else []
        ),
        f"errors by code    {errors} ({s.failures} of {s.attempts} connects and events, "
        f"ratio {s.error_ratio:.4f})",
        f"disconnects       {s.disconnects} unexpected, {s.client_disconnects} by the harness",
    ]
    if s.expected_429 or s.over_limit:
        lines.append(
            f"rate limits       {s.expected_429} expected 429s; "
            f"{s.over_limit} messages delivered over the limit"
        )
    if s.bursts:
        judged = s.bursts - s.bursts_unanswered - s.bursts_outlasted
        lines.append(
            f"limit bursts      {s.bursts} sent: {judged} judged, {s.bursts_unanswered} not "
            f"fully answered within their timeout, {s.bursts_outlasted} answered after "
            "their window (those two are not judged)"
        )
    if s.events:
        lines.append(
            "other events      " + ", ".join(f"{name}: {n}" for name, n in s.events.items())
        )
    lines.append(f"generator CPU     {cpu or '-'}")
    lines.extend(f"note              {note}" for note in s.notes)
    for reason in s.saturation:
        lines.append(
            f"WARNING: load generator saturated ({reason}): its numbers measure the "
            "generator, not the server; add processes (--processes N) or workers, or "
            "free the machine"
        )
    return "\n".join(lines)
