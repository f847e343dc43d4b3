"""RECV receiveMessage reaches Locust's statistics in batches (chat_user.RecvStats): a
batch must leave a StatsEntry as the same deliveries logged one by one would. Run in a
child process: importing Locust monkey-patches the importing process with gevent."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="needs the [load] extra"
)

SCRIPT = r"""
import time
from locust.stats import RequestStats
from chatrooms_load.chat_user import log_batch
from chatrooms_load.latency import bucket_us

latencies = [0.4, 0.4, 1.25, 3.0, 3.0, 3.0, 17.5, 140.0, 2500.0, -0.2]
now = time.time()
one, batch = RequestStats(), RequestStats()
for ms in latencies:
    one.log_request("RECV", "receiveMessage", max(bucket_us(ms), 0) / 1000, 30)
counts = {}
for ms in latencies:
    counts[bucket_us(ms)] = counts.get(bucket_us(ms), 0) + 1
log_batch(batch.get("receiveMessage", "RECV"), counts, 30 * len(latencies), now)
log_batch(batch.total, counts, 30 * len(latencies), now)
for a, b in ((one.get("receiveMessage", "RECV"), batch.get("receiveMessage", "RECV")),
             (one.total, batch.total)):
    assert a.num_requests == b.num_requests == len(latencies)
    assert dict(a.response_times) == dict(b.response_times), (a.response_times, b.response_times)
    assert abs(a.total_response_time - b.total_response_time) < 1e-9
    assert (a.min_response_time, a.max_response_time) == (b.min_response_time, b.max_response_time)
    assert a.total_content_length == b.total_content_length
    assert sum(a.num_reqs_per_sec.values()) == sum(b.num_reqs_per_sec.values())
    for p in (0.5, 0.95, 0.99):
        assert a.get_response_time_percentile(p) == b.get_response_time_percentile(p)
print("same")
"""


def test_a_batch_updates_locust_statistics_as_one_request_event_per_delivery_would() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-2000:]
