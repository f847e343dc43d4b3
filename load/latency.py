"""Latency bookkeeping: the probe each message carries, a mergeable histogram, and a
per-second timeline. Pure; no Locust, no gevent, so unit tests and the asyncio observer
import it freely.

Fan-out latency (issue 5) is the time from send to delivery at each receiver: the sender
writes its wall-clock send time into the message content, the receiver subtracts it from
its own receive time. On one machine that is one clock; across machines use the
sender's own `receiveMessage` echo, which compares the sender's clock with itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# The content of a load message: "load <sent_at> <sender> <seq> [padding]". Only
# characters that D13's HTML escaping leaves alone, so the content arrives unchanged.
PROBE_TAG = "load"
# The sender name of the self-check's observer (chatrooms_load.observer): its probes are
# stamped with the observer's clock, and the harness counts and times them apart.
OBSERVER_SENDER = "selfcheck-observer"


class Probe(NamedTuple):  # a tuple: built per delivery, a frozen dataclass costs 3x
    sent_at: float  # wall-clock seconds (time.time()) on the sender's machine
    sender: str
    seq: int


def encode_probe(sent_at: float, sender: str, seq: int, size: int = 0) -> str:
    text = f"{PROBE_TAG} {sent_at:.6f} {sender} {seq}"
    if len(text) < size:
        text += " " + "x" * (size - len(text) - 1)
    return text


def decode_probe(content: object) -> Probe | None:
    """The probe in a message's content, or None for a message the harness did not send."""
    if not isinstance(content, str) or not content.startswith(PROBE_TAG + " "):
        return None
    parts = content.split(" ", 4)
    if len(parts) < 4:
        return None
    try:
        return Probe(float(parts[1]), parts[2], int(parts[3]))
    except ValueError:
        return None


def bucket_us(ms: float) -> int:
    """The histogram key for a latency: microseconds rounded to 3 significant digits, so
    at most 0.5 % off (0.05 ms below 10 ms). Negative values (a send stamp later than the
    receive stamp: clocks that disagree) keep their sign, so a skew shows instead of
    hiding as 0 ms."""
    us = round(ms * 1000)
    if us < 0:
        return -bucket_us(-ms)
    if us < 1000:
        return us
    if us < 10_000:  # the common case, without the digit count below (per delivery)
        return round(us / 10) * 10
    scale: int = 10 ** (len(str(us)) - 3)
    return round(us / scale) * scale


@dataclass
class Histogram:
    """Counts of latencies by bucket; merges exactly, so workers' histograms add up."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0

    def record(self, ms: float) -> None:
        key = bucket_us(ms)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1

    def record_key(self, key: int) -> None:
        """record() for a latency already bucketed with bucket_us()."""
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1

    def merge(self, other: Histogram) -> None:
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        self.total += other.total

    def percentile(self, fraction: float) -> float | None:
        """The latency (ms) at or below which `fraction` of the samples lie; None if empty."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(fraction * self.total))
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                return key / 1000
        return max(self.counts) / 1000  # pragma: no cover - rank never exceeds total

    def to_wire(self) -> dict[str, int]:
        """A msgpack/JSON-friendly form (string keys) for worker reports."""
        return {str(k): v for k, v in self.counts.items()}

    @classmethod
    def from_wire(cls, data: Mapping[str, int]) -> Histogram:
        counts = {int(k): int(v) for k, v in data.items()}
        return cls(counts, sum(counts.values()))

    @classmethod
    def of(cls, samples_ms: Iterable[float]) -> Histogram:
        histogram = cls()
        for ms in samples_ms:
            histogram.record(ms)
        return histogram


@dataclass
class Second:
    """What happened in one wall-clock second: deliveries and their latencies."""

    deliveries: int = 0
    latency: Histogram = field(default_factory=Histogram)
    connects: int = 0


@dataclass
class Timeline:
    """Per-second deliveries and fan-out latency, keyed by int(time.time())."""

    seconds: dict[int, Second] = field(default_factory=dict)

    def delivery(self, at: float, latency_ms: float | None) -> None:
        self.delivery_key(at, None if latency_ms is None else bucket_us(latency_ms))

    def delivery_key(self, at: float, key: int | None) -> None:
        """delivery() with the latency already bucketed (bucket_us), or None."""
        second = self.seconds.get(int(at))
        if second is None:
            second = self.seconds[int(at)] = Second()
        second.deliveries += 1
        if key is not None:
            latency = second.latency
            latency.counts[key] = latency.counts.get(key, 0) + 1
            latency.total += 1

    def connected(self, at: float) -> None:
        self.seconds.setdefault(int(at), Second()).connects += 1

    def merge(self, other: Timeline) -> None:
        for key, theirs in other.seconds.items():
            ours = self.seconds.setdefault(key, Second())
            ours.deliveries += theirs.deliveries
            ours.latency.merge(theirs.latency)
            ours.connects += theirs.connects

    def drain(self) -> Timeline:
        """Hand over what was recorded so far and start afresh (for worker reports)."""
        out = Timeline(self.seconds)
        self.seconds = {}
        return out

    def to_wire(self) -> dict[str, list[object]]:
        return {
            str(k): [s.deliveries, s.latency.to_wire(), s.connects] for k, s in self.seconds.items()
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, list[Any]]) -> Timeline:
        out = cls()
        for key, (deliveries, latency, connects) in data.items():
            out.seconds[int(key)] = Second(
                int(deliveries), Histogram.from_wire(latency), int(connects)
            )
        return out

    def ramp_end(self, first: int, last: int) -> int:
        """The first second at or after `first` past the connection ramp: leading seconds
        with more than twice the run's median connects per second (and at least one)
        belong to the ramp (users still connecting), so they are not steady."""
        counts = [self.seconds[s].connects if s in self.seconds else 0 for s in range(first, last)]
        if not counts:
            return first
        median = sorted(counts)[len(counts) // 2]
        second = first
        for count in counts:
            if count <= 2 * median:
                break
            second += 1
        return second

    def rows(self) -> list[tuple[int, int, float | None, float | None, float | None]]:
        """(second, deliveries, p50, p95, p99) in time order, gaps filled with zeros."""
        if not self.seconds:
            return []
        first, last = min(self.seconds), max(self.seconds)
        out = []
        for key in range(first, last + 1):
            s = self.seconds.get(key, Second())
            out.append(
                (
                    key,
                    s.deliveries,
                    s.latency.percentile(0.5),
                    s.latency.percentile(0.95),
                    s.latency.percentile(0.99),
                )
            )
        return out
