"""ChatUser.pace: a steady rate per user, a late task keeps its schedule (senders woken
late together must not fall into step), a user far behind starts afresh without a burst.
Run in a child process: importing Locust monkey-patches the importing process with
gevent."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="needs the [load] extra"
)

SCRIPT = r"""
import types
from chatrooms_load import chat_user

clock = [100.0]
chat_user.time = types.SimpleNamespace(monotonic=lambda: clock[0])
pace = chat_user.ChatUser.pace

def user(phase):
    return types.SimpleNamespace(_next_at=100.0 + phase)

# Two users 4 ms apart at 10/s, due at 100.1 and 100.104; one stall of the hub wakes
# both at 100.25, over a period late.
a, b = user(0.0), user(0.004)
clock[0] = 100.0
assert abs(pace(a, 10) - 0.1) < 1e-9 and abs(pace(b, 10) - 0.104) < 1e-9
clock[0] = 100.25
assert pace(a, 10) == 0.0 and pace(b, 10) == 0.0  # due at 100.2 and 100.204: run now
# ... and they stay 4 ms apart (moving both schedules to now put them in step).
assert abs(pace(a, 10) - 0.05) < 1e-9 and abs(pace(b, 10) - 0.054) < 1e-9
# More than two periods behind: start afresh, one task now, no burst after it.
clock[0] = 100.9
assert pace(a, 10) == 0.0
assert abs(pace(a, 10) - 0.1) < 1e-9
print("paced")
"""


def test_a_late_user_keeps_its_schedule_and_a_lost_one_starts_afresh() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "paced" in done.stdout, done.stderr[-2000:]
