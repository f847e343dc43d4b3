"""Planning a run against per-user rate limits (D21, D22). Pure.

Throughput runs against the reference server meet real per-user limits (development: 60
messages, 20 joins, 120 typing events per window). A run either uses enough senders, so
each stays under its allowance in the default 60 s window, or the runner starts the
reference server with a shorter WS_RATE_LIMIT_WINDOW_MS; the output says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatrooms_fixtures.configuration import DEFAULT_WINDOW_MS, RATE_LIMITS
from chatrooms_load.options import Workload

# A user planned to use more than this share of an allowance risks a 429 from jitter.
HEADROOM = 0.8
SHORTER_WINDOWS_MS = (10_000, 5_000, 2_000, 1_000)


@dataclass(frozen=True)
class RateLimits:
    window_ms: int
    messages: int
    joins: int
    typing: int

    @classmethod
    def from_health(cls, health: Mapping[str, Any]) -> RateLimits | None:
        """D22: the window in force, as GET /websocket/health reports it."""
        limits = health.get("rateLimits")
        if not isinstance(limits, Mapping):
            return None
        try:
            return cls(
                int(limits["windowMs"]),
                int(limits["maxMessagesPerWindow"]),
                int(limits["maxJoinsPerWindow"]),
                int(limits["maxTypingEventsPerWindow"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def with_window(self, window_ms: int) -> RateLimits:
        return RateLimits(window_ms, self.messages, self.joins, self.typing)

    def describe(self) -> str:
        return (
            f"{self.messages} messages, {self.joins} joins, {self.typing} typing "
            f"per {self.window_ms} ms per user"
        )


# D21: the development limits of the document's table, in the default window (D22).
DEVELOPMENT = RateLimits(
    DEFAULT_WINDOW_MS,
    RATE_LIMITS["development"]["sendMessage"],
    RATE_LIMITS["development"]["joinRoom"],
    RATE_LIMITS["development"]["typing"],
)


def overruns(work: Workload, limits: RateLimits, headroom: float = HEADROOM) -> list[str]:
    """Each kind a user of this workload would send more of per window than allowed."""
    window_s = limits.window_ms / 1000
    out = []
    for kind, rate, limit in (
        ("messages", work.messages_per_s, limits.messages),
        ("joins", work.joins_per_s, limits.joins),
        ("typing", work.typing_per_s, limits.typing),
    ):
        planned = rate * window_s
        if planned > headroom * limit:
            out.append(f"{rate:g} {kind}/s per user is {planned:g} per window, limit {limit}")
    return out


def plan_window(work: Workload, limits: RateLimits = DEVELOPMENT) -> tuple[int | None, str]:
    """The WS_RATE_LIMIT_WINDOW_MS to start the reference server with (None: leave the
    default), and the sentence the runner prints about it."""
    if not overruns(work, limits):
        return None, (
            f"rate limits: default window kept ({limits.describe()}); enough senders: "
            f"{_rates(work)} per user stays under {HEADROOM:.0%} of each allowance"
        )
    reasons = "; ".join(overruns(work, limits))
    for window_ms in SHORTER_WINDOWS_MS:
        if window_ms < limits.window_ms and not overruns(work, limits.with_window(window_ms)):
            shorter = limits.with_window(window_ms)
            return window_ms, (
                f"rate limits: WS_RATE_LIMIT_WINDOW_MS={window_ms} (shortened from "
                f"{limits.window_ms} because {reasons}); now {shorter.describe()}"
            )
    window_ms = SHORTER_WINDOWS_MS[-1]
    return window_ms, (
        f"rate limits: WS_RATE_LIMIT_WINDOW_MS={window_ms}, and still {reasons}: expect 429s, "
        "which this run counts as errors; lower the rate or add users"
    )


def _rates(work: Workload) -> str:
    parts = [
        f"{rate:g} {kind}/s"
        for kind, rate in (
            ("messages", work.messages_per_s),
            ("joins", work.joins_per_s),
            ("typing", work.typing_per_s),
        )
        if rate
    ]
    return ", ".join(parts) or "no limited events"
