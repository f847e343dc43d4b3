"""Planning a run against per-user rate limits (D21, D22)."""

from __future__ import annotations

import argparse

import pytest

from chatrooms_load.options import Workload, add_options, workload
from chatrooms_load.ratelimits import DEVELOPMENT, RateLimits, overruns, plan_window


@pytest.mark.parametrize(
    ("work", "window_ms", "says"),
    [
        # 0.5 msg/s is 30 per 60 s: enough senders, default window.
        (Workload(0.5, 0.0, 0.0), None, "default window kept"),
        # 10 msg/s is 600 per 60 s: shortened until 10 msg/s fits 80% of 60.
        (Workload(10.0, 0.0, 0.0), 2000, "WS_RATE_LIMIT_WINDOW_MS=2000"),
        # joins: 0.2/s is 12 per 60 s, under 16 (80% of 20).
        (Workload(0.2, 0.2, 0.0), None, "default window kept"),
        (Workload(0.5, 0.0, 2.0), 10_000, "120 per window, limit 120"),
        # 100 msg/s cannot fit 60 per 1000 ms: said, not hidden.
        (Workload(100.0, 0.0, 0.0), 1000, "expect 429s"),
    ],
)
def test_plan_window_says_which_choice_it_made(
    work: Workload, window_ms: int | None, says: str
) -> None:
    planned, sentence = plan_window(work)
    assert planned == window_ms
    assert says in sentence


def test_overruns_name_each_kind_over_its_allowance() -> None:
    assert overruns(Workload(2.0, 1.0, 0.0), DEVELOPMENT) == [
        "2 messages/s per user is 120 per window, limit 60",
        "1 joins/s per user is 60 per window, limit 20",
    ]


def test_limits_are_read_from_the_health_object() -> None:
    health = {
        "rateLimits": {
            "windowMs": 1000,
            "maxMessagesPerWindow": 30,
            "maxJoinsPerWindow": 10,
            "maxTypingEventsPerWindow": 60,
        }
    }
    assert RateLimits.from_health(health) == RateLimits(1000, 30, 10, 60)
    assert RateLimits.from_health({"status": "healthy"}) is None
    assert RateLimits.from_health({"rateLimits": {"windowMs": "x"}}) is None


@pytest.mark.parametrize(
    ("scenario", "argv", "expected"),
    [
        ("steady-chat", [], Workload(0.5, 0.0, 0.0)),
        ("steady-chat", ["--message-rate", "2"], Workload(2.0, 0.0, 0.0)),
        ("fan-out", [], Workload(10.0, 0.0, 0.0)),
        ("churn", ["--cycle-rate", "0.5"], Workload(0.5, 0.5, 0.0)),
        ("typing-storm", ["--typing-rate", "4"], Workload(1.0, 0.0, 4.0)),
    ],
)
def test_workload_follows_the_scenario_options(
    scenario: str, argv: list[str], expected: Workload
) -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    assert workload(scenario, parser.parse_args(argv)) == expected
