# mypy: disable-error-code="untyped-decorator,no-untyped-call"
# (Locust's event hooks and gevent's AsyncResult carry no annotations.)
"""Fan-out: one large room, `--senders` users sending `--message-rate` messages a second
each, every other user listening. Measures how delivery latency grows with room size.

    chatrooms-load fan-out -u 100 -r 50 -t 20s --senders 5 --message-rate 10
"""

from __future__ import annotations

from typing import Any

from locust import events, task

from chatrooms_load.chat_user import ChatUser, set_scenario
from chatrooms_load.options import DEFAULTS

set_scenario("fan-out")
_D = DEFAULTS["fan-out"]
ROOM = "load-fan-out"


class FanOutUser(ChatUser):
    abstract = True

    def on_start(self) -> None:
        if self.connect():
            self.request("joinRoom", {"roomId": ROOM})


class FanOutSender(FanOutUser):
    fixed_count = _D.senders or 1  # --senders, set below once options are parsed

    def on_start(self) -> None:
        super().on_start()
        self.stagger(float(self.option("message_rate", _D.message_rate)))

    def wait_time(self) -> float:
        return self.pace(float(self.option("message_rate", _D.message_rate)))

    @task
    def send(self) -> None:
        if self.conn is not None:
            self.send_message(ROOM)


class FanOutListener(FanOutUser):
    def wait_time(self) -> float:
        return 3600.0

    @task
    def listen(self) -> None:
        """Listeners only receive; their connection's greenlet does the work."""


@events.init.add_listener
def _senders(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.senders is not None:
        FanOutSender.fixed_count = max(int(options.senders), 1)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(FanOutSender)
