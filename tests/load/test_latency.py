"""Latency bookkeeping: the probe in a message, the histogram, the per-second timeline."""

from __future__ import annotations

import pytest

from chatrooms_load.latency import (
    Histogram,
    Timeline,
    bucket_us,
    decode_probe,
    encode_probe,
)


def test_probe_round_trips_through_content() -> None:
    content = encode_probe(1795648437.123456, "load-abc123-7", 42)
    probe = decode_probe(content)
    assert probe is not None
    assert probe.sent_at == pytest.approx(1795648437.123456, abs=1e-6)
    assert (probe.sender, probe.seq) == ("load-abc123-7", 42)


def test_probe_padding_reaches_the_asked_size_and_still_decodes() -> None:
    content = encode_probe(1.5, "u", 1, size=300)
    assert len(content) == 300
    assert decode_probe(content) == decode_probe(encode_probe(1.5, "u", 1))


def test_probe_uses_no_character_that_html_escaping_changes() -> None:
    # D13: & < > " ' are escaped on delivery; the probe must arrive unchanged.
    content = encode_probe(1795648437.5, "load-x-1", 3, size=120)
    assert not set(content) & set("&<>\"'")


@pytest.mark.parametrize(
    "content",
    [None, 42, "", "hello", "load", "load x y z", "load 1.0 sender notanint", "loadx 1 a 2"],
)
def test_content_that_is_not_a_probe_decodes_to_none(content: object) -> None:
    assert decode_probe(content) is None


@pytest.mark.parametrize(
    ("ms", "key"),
    [
        (0.0, 0),
        (-3.0, -3000),  # clock skew keeps its sign
        (-12.345, -12300),
        (0.4567, 457),
        (0.9994, 999),
        (1.2345, 1230),
        (12.345, 12300),
        (123.45, 123000),
        (1234.5, 1230000),
    ],
)
def test_buckets_keep_three_significant_digits_of_microseconds(ms: float, key: int) -> None:
    assert bucket_us(ms) == key


def test_percentiles_of_a_known_distribution() -> None:
    histogram = Histogram.of(float(ms) for ms in range(1, 101))  # 1..100 ms
    assert histogram.total == 100
    assert histogram.percentile(0.50) == 50.0
    assert histogram.percentile(0.95) == 95.0
    assert histogram.percentile(0.99) == 99.0
    assert histogram.percentile(1.0) == 100.0
    assert histogram.percentile(0.0) == 1.0


def test_an_empty_histogram_has_no_percentile() -> None:
    assert Histogram().percentile(0.5) is None


def test_merged_histograms_equal_one_histogram_of_all_samples() -> None:
    a = Histogram.of([1.0, 2.0, 3.0])
    b = Histogram.of([2.0, 50.0])
    a.merge(b)
    assert a == Histogram.of([1.0, 2.0, 3.0, 2.0, 50.0])
    assert a.percentile(0.5) == 2.0


def test_histogram_survives_the_wire_format() -> None:
    histogram = Histogram.of([0.5, 1.25, 1.25, 300.0])
    wire = histogram.to_wire()
    assert all(isinstance(key, str) for key in wire)
    assert Histogram.from_wire(wire) == histogram


def test_timeline_counts_deliveries_and_latency_per_second() -> None:
    timeline = Timeline()
    timeline.delivery(100.2, 3.0)
    timeline.delivery(100.9, 5.0)
    timeline.delivery(102.1, None)  # counted, not timed (echo mode, another sender)
    rows = timeline.rows()
    assert [row[:2] for row in rows] == [(100, 2), (101, 0), (102, 1)]
    assert rows[0][2] == 3.0 and rows[0][4] == 5.0
    assert rows[1][2:] == (None, None, None)
    assert rows[2][2] is None


def test_timelines_from_workers_merge_by_second() -> None:
    ours, theirs = Timeline(), Timeline()
    ours.delivery(10.0, 1.0)
    theirs.delivery(10.5, 2.0)
    theirs.delivery(11.0, 4.0)
    theirs.connected(11.0)
    ours.merge(Timeline.from_wire(theirs.to_wire()))
    assert ours.seconds[10].deliveries == 2
    assert ours.seconds[10].latency.total == 2
    assert ours.seconds[11].connects == 1


def test_drain_hands_over_and_starts_afresh() -> None:
    timeline = Timeline()
    timeline.delivery(5.0, 1.0)
    drained = timeline.drain()
    assert drained.seconds[5].deliveries == 1
    assert timeline.seconds == {}


@pytest.mark.parametrize(
    ("connects", "expected"),
    [
        ({}, 0),  # nobody connected at all: steady from the start
        ({0: 50, 1: 30, 2: 0}, 2),  # a ramp of two seconds, then only chat
        ({0: 40, 1: 3, 2: 2, 3: 3, 4: 2}, 1),  # churn: a burst, then a steady rate
        ({0: 2, 1: 3, 2: 2}, 0),  # churn without a burst
    ],
)
def test_ramp_end_skips_leading_seconds_of_connection_burst(
    connects: dict[int, int], expected: int
) -> None:
    timeline = Timeline()
    for second, count in connects.items():
        for _ in range(count):
            timeline.connected(second + 0.5)
    assert timeline.ramp_end(0, 5) == expected
