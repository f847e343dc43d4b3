"""How the server treats Python's cyclic garbage collector (REFERENCE_GC), and its stats.

A fan-out allocates a task, a coroutine and a future per recipient and frees them by
reference counting; the hot path leaves no cyclic garbage (measured with DEBUG_SAVEALL:
the only cycles are each connection's HTTP protocol object after the WebSocket upgrade).
Yet with Python's thresholds (700, 10, 10) the allocation count alone triggers a young
collection every ~700 net allocations, each promotes the recipients still in flight, and
those promotions soon trigger full collections that walk every object of every
connection: 40-190 ms pauses in a room of 500 (benchmarks/README.md). `tuned` keeps the
collector and its own rule for full collections (older garbage at most ~25% of what a
full collection left) but counts 50,000 allocations before a young collection. So few
middle collections then happen that the full one can wait for many minutes while
connections come and go (a churn run's resident memory kept growing: benchmarks/README.md),
so `tuned` also runs a full collection once a minute, from the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("reference_server")

# Young-generation allocations, young collections per middle one, middle per full.
TUNED = (50_000, 20, 10)
FULL_COLLECTION_EVERY_S = 60.0


@dataclass(frozen=True)
class GcPolicy:
    """`thresholds` for gc.set_threshold, or None to keep Python's own."""

    name: str
    thresholds: tuple[int, int, int] | None
    full_every_s: float | None = None

    def describe(self) -> str:
        current = self.thresholds or gc.get_threshold()
        every = f", full every {self.full_every_s:g} s" if self.full_every_s else ""
        return f"gc {self.name} (thresholds {'/'.join(str(t) for t in current)}{every})"


POLICIES = {
    "tuned": GcPolicy("tuned", TUNED, FULL_COLLECTION_EVERY_S),
    "stock": GcPolicy("stock", None),
}


def parse(raw: str) -> GcPolicy:
    """`tuned`, `stock` or three whole numbers `t0,t1,t2`; ValueError otherwise."""
    text = raw.strip().lower() or "tuned"
    if text in POLICIES:
        return POLICIES[text]
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 3 and all(p.isdigit() for p in parts) and int(parts[0]) > 0:
        t0, t1, t2 = (int(p) for p in parts)
        return GcPolicy("custom", (t0, t1, t2))
    raise ValueError(raw)


def apply(policy: GcPolicy) -> None:
    if policy.thresholds is not None:
        gc.set_threshold(*policy.thresholds)


async def collect_periodically(every_s: float) -> None:
    """A full collection every `every_s` seconds, run by the event loop between events."""
    while True:
        await asyncio.sleep(every_s)
        gc.collect()


class GcStats:
    """Counts the collector's pauses (gc.callbacks), for the periodic stats line."""

    def __init__(self) -> None:
        self.pauses_s = [0.0, 0.0, 0.0]
        self.longest_s = [0.0, 0.0, 0.0]
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self.pauses_s[generation] += pause
        self.longest_s[generation] = max(self.longest_s[generation], pause)

    def line(self) -> str:
        collections = [s["collections"] for s in gc.get_stats()]
        collected = [s["collected"] for s in gc.get_stats()]
        return (
            f"gc stats: rss {resident_mib():.1f} MiB; collections {collections}; "
            f"collected {collected}; pause ms {[round(p * 1000) for p in self.pauses_s]}; "
            f"longest ms {[round(p * 1000, 1) for p in self.longest_s]}; "
            f"pending {list(gc.get_count())}; frozen {gc.get_freeze_count()}"
        )


def resident_mib() -> float:
    """This process's resident memory (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    import resource

    return pages * resource.getpagesize() / 2**20


def log_stats_every(interval_ms: int) -> GcStats:
    """Start a daemon thread that logs the stats line every `interval_ms`
    (REFERENCE_GC_STATS_INTERVAL_MS; for benchmarks and long runs, off by default)."""
    stats = GcStats()
    stats.install()

    def loop() -> None:
        while True:
            time.sleep(interval_ms / 1000)
            log.info(stats.line())

    threading.Thread(target=loop, name="gc-stats", daemon=True).start()
    return stats
