"""A short headless smoke of every scenario against the reference server (`tox -e load`):
each one must run without an error, deliver messages and meet loose thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.load.conftest import LOOSE_THRESHOLDS, needs_load_extra

pytestmark = needs_load_extra


SMOKE = {
    "steady-chat": ["-u", "10", "-r", "10", "-t", "4s", "--rooms", "2", "--message-rate", "2"],
    "fan-out": ["-u", "10", "-r", "10", "-t", "4s", "--senders", "2", "--message-rate", "5"],
    "churn": [
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        "5s",
        "--cycle-rate",
        "0.5",
        "--dwell",
        "0.5",
        "--rooms",
        "2",
    ],
    "typing-storm": ["-u", "8", "-r", "8", "-t", "4s", "--rooms", "2", "--typing-rate", "4"],
    "limits": ["-u", "3", "-r", "3", "-t", "5s"],
}


@pytest.mark.parametrize("scenario", list(SMOKE))
def test_scenario_runs_delivers_and_meets_loose_thresholds(run_load: Any, scenario: str) -> None:
    run = run_load([scenario, *SMOKE[scenario], *LOOSE_THRESHOLDS])
    assert run.returncode == 0, run.explain()
    summary = run.summary
    assert summary["deliveries"] > 0, run.explain()
    assert summary["failures"] == 0 and summary["disconnects"] == 0, run.explain()
    assert summary["breaches"] == []
    assert summary["fanout_p50_ms"] is not None
    assert summary["connect_p95_ms"] is not None
    for name in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "report.html",
        "timeline.csv",
        "timeline.png",
        "server.log",
    ):
        assert (run.out / name).stat().st_size > 0, name
    assert f"=== chatrooms-load summary: {scenario} ===" in run.output
    assert "rate limits:" in run.output  # which choice the runner made, said
    if scenario == "limits":
        # 429s arrived, counted as successes of this scenario; none was delivered.
        assert summary["expected_429"] > 0 and summary["over_limit"] == 0
        stats = (run.out / "locust_stats.csv").read_text()
        assert "sendMessage (429 expected)" in stats
        assert "sendMessage burst over the limit" in stats


def test_a_missed_threshold_fails_the_run_and_says_by_how_much(run_load: Any) -> None:
    run = run_load(
        ["steady-chat", "-u", "2", "-r", "2", "-t", "2s", "--min-deliveries-per-s", "1000000"]
    )
    assert run.returncode == 1, run.explain()
    assert "THRESHOLD MISSED (min-deliveries-per-s): deliveries/s" in run.output
    assert "is below the minimum 1e+06 by" in run.output


def test_tokens_from_a_command_and_a_secret_the_server_shares(run_load: Any) -> None:
    secret = "load-test-secret-that-is-at-least-32-bytes-long"
    run = run_load(
        ["steady-chat", "-u", "3", "-r", "3", "-t", "2s", "--server-env", f"JWT_SECRET={secret}",
         "--token-cmd", f"chatrooms-token {{user_id}} --username {{username}} --secret {secret}"]
    )  # fmt: skip
    assert run.returncode == 0, run.explain()
    assert run.summary["errors_by_code"] == {}


def test_tokens_with_the_wrong_secret_are_refused_and_counted_by_code(run_load: Any) -> None:
    run = run_load(
        ["steady-chat", "-u", "2", "-r", "2", "-t", "2s", "--server-env", "JWT_SECRET=" + "a" * 40,
         "--secret", "b" * 40, "--exit-code-on-error", "0"]
    )  # fmt: skip
    assert run.returncode == 0, run.explain()
    assert run.summary["errors_by_code"] == {"401": 2}
    # Locust's error report printed at the end is complete; its locust_failures.csv is a
    # once-a-second snapshot with no final write, so a 2 s run may miss the last second.
    assert "401 Unauthorized" in run.output
