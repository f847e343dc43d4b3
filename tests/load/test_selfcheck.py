"""The self-check can fail: the harness agrees with an independent observer (its own
clock on both sides, its own probes), and a harness skewed on purpose disagrees, with a
problem that names the side that is wrong.

The runs use benchmarks/blast_server.py, which writes a message to every member of a
room within microseconds, so the observer's one place in the room's order and the
harness's every place see the same latency (chatrooms_load.selfcheck, docstring)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from chatrooms_load.latency import Histogram
from chatrooms_load.selfcheck import judge, run_self_check
from tests.load.conftest import needs_load_extra

ROOT = Path(__file__).resolve().parents[2]
BLAST = [sys.executable, str(ROOT / "benchmarks" / "blast_server.py")]
SKEWED = str(Path(__file__).with_name("skewed_harness.py"))
LOW_LOAD = ["-u", "20", "-r", "20", "-t", "7s", "--senders", "2", "--message-rate", "5"]

# -- the judgement, on made-up figures ----------------------------------------------------

ROOM = "load-fan-out"
MEMBERS = [[99.0, ROOM, 1]] * 10  # ten harness users joined before the window


def _harness(p50: float, p95: float, probe_ms: list[float], per_probe: int = 10) -> dict[str, Any]:
    return {
        "steady_from": 100,
        "steady_to": 110,
        "fanout_samples": 1000,
        "fanout_p50_ms": p50,
        "fanout_p95_ms": p95,
        "probes": {
            str(seq): Histogram.of([ms] * per_probe).to_wire() for seq, ms in enumerate(probe_ms)
        },
        "membership": MEMBERS,
        "sent_deliveries": [[s, ROOM, 50] for s in range(100, 110)],
    }


def _observer(probe_ms: list[float], harness_ms: float) -> dict[str, Any]:
    return {
        "room": ROOM,
        "probes": {
            str(seq): [100 + seq * 0.2, 100 + seq * 0.2 + ms / 1000]
            for seq, ms in enumerate(probe_ms)
        },
        "harness": {str(s): [harness_ms] * 5 for s in range(100, 110)},
        "harness_sent": {str(s): 5 for s in range(100, 110)},
    }


TRUE_MS = [2.0 + (i % 10) / 10 for i in range(40)]  # the observer's probes: 2.0-2.9 ms


def test_a_harness_that_sees_what_the_observer_sees_agrees() -> None:
    verdict = judge(_harness(2.4, 2.9, TRUE_MS), _observer(TRUE_MS, 2.4))
    assert verdict.ok is True, verdict.describe()


@pytest.mark.parametrize("factor", [0.0, 2.0], ids=["reports-zero", "reports-double"])
def test_reporting_zero_or_double_fails_the_reported_check(factor: float) -> None:
    verdict = judge(_harness(2.4 * factor, 2.9 * factor, TRUE_MS), _observer(TRUE_MS, 2.4))
    assert verdict.ok is False
    assert all(p.startswith("reported latency wrong") for p in verdict.problems), verdict.problems


def test_late_receive_stamps_are_the_receive_sides_fault() -> None:
    late = [ms + 3 for ms in TRUE_MS]
    verdict = judge(_harness(5.4, 5.9, late), _observer(TRUE_MS, 2.4))
    assert verdict.ok is False
    assert any(p.startswith("receive side wrong") for p in verdict.problems)
    assert not any(p.startswith("send side wrong") for p in verdict.problems)


def test_late_send_stamps_are_the_send_sides_fault() -> None:
    verdict = judge(_harness(-7.6, -7.1, TRUE_MS), _observer(TRUE_MS, -7.6))
    assert verdict.ok is False
    assert any(p.startswith("send side wrong") for p in verdict.problems)
    assert not any(p.startswith("receive side wrong") for p in verdict.problems)


def test_missing_deliveries_are_the_receive_sides_fault() -> None:
    verdict = judge(_harness(2.4, 2.9, TRUE_MS, per_probe=9), _observer(TRUE_MS, 2.4))
    assert verdict.ok is False
    assert verdict.problems == [
        "receive side wrong: the harness's receivers counted 360 deliveries of the "
        "observer's 40 probes where 400 were due (10.0% missing): the harness loses messages"
    ]


def test_too_few_probes_is_inconclusive_not_a_pass() -> None:
    verdict = judge(_harness(2.4, 2.9, TRUE_MS[:5]), _observer(TRUE_MS[:5], 2.4))
    assert verdict.ok is None


def test_the_bound_is_relative_with_a_floor_of_one_millisecond() -> None:
    slow = [50.0] * 40
    assert judge(_harness(59.0, 59.0, slow), _observer(slow, 50.0)).ok is True  # within 20 %
    assert judge(_harness(61.0, 61.0, slow), _observer(slow, 50.0)).ok is False


# -- real runs: the harness, and the harness skewed on purpose ----------------------------


@needs_load_extra
def test_the_harness_agrees_with_the_independent_observer(tmp_path: Path) -> None:
    result = run_self_check("fan-out", LOW_LOAD, server_cmd=BLAST, out=tmp_path, timeout_s=120)
    assert result.verdict.ok is True, result.describe()


@needs_load_extra
@pytest.mark.parametrize(
    ("skew", "extra", "side"),
    [
        # every send stamp 10 ms late: the observer sees the harness's messages "arrive
        # before they were sent", its own probes do not
        ("send-late", [], "send side wrong"),
        # receipts dated in user space behind a hub busy 15 ms out of 25: the harness's
        # receivers see the observer's probes later than the observer does
        ("busy-hub", ["--rx-timestamps", "user"], "receive side wrong"),
        # every tenth receiveMessage ignored: deliveries due are missing
        ("drop-tenth", [], "receive side wrong"),
    ],
)
def test_a_skewed_harness_fails_the_self_check_naming_the_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew: str, extra: list[str], side: str
) -> None:
    monkeypatch.setenv("CHATROOMS_LOAD_SKEW", skew)
    result = run_self_check(
        "fan-out", [*LOW_LOAD, "-f", SKEWED, *extra], server_cmd=BLAST, out=tmp_path, timeout_s=120
    )
    verdict = result.verdict
    assert verdict.ok is False, result.describe()
    assert any(problem.startswith(side) for problem in verdict.problems), result.describe()
    other = "receive side wrong" if side == "send side wrong" else "send side wrong"
    # The other side must not be blamed at the median; a busy hub also delays the odd send,
    # so its p95 may drift past 1 ms on a loaded machine without the send side being wrong.
    assert not any(
        problem.startswith(other) and " p50 " in problem for problem in verdict.problems
    ), result.describe()
