# mypy: disable-error-code="untyped-decorator,no-untyped-call"
# (Locust's event hooks and gevent's AsyncResult carry no annotations.)
"""Limits: each user deliberately exceeds its per-user limits (D21) once per window:
a burst of messages and of joinRoom over the allowance. Checks that 429 arrives, that
no more than the limit is accepted in a window, and that no message refused with 429
is ever delivered (the sender's own receiveMessage, D17). Expected 429s are successes
here ("sendMessage (429 expected)"); a missing 429, an extra acceptance or an
over-limit delivery is a failure. Limits and window come from /websocket/health (D22).

    chatrooms-load limits -u 10 -r 10 -t 15s
"""

from __future__ import annotations

import time

import gevent
import gevent.event
from locust import task

from chatrooms_load.chat_user import RUN, ChatError, ChatUser, set_scenario
from chatrooms_load.client import Response

set_scenario("limits")
TOO_MANY = frozenset({429})
BURST_TIMEOUT_S = 10.0  # a burst not fully answered by then is counted, not judged


class Burst:
    """One kind of event sent over its limit at once, and what came back."""

    def __init__(self, event: str, limit: int) -> None:
        self.event = event
        self.limit = limit
        self.count = limit + max(3, limit // 5)
        self.accepted = self.refused = self.answered = 0
        self.last_answer = time.monotonic()
        self.done = gevent.event.Event()


class LimitBreaker(ChatUser):
    def on_start(self) -> None:
        self.room = f"load-limits-{self.user_id}"  # alone: only its own echoes arrive
        self.refused: set[int] = set()
        self.echoed: set[int] = set()
        self.window_started = 0.0
        if self.connect():
            self.request("joinRoom", {"roomId": self.room})

    def wait_time(self) -> float:
        # D21: the next burst starts after the window of this one has ended.
        window_s = RUN.rate_limits().window_ms / 1000
        return max(self.window_started + window_s + 0.1 - time.monotonic(), 0.1)

    @task
    def exceed(self) -> None:
        if self.conn is None:
            return
        limits = RUN.rate_limits()
        self.window_started = time.monotonic()
        self.refused.clear()
        self.echoed.clear()
        # Both bursts go out at once, so each kind's window starts with its burst.
        bursts = [Burst("sendMessage", limits.messages), Burst("joinRoom", limits.joins)]
        for burst in bursts:
            self._send(burst)
        for burst in bursts:
            burst.done.wait(timeout=BURST_TIMEOUT_S)
            self._judge(burst, limits.window_ms / 1000)

    def _send(self, burst: Burst) -> None:
        def answered(seq: int, response: Response | None) -> None:
            burst.answered += 1
            burst.last_answer = time.monotonic()
            if response is not None and response.status is None:
                burst.accepted += 1
            elif response is not None and response.status == 429:
                burst.refused += 1
                RUN.tally.expected_429 += 1
                if seq:
                    self.refused.add(seq)
                    if seq in self.echoed:
                        self._over_limit(seq)
            if burst.answered == burst.count:
                burst.done.set()

        for _ in range(burst.count):
            if burst.event == "sendMessage":
                self.send_message(self.room, expect=TOO_MANY, then=answered)
            else:
                self.emit(
                    "joinRoom",
                    {"roomId": self.room},
                    expect=TOO_MANY,
                    then=lambda response: answered(0, response),
                )

    def _judge(self, burst: Burst, window_s: float) -> None:
        RUN.tally.attempts += 1  # the burst's own verdict
        RUN.tally.bursts += 1
        name = f"{burst.event} burst over the limit"
        problem = None
        if burst.last_answer - self.window_started > window_s:
            # Answered after the window ended: a new window may have taken some of the
            # burst, so the counts prove nothing (a slow server, a short window).
            RUN.tally.bursts_outlasted += 1
            name += " (inconclusive: outlasted the window)"
        elif burst.accepted > burst.limit:
            problem = f"{burst.event}: {burst.accepted} accepted in one window, limit {burst.limit}"
        elif burst.answered < burst.count:
            # Some answers never came in time: no 429 yet proves nothing either way.
            RUN.tally.bursts_unanswered += 1
            name += f" (not judged: not fully answered within {BURST_TIMEOUT_S:g} s)"
        elif burst.answered == burst.count and burst.refused == 0:
            problem = (
                f"{burst.event}: no 429 after {burst.count} in one window (limit {burst.limit})"
            )
        if problem is not None:
            RUN.tally.error("limit not enforced")
        self._fire(
            request_type="CHECK",
            name=name,
            response_time=(burst.last_answer - self.window_started) * 1000,
            response_length=0,
            exception=None if problem is None else ChatError(problem),
            context={},
        )

    def on_own_message(self, seq: int) -> None:
        self.echoed.add(seq)
        if seq in self.refused:
            self._over_limit(seq)

    def _over_limit(self, seq: int) -> None:
        # D21: "The event over the limit is refused with statusCode 429 and has no effect".
        RUN.tally.over_limit += 1
        RUN.tally.error("delivered over the limit")
        self._fire(
            request_type="CHECK",
            name="refused message delivered",
            response_time=0,
            response_length=0,
            exception=ChatError(f"message {seq} was refused with 429 but delivered"),
            context={},
        )


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(LimitBreaker)
