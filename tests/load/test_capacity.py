"""`chatrooms-load capacity`: the verdict of each step (pure), and a two-step search
against the reference server and a second server in one run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chatrooms_load.capacity import Step, classify, result_line
from tests.load.conftest import needs_load_extra

ROOT = Path(__file__).resolve().parents[2]
CALM = {"deliveries_per_s": 500.0, "fanout_p50_ms": 3.0, "fanout_p95_ms": 9.0,
        "fanout_p99_ms": 20.0, "failures": 0, "saturation": []}  # fmt: skip


def _step(value: str, **changes: Any) -> Step:
    return Step("reference", value, 1, {**CALM, **changes}, 0, "out")


def test_a_step_passes_misses_or_is_inconclusive() -> None:
    assert classify(CALM, 100)[0] == "pass"
    assert classify({**CALM, "fanout_p99_ms": 120.0}, 100) == ("miss", "p99 120.0 ms >= 100 ms")
    assert classify({**CALM, "failures": 2, "errors_by_code": {"500": 2}}, 100) == (
        "miss",
        "2 errors (500: 2)",
    )
    # 429 only: the load broke the per-user allowance, which is a rule, not a ceiling.
    verdict, why = classify({**CALM, "failures": 2, "errors_by_code": {"429": 2}}, 100)
    assert verdict == "inconclusive" and why.startswith("rate-limited") and "429: 2" in why
    mixed = {**CALM, "failures": 3, "errors_by_code": {"429": 2, "500": 1}}
    assert classify(mixed, 100) == ("miss", "3 errors (429: 2, 500: 1)")
    verdict, why = classify({**CALM, "fanout_p99_ms": 500.0, "saturation": ["local: CPU 97%"]}, 100)
    assert verdict == "inconclusive" and "local: CPU 97%" in why  # never a pass or a fail
    assert classify({}, 100)[0] == "miss"


def test_the_result_names_the_ceiling_and_why_the_search_stopped() -> None:
    steps = [_step("1"), _step("2", deliveries_per_s=1000.0), _step("4", fanout_p99_ms=150.0)]
    line = result_line("reference", steps, "--message-rate", 100)
    assert line.startswith("capacity (reference): 1,000 deliveries/s at --message-rate 2")
    assert line.endswith("--message-rate 4 missed (p99 150.0 ms >= 100 ms)")
    saturated = [_step("1"), _step("2", saturation=["local: CPU 95% of one core"])]
    line = result_line("reference", saturated, "--message-rate", 100)
    assert "--message-rate 2 inconclusive" in line and "at least this" in line
    assert "every step passed" in result_line("reference", [_step("1")], "--message-rate", 100)
    limited = [_step("1"), _step("2", failures=5, errors_by_code={"429": 5})]
    line = result_line("reference", limited, "--message-rate", 100)
    assert "--message-rate 2 inconclusive (rate-limited" in line and "more --senders" in line


@needs_load_extra
def test_capacity_steps_two_servers_in_one_run_and_writes_table_and_plot(tmp_path: Path) -> None:
    bare = f"bare={sys.executable} {ROOT / 'benchmarks' / 'baseline_server.py'}"
    done = subprocess.run(
        [sys.executable, "-m", "chatrooms_load.run", "capacity", "fan-out", "--server",
         "reference", "--server", bare, "--vary", "message-rate=1,2", "-u", "6", "-r", "6",
         "-t", "3s", "--senders", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "capacity (reference): " in output and "capacity (bare): " in output
    raw = json.loads((tmp_path / "capacity.json").read_text())
    assert [s["value"] for s in raw["steps"]["reference"]] == ["1", "2"]
    assert [s["value"] for s in raw["steps"]["bare"]] == ["1", "2"]
    assert (tmp_path / "capacity.png").stat().st_size > 0
    assert (tmp_path / "reference" / "message-rate-2-1" / "summary.json").exists()
