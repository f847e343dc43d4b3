"""Threshold logic: which threshold a run missed, and by how much."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from chatrooms_load.options import add_options
from chatrooms_load.summary import CpuReport, Summary
from chatrooms_load.thresholds import Thresholds, check, format_breaches

RUN = Summary(
    scenario="steady-chat",
    steady_s=10.0,
    deliveries=40_000,
    deliveries_per_s=4000.0,
    peak_deliveries_per_s=4400,
    fanout_samples=40_000,
    fanout_p50_ms=4.0,
    fanout_p95_ms=40.0,
    fanout_p99_ms=120.0,
    connect_p95_ms=80.0,
    attempts=1000,
    failures=20,
    error_ratio=0.02,
    errors_by_code={"429": 20},
    expected_429=0,
    over_limit=0,
    late_deliveries=0,
    disconnects=0,
    client_disconnects=50,
    events={},
    cpu=[CpuReport("local", 4.0, 10.0, 1.0)],
    saturation=[],
    notes=[],
    timeline=[],
)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (Thresholds(), []),
        (Thresholds(min_deliveries_per_s=4000), []),
        (
            Thresholds(min_deliveries_per_s=5000),
            ["deliveries/s 4000.0 is below the minimum 5000 by 1000.0 (20.0%)"],
        ),
        (Thresholds(max_fanout_p95_ms=40), []),
        (
            Thresholds(max_fanout_p95_ms=25),
            ["fan-out p95 40.0 ms exceeds the maximum 25 ms by 15.0 ms"],
        ),
        (
            Thresholds(max_fanout_p99_ms=100),
            ["fan-out p99 120.0 ms exceeds the maximum 100 ms by 20.0 ms"],
        ),
        (Thresholds(max_error_ratio=0.02), []),
        (
            Thresholds(max_error_ratio=0.01),
            ["error ratio 0.0200 (20 of 1000) exceeds the maximum 0.01 by 0.0100"],
        ),
        (
            Thresholds(min_deliveries_per_s=5000, max_fanout_p99_ms=100, max_error_ratio=0),
            [
                "deliveries/s 4000.0 is below the minimum 5000 by 1000.0 (20.0%)",
                "fan-out p99 120.0 ms exceeds the maximum 100 ms by 20.0 ms",
                "error ratio 0.0200 (20 of 1000) exceeds the maximum 0 by 0.0200",
            ],
        ),
    ],
)
def test_each_missed_threshold_says_by_how_much(limits: Thresholds, expected: list[str]) -> None:
    assert [breach.message for breach in check(RUN, limits)] == expected


def test_a_latency_threshold_with_nothing_delivered_is_missed() -> None:
    silent = replace(RUN, fanout_p95_ms=None, fanout_p99_ms=None, fanout_samples=0)
    (breach,) = check(silent, Thresholds(max_fanout_p99_ms=100))
    assert breach.threshold == "max-fanout-p99-ms"
    assert "not measured" in breach.message


def test_saturation_fails_the_run_only_when_asked() -> None:
    saturated = replace(RUN, saturation=["local: CPU 97% of one core"])
    assert check(saturated, Thresholds()) == []
    (breach,) = check(saturated, Thresholds(fail_on_saturation=True))
    assert "CPU 97%" in breach.message


def test_breaches_print_one_line_each_naming_the_threshold() -> None:
    text = format_breaches(check(RUN, Thresholds(min_deliveries_per_s=5000, max_fanout_p99_ms=1)))
    assert text.splitlines() == [
        "THRESHOLD MISSED (min-deliveries-per-s): deliveries/s 4000.0 is below the minimum "
        "5000 by 1000.0 (20.0%)",
        "THRESHOLD MISSED (max-fanout-p99-ms): fan-out p99 120.0 ms exceeds the maximum 1 ms "
        "by 119.0 ms",
    ]
    assert format_breaches([], Thresholds(max_fanout_p99_ms=100)) == "thresholds: all met"


def test_a_run_without_thresholds_says_so_instead_of_all_met() -> None:
    assert format_breaches([], Thresholds()) == "thresholds: no thresholds set"
    assert format_breaches([], Thresholds(fail_on_saturation=True)) == "thresholds: all met"


def test_thresholds_come_from_the_command_line_options() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    options = parser.parse_args(
        [
            "--min-deliveries-per-s",
            "5000",
            "--max-fanout-p99-ms",
            "100",
            "--max-error-ratio",
            "0.01",
            "--fail-on-saturation",
        ]
    )
    assert Thresholds.from_options(options) == Thresholds(
        min_deliveries_per_s=5000,
        max_fanout_p95_ms=None,
        max_fanout_p99_ms=100,
        max_error_ratio=0.01,
        fail_on_saturation=True,
    )


def test_limits_bursts_left_unanswered_fail_the_run_past_a_small_share() -> None:
    few = replace(RUN, bursts=100, bursts_unanswered=5)
    assert check(few, Thresholds()) == []
    many = replace(RUN, bursts=100, bursts_unanswered=6)
    (breach,) = check(many, Thresholds())
    assert breach.threshold == "unanswered-bursts"
    assert breach.message.startswith("6 of 100 bursts over the limit (6%) were not fully")
