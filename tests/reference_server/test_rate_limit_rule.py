"""D21/D22 fixed windows per user and kind, on the synchronous rule (no event loop here,
so freezegun may move the clock the RateLimiter reads)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from reference_server.clock import SystemClock
from reference_server.rate_limit import (
    DEVELOPMENT,
    PRODUCTION,
    Kind,
    Limits,
    RateLimiter,
    Window,
    count_event,
    limits_for,
)

WINDOW_MS = 60_000  # D22: "`windowMs` is 60000"

# doc table "Rate Limiting": (environment limits, kind, per minute).
LIMIT_TABLE = [
    pytest.param(PRODUCTION, Kind.MESSAGES, 30, id="production-messages"),
    pytest.param(PRODUCTION, Kind.JOINS, 10, id="production-joins"),
    pytest.param(PRODUCTION, Kind.TYPING, 60, id="production-typing"),
    pytest.param(DEVELOPMENT, Kind.MESSAGES, 60, id="development-messages"),
    pytest.param(DEVELOPMENT, Kind.JOINS, 20, id="development-joins"),
    pytest.param(DEVELOPMENT, Kind.TYPING, 120, id="development-typing"),
]


@pytest.fixture
def frozen(no_server_running: None) -> Iterator[FrozenDateTimeFactory]:
    with freeze_time("2026-11-25T19:43:25.123Z") as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)
        yield frozen


def allowed(limiter: RateLimiter, user: str, kind: Kind, times: int) -> int:
    return sum(limiter.allow(user, kind) for _ in range(times))


@pytest.mark.parametrize(("limits", "kind", "limit"), LIMIT_TABLE)
def test_the_documented_limits_per_environment_and_kind(
    limits: Limits, kind: Kind, limit: int
) -> None:
    assert limits.of(kind) == limit


@pytest.mark.parametrize(("production", "limits"), [(True, PRODUCTION), (False, DEVELOPMENT)])
def test_limits_for_picks_the_environment_table(production: bool, limits: Limits) -> None:
    assert limits_for(production=production) is limits


@pytest.mark.parametrize(("limits", "kind", "limit"), LIMIT_TABLE)
def test_the_limit_passes_and_limit_plus_one_is_refused(
    frozen: FrozenDateTimeFactory, limits: Limits, kind: Kind, limit: int
) -> None:
    limiter = RateLimiter(limits, WINDOW_MS, SystemClock())
    assert allowed(limiter, "alice", kind, limit) == limit
    assert limiter.allow("alice", kind) is False
    assert limiter.allow("alice", kind) is False  # refusals do not open a new window


@pytest.mark.parametrize(("limits", "kind", "limit"), LIMIT_TABLE)
def test_the_full_allowance_returns_when_the_window_ends(
    frozen: FrozenDateTimeFactory, limits: Limits, kind: Kind, limit: int
) -> None:
    limiter = RateLimiter(limits, WINDOW_MS, SystemClock())
    assert allowed(limiter, "alice", kind, limit + 1) == limit
    frozen.tick(timedelta(milliseconds=WINDOW_MS - 1))
    assert limiter.allow("alice", kind) is False, "the window is still open 1 ms before its end"
    frozen.tick(timedelta(milliseconds=1))
    assert allowed(limiter, "alice", kind, limit + 1) == limit


def test_the_window_starts_at_the_first_counted_event_not_at_a_fixed_boundary(
    frozen: FrozenDateTimeFactory,
) -> None:
    limiter = RateLimiter(PRODUCTION, WINDOW_MS, SystemClock())
    frozen.tick(timedelta(seconds=45))  # idle time before the first event does not count
    assert allowed(limiter, "alice", Kind.JOINS, 10) == 10
    frozen.tick(timedelta(seconds=30))  # past a minute boundary, inside the window
    assert limiter.allow("alice", Kind.JOINS) is False
    frozen.tick(timedelta(seconds=30))  # 60 s after the first counted event
    assert limiter.allow("alice", Kind.JOINS) is True


def test_events_spread_over_the_window_still_count_in_it(frozen: FrozenDateTimeFactory) -> None:
    limiter = RateLimiter(PRODUCTION, WINDOW_MS, SystemClock())
    for _ in range(10):
        assert limiter.allow("alice", Kind.JOINS) is True
        frozen.tick(timedelta(seconds=5))  # the tenth lands at 45 s
    assert limiter.allow("alice", Kind.JOINS) is False  # 50 s: same window


def test_users_have_independent_windows(frozen: FrozenDateTimeFactory) -> None:
    limiter = RateLimiter(PRODUCTION, WINDOW_MS, SystemClock())
    assert allowed(limiter, "alice", Kind.MESSAGES, 31) == 30
    assert allowed(limiter, "bob", Kind.MESSAGES, 31) == 30
    frozen.tick(timedelta(seconds=30))
    assert allowed(limiter, "carol", Kind.MESSAGES, 30) == 30
    frozen.tick(timedelta(seconds=30))  # alice's and bob's windows end, carol's does not
    assert limiter.allow("alice", Kind.MESSAGES) is True
    assert limiter.allow("carol", Kind.MESSAGES) is False


def test_kinds_have_independent_windows(frozen: FrozenDateTimeFactory) -> None:
    limiter = RateLimiter(PRODUCTION, WINDOW_MS, SystemClock())
    assert allowed(limiter, "alice", Kind.JOINS, 11) == 10
    assert allowed(limiter, "alice", Kind.MESSAGES, 31) == 30
    assert allowed(limiter, "alice", Kind.TYPING, 61) == 60


def test_a_shortened_window_from_the_settings_is_the_one_enforced(
    frozen: FrozenDateTimeFactory,
) -> None:
    limiter = RateLimiter(DEVELOPMENT, 500, SystemClock())  # D22: WS_RATE_LIMIT_WINDOW_MS=500
    assert allowed(limiter, "alice", Kind.JOINS, 21) == 20
    frozen.tick(timedelta(milliseconds=499))
    assert limiter.allow("alice", Kind.JOINS) is False
    frozen.tick(timedelta(milliseconds=1))
    assert limiter.allow("alice", Kind.JOINS) is True


def test_ended_windows_are_pruned_without_changing_any_decision(
    frozen: FrozenDateTimeFactory,
) -> None:
    limiter = RateLimiter(PRODUCTION, WINDOW_MS, SystemClock())
    assert allowed(limiter, "old", Kind.JOINS, 11) == 10
    frozen.tick(timedelta(seconds=61))
    for n in range(RateLimiter._PRUNE_EVERY):
        assert limiter.allow(f"user-{n}", Kind.TYPING) is True
    assert ("old", Kind.JOINS) not in limiter._windows
    assert allowed(limiter, "old", Kind.JOINS, 11) == 10


# The pure rule itself: (window before, now, limit, window after or None when refused).
@pytest.mark.parametrize(
    ("before", "now", "limit", "after"),
    [
        pytest.param(None, 5.0, 3, Window(5.0, 1), id="first event opens the window"),
        pytest.param(Window(5.0, 1), 6.0, 3, Window(5.0, 2), id="second counts in it"),
        pytest.param(Window(5.0, 2), 64.9, 3, Window(5.0, 3), id="the limit passes"),
        pytest.param(Window(5.0, 3), 64.9, 3, None, id="limit plus one is refused"),
        pytest.param(Window(5.0, 3), 65.0, 3, Window(65.0, 1), id="a new window at its end"),
        pytest.param(Window(5.0, 1), 500.0, 3, Window(500.0, 1), id="long after"),
        pytest.param(None, 0.0, 0, None, id="a zero limit refuses everything"),
    ],
)
def test_count_event_is_a_fixed_window_from_the_first_counted_event(
    before: Window | None, now: float, limit: int, after: Window | None
) -> None:
    assert count_event(before, now, 60.0, limit) == after
