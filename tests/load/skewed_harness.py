# mypy: disable-error-code="untyped-decorator,no-untyped-call"
"""A locustfile: the fan-out scenario with the harness skewed on purpose, for the
self-check's own test (tests/load/test_selfcheck.py). CHATROOMS_LOAD_SKEW picks the fault:

  send-late   every send stamp moved 10 ms later than the real send
  busy-hub    receive stamps taken in user space (--rx-timestamps user) while a greenlet
              hogs the gevent hub 15 ms out of every 25
  drop-tenth  each receiver ignores every tenth receiveMessage it gets
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust import events

from chatrooms_load import chat_user, latency
from chatrooms_load.chat_user import ChatUser
from chatrooms_load.fan_out import FanOutListener, FanOutSender

__all__ = ["FanOutListener", "FanOutSender"]
SKEW = os.environ.get("CHATROOMS_LOAD_SKEW", "")

if SKEW == "send-late":

    def _late(sent_at: float, sender: str, seq: int, size: int = 0) -> str:
        return latency.encode_probe(sent_at + 0.010, sender, seq, size)

    chat_user.encode_probe = _late  # type: ignore[assignment]

elif SKEW == "drop-tenth":
    _on_event = ChatUser._on_event

    def _dropping(self: ChatUser, name: str, data: Any, received_at: float) -> None:
        if name == "receiveMessage":
            self.__dict__["_seen"] = seen = self.__dict__.get("_seen", 0) + 1
            if seen % 10 == 0:
                return
        _on_event(self, name, data, received_at)

    ChatUser._on_event = _dropping  # type: ignore[method-assign]

elif SKEW == "busy-hub":

    def _hog() -> None:
        while True:
            until = time.perf_counter() + 0.015
            while time.perf_counter() < until:
                pass
            gevent.sleep(0.010)

    @events.test_start.add_listener
    def _start_hog(**_: Any) -> None:
        gevent.spawn(_hog)

elif SKEW:
    raise SystemExit(f"unknown CHATROOMS_LOAD_SKEW {SKEW!r}")
