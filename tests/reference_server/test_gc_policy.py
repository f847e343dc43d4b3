"""REFERENCE_GC and REFERENCE_GC_STATS_INTERVAL_MS: the collector's treatment is read
once, named in the start-up line, and a bad value stops start-up naming the variable."""

from __future__ import annotations

import gc

import pytest

from reference_server import gc_policy
from reference_server.config import ConfigError, Settings
from reference_server.serve import startup_line


def test_the_default_treatment_is_tuned_and_the_start_up_line_names_it() -> None:
    settings = Settings.from_env({})
    assert settings.gc.name == "tuned"
    assert settings.gc.thresholds == gc_policy.TUNED
    assert settings.gc_stats_interval_ms is None
    assert settings.gc.full_every_s == gc_policy.FULL_COLLECTION_EVERY_S
    line = startup_line(settings, "127.0.0.1", 3001)
    assert "gc tuned (thresholds 50000/20/10, full every 60 s)" in line


@pytest.mark.parametrize(
    ("raw", "name", "thresholds"),
    [
        ("stock", "stock", None),
        (" Tuned ", "tuned", gc_policy.TUNED),
        ("1000,10,10", "custom", (1000, 10, 10)),
    ],
)
def test_reference_gc_values(raw: str, name: str, thresholds: object) -> None:
    policy = Settings.from_env({"REFERENCE_GC": raw}).gc
    assert (policy.name, policy.thresholds) == (name, thresholds)


@pytest.mark.parametrize("raw", ["off", "0,10,10", "1,2", "a,b,c"])
def test_a_bad_reference_gc_stops_start_up_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="REFERENCE_GC must be"):
        Settings.from_env({"REFERENCE_GC": raw})


def test_the_stats_interval_is_milliseconds() -> None:
    assert Settings.from_env({"REFERENCE_GC_STATS_INTERVAL_MS": "500"}).gc_stats_interval_ms == 500
    with pytest.raises(ConfigError, match="REFERENCE_GC_STATS_INTERVAL_MS"):
        Settings.from_env({"REFERENCE_GC_STATS_INTERVAL_MS": "soon"})


def test_apply_sets_the_thresholds_and_stock_leaves_them() -> None:
    before = gc.get_threshold()
    try:
        gc_policy.apply(gc_policy.parse("stock"))
        assert gc.get_threshold() == before
        gc_policy.apply(gc_policy.parse("tuned"))
        assert gc.get_threshold() == gc_policy.TUNED
    finally:
        gc.set_threshold(*before)


def test_the_stats_line_reports_the_collectors_own_figures() -> None:
    stats = gc_policy.GcStats()
    stats.install()
    try:
        gc.collect()
        line = stats.line()
    finally:
        gc.callbacks.remove(stats._on_collection)
    assert line.startswith("gc stats: rss ")
    assert "collections [" in line and "longest ms [" in line
