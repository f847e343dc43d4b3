"""The end summary: steady window, error ratio, saturation, and what it prints."""

from __future__ import annotations

from chatrooms_load.summary import (
    SATURATED_CPU_SHARE,
    CpuReport,
    Tally,
    format_summary,
    summarize,
)


def _tally() -> Tally:
    tally = Tally()
    for second in range(100, 110):
        for _ in range(20 if second == 100 else 2):
            tally.timeline.connected(second + 0.1)  # a ramp in the first second only
        for i in range(100 if second < 108 else 10):
            latency = 50.0 if second == 100 else float(i % 10 + 1)
            tally.deliveries += 1
            tally.timed += 1
            tally.timeline.delivery(second + i / 1000, latency)
    tally.attempts = 200
    tally.error("429")
    tally.error("429")
    tally.error("timeout")
    return tally


def test_steady_window_leaves_out_the_ramp_and_counts_quiet_seconds() -> None:
    summary = summarize("steady-chat", _tally(), [], steady_from=100, steady_to=110)
    # Second 100 is the connection ramp; 101..109 are steady, 108 and 109 quieter.
    assert summary.steady_s == 9
    assert summary.deliveries_per_s == (7 * 100 + 2 * 10) / 9
    assert summary.peak_deliveries_per_s == 100
    assert summary.fanout_p50_ms == 5.0  # the ramp's 50 ms samples are left out
    assert summary.deliveries == 820


def test_without_a_steady_window_every_second_counts() -> None:
    summary = summarize("steady-chat", _tally(), [], steady_from=None, steady_to=None)
    assert summary.steady_s == 0
    assert summary.deliveries_per_s == 820 / 10


def test_error_ratio_and_errors_by_code() -> None:
    summary = summarize("steady-chat", _tally(), [], steady_from=None, steady_to=None)
    assert summary.errors_by_code == {"429": 2, "timeout": 1}
    assert summary.error_ratio == 3 / 200


def test_a_busy_generator_is_reported_as_saturated() -> None:
    busy = CpuReport("worker 1", cpu_s=SATURATED_CPU_SHARE * 10, wall_s=10, lag_p99_ms=2.0)
    idle = CpuReport("worker 0", cpu_s=3.0, wall_s=10, lag_p99_ms=2.0)
    summary = summarize("fan-out", Tally(), [idle, busy], steady_from=None, steady_to=None)
    assert summary.saturation == ["worker 1: CPU 90% of one core"]
    text = format_summary(summary)
    assert "WARNING: load generator saturated (worker 1: CPU 90% of one core)" in text
    assert "worker 0 30%" in text


def test_hub_lag_saturates_only_with_user_space_receive_timestamps() -> None:
    laggy = CpuReport("local", cpu_s=5.0, wall_s=10, lag_p99_ms=30.0)
    assert laggy.saturation() is None
    assert laggy.saturation(user_timestamps=True) == (
        "local: hub lag p99 30.0 ms with user-space receive timestamps"
    )


def test_summary_prints_every_figure_the_issue_asks_for() -> None:
    cpu = [CpuReport("local", 4.0, 10.0, 1.5)]
    text = format_summary(
        summarize("steady-chat", _tally(), cpu, steady_from=100, steady_to=110, notes=["n1"])
    )
    for needle in (
        "deliveries/s",
        "fan-out latency   p50 5.0 ms  p95 10.0 ms  p99 10.0 ms",
        "connect           p95 -",
        "errors by code    429: 2, timeout: 1",
        "generator CPU     local 40% (hub lag p99 1.5 ms)",
        "note              n1",
    ):
        assert needle in text
    assert "WARNING" not in text


def test_tally_survives_the_trip_from_worker_to_master() -> None:
    worker = _tally()
    worker.expected_429 = 4
    worker.events["userJoined"] += 3
    master = Tally()
    master.merge(Tally.from_wire(worker.drain().to_wire()))
    master.merge(Tally.from_wire(worker.to_wire()))  # drained: adds nothing
    assert master.deliveries == 820
    assert master.errors == {"429": 2, "timeout": 1}
    assert master.expected_429 == 4
    assert master.events == {"userJoined": 3}
    assert master.timed == 820
    assert worker.deliveries == 0


def test_deliveries_dated_late_saturate_and_say_whether_the_cpu_was_elsewhere() -> None:
    tally = _tally()
    tally.late_deliveries = 10  # of 820 timed deliveries: 1.2 %
    idle = CpuReport("local", cpu_s=3.7, wall_s=10, lag_p99_ms=269.0)
    summary = summarize("fan-out", tally, [idle], steady_from=None, steady_to=None)
    assert summary.saturation == [
        "1.2% of deliveries were read after a message sent over 5 ms later had arrived, "
        "so the kernel dated them late while the generator had CPU to spare (a busy machine?)"
    ]
    tally.late_deliveries = 5
    assert summarize("fan-out", tally, [idle], steady_from=None, steady_to=None).saturation == []


def test_merged_deliveries_with_a_prompt_hub_are_the_servers_bursts_not_lateness() -> None:
    tally = _tally()
    tally.late_deliveries = 20  # 2.4 %, but the hub never lagged 10 ms
    prompt = CpuReport("local", cpu_s=6.7, wall_s=10, lag_p99_ms=5.9)
    assert (
        summarize("steady-chat", tally, [prompt], steady_from=None, steady_to=None).saturation == []
    )


def test_limit_bursts_that_were_not_judged_are_counted_and_shown() -> None:
    tally = _tally()
    tally.bursts, tally.bursts_unanswered, tally.bursts_outlasted = 20, 3, 1
    summary = summarize("limits", tally, [], steady_from=None, steady_to=None)
    assert "limit bursts      20 sent: 16 judged, 3 not fully answered" in format_summary(summary)
    again = Tally.from_wire(tally.to_wire())
    assert (again.bursts, again.bursts_unanswered, again.bursts_outlasted) == (20, 3, 1)


def test_frames_read_late_saturate_over_the_steady_part_only() -> None:
    tally = _tally()
    tally.add_reads({100: [100, 90, 80]})  # the ramp's second: left out
    tally.add_reads({s: [1000, 40, 1] for s in range(101, 110)})  # 4 %: below 5 %
    assert summarize("fan-out", tally, [], steady_from=100, steady_to=110).saturation == []
    tally.add_reads({105: [0, 150, 10]})  # now 5.7 % over 1 ms
    summary = summarize("fan-out", tally, [], steady_from=100, steady_to=110)
    assert summary.saturation == [
        "5.7% of frames were read over 1 ms after they arrived (0.2% over 5 ms): a frame "
        "that waits unread is dated by the next one to arrive on its connection"
    ]
    assert summary.reads == (9000, 510, 19)
    assert "reads             9000 frames in the steady part, 5.7% read > 1 ms after they " in (
        format_summary(summary)
    )
    again = Tally.from_wire(tally.to_wire())
    assert again.reads == tally.reads
