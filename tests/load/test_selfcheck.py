"""The generator must not lie: at low load the harness's fan-out p50 agrees within 5 ms
with an independent plain-asyncio observer (python-socketio AsyncClient) in the same
room (issue 5)."""

from __future__ import annotations

from pathlib import Path

from chatrooms_load.selfcheck import TOLERANCE_MS, run_self_check
from tests.load.conftest import needs_load_extra

pytestmark = needs_load_extra


def test_harness_p50_agrees_with_an_independent_observer(tmp_path: Path) -> None:
    agreement = run_self_check(
        "fan-out",
        ["-u", "20", "-r", "20", "-t", "6s", "--senders", "2", "--message-rate", "5"],
        out=tmp_path,
        timeout_s=120,
    )
    print(agreement.describe())
    assert agreement.observer["samples"] >= 20, agreement.describe()
    assert agreement.harness["fanout_samples"] >= 200, agreement.describe()
    difference = agreement.difference_ms
    assert difference is not None and abs(difference) <= TOLERANCE_MS, agreement.describe()
