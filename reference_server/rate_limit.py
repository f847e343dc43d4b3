"""Per-user, per-kind fixed-window rate limits (doc: "Rate Limiting"; D21, D22)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from chatrooms_fixtures.configuration import RATE_LIMITS
from reference_server.clock import Clock


class Kind(StrEnum):
    """The limited kinds, named by the client event they count (D21)."""

    MESSAGES = "sendMessage"
    JOINS = "joinRoom"
    TYPING = "typing"


@dataclass(frozen=True)
class Limits:
    messages: int
    joins: int
    typing: int

    def of(self, kind: Kind) -> int:
        return {Kind.MESSAGES: self.messages, Kind.JOINS: self.joins, Kind.TYPING: self.typing}[
            kind
        ]


def _limits(environment: str) -> Limits:
    table = RATE_LIMITS[environment]  # the document's table, from the contract
    return Limits(messages=table[Kind.MESSAGES], joins=table[Kind.JOINS], typing=table[Kind.TYPING])


PRODUCTION = _limits("production")
DEVELOPMENT = _limits("development")


def limits_for(*, production: bool) -> Limits:
    return PRODUCTION if production else DEVELOPMENT


@dataclass(frozen=True)
class Window:
    started: float
    count: int


def count_event(window: Window | None, now: float, window_s: float, limit: int) -> Window | None:
    """Count one event; return the updated window, or None when the event is over the limit.

    D21: a fixed window that starts at the first counted event; when it ends the
    full allowance returns.
    """
    if window is None or now - window.started >= window_s:
        window = Window(started=now, count=0)
    if window.count >= limit:
        return None
    return Window(started=window.started, count=window.count + 1)


class Limiter(Protocol):
    """What the handlers ask (D10, D21): may this user's event of this kind be counted?"""

    limits: Limits

    async def admit(self, user_id: str, kind: Kind) -> bool:
        """Count the event and return True, or return False (over the limit, no effect)."""
        ...


class RateLimiter:
    """Holds one window per (user, kind) in this process. `allow` never awaits, so no two
    events interleave. (A cluster shares one window per user and kind instead: D33,
    cluster.RedisRateLimiter.)"""

    _PRUNE_EVERY = 4096

    def __init__(self, limits: Limits, window_ms: int, clock: Clock) -> None:
        self.limits = limits
        self.window_s = window_ms / 1000
        self._clock = clock
        self._windows: dict[tuple[str, Kind], Window] = {}
        self._checks = 0

    async def admit(self, user_id: str, kind: Kind) -> bool:
        return self.allow(user_id, kind)

    def allow(self, user_id: str, kind: Kind) -> bool:
        now = self._clock.monotonic()
        key = (user_id, kind)
        updated = count_event(self._windows.get(key), now, self.window_s, self.limits.of(kind))
        if updated is None:
            return False
        self._windows[key] = updated
        self._checks += 1
        if self._checks % self._PRUNE_EVERY == 0:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        # Windows outlive a user's sockets (reconnecting must not reset a limit),
        # so ended windows are dropped here instead of on disconnect.
        ended = [k for k, w in self._windows.items() if now - w.started >= self.window_s]
        for key in ended:
            del self._windows[key]
