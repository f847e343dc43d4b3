# mypy: disable-error-code="untyped-decorator"
"""A locustfile for `benchmarks/profile_generator.py`: the scenario named by
$PROFILE_SCENARIO (steady-chat or fan-out), plus, over the steady part of the run (from
the end of the ramp to the stop), the Python garbage collector's work (every collection
timed by generation, through gc.callbacks) and, with PROFILE_MODE=yappi, a yappi CPU
profile per function (greenlet-aware). Writes $PROFILE_OUT (JSON). Not in the wheel."""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

from locust import events

SCENARIO = os.environ.get("PROFILE_SCENARIO", "fan-out")
MODE = os.environ.get("PROFILE_MODE", "gc")
OUT = os.environ.get("PROFILE_OUT", "profile.json")

if SCENARIO == "fan-out":
    from chatrooms_load.fan_out import FanOutListener, FanOutSender  # noqa: F401
else:
    from chatrooms_load.steady_chat import SteadyChatter  # noqa: F401

_state: dict[str, Any] = {"collections": {0: [], 1: [], 2: []}, "started": None}
_begun: list[float] = []


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    if _state["started"] is None:
        return
    if phase == "start":
        _begun.append(time.perf_counter())
    elif _begun:
        _state["collections"][info["generation"]].append(
            ((time.perf_counter() - _begun.pop()) * 1000, info.get("collected", 0))
        )


@events.spawning_complete.add_listener
def _start(**_: Any) -> None:
    # Let the ramp's connects settle, then measure.
    import gevent

    def later() -> None:
        gevent.sleep(2.0)
        _state["gc_before"] = gc.get_stats()
        _state["thresholds"] = gc.get_threshold()
        _state["tracked_before"] = len(gc.get_objects())
        _state["cpu_before"] = time.process_time()
        _state["started"] = time.perf_counter()
        if MODE == "yappi":
            import yappi

            yappi.set_clock_type("cpu")
            yappi.set_context_backend("greenlet")
            yappi.start()

    gevent.spawn(later)


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    if _state["started"] is None:
        return
    wall = time.perf_counter() - _state["started"]
    cpu = time.process_time() - _state["cpu_before"]
    result: dict[str, Any] = {
        "scenario": SCENARIO,
        "mode": MODE,
        "wall_s": wall,
        "cpu_s": cpu,
        "gc_before": _state["gc_before"],
        "gc_after": gc.get_stats(),
        "thresholds": _state["thresholds"],
        "frozen": gc.get_freeze_count(),
        "tracked_before": _state["tracked_before"],
        "tracked_after": len(gc.get_objects()),
        "collections": {
            str(gen): {
                "count": len(items),
                "total_ms": sum(ms for ms, _ in items),
                "max_ms": max((ms for ms, _ in items), default=0.0),
                "collected": sum(n for _, n in items),
            }
            for gen, items in _state["collections"].items()
        },
    }
    _state["started"] = None
    if MODE == "yappi":
        import yappi

        yappi.stop()
        stats = yappi.get_func_stats()
        rows = [
            {
                "name": f"{s.module.split('site-packages/')[-1]}:{s.lineno}({s.name})",
                "ncall": s.ncall,
                "tsub_s": s.tsub,
                "ttot_s": s.ttot,
            }
            for s in stats
        ]
        rows.sort(key=lambda r: -r["tsub_s"])
        result["functions"] = rows[:60]
        result["functions_total_s"] = sum(r["tsub_s"] for r in rows)
    with open(OUT, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=1)


gc.callbacks.append(_gc_callback)
