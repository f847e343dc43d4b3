"""Steady chat: every user sits in one of `--rooms` rooms and sends `--message-rate`
messages a second, inside its per-user limit (D21). Measures deliveries/s and fan-out
latency when load is spread over many rooms.

    chatrooms-load steady-chat -u 50 -r 25 -t 20s --rooms 5 --message-rate 0.5
"""

from __future__ import annotations

from locust import task

from chatrooms_load.chat_user import ChatUser, set_scenario
from chatrooms_load.options import DEFAULTS

set_scenario("steady-chat")
_D = DEFAULTS["steady-chat"]


class SteadyChatter(ChatUser):
    def on_start(self) -> None:
        self.room = self.room_for(self.index, int(self.option("rooms", _D.rooms)))
        if self.connect():
            self.request("joinRoom", {"roomId": self.room})
        self.stagger(float(self.option("message_rate", _D.message_rate)))

    def wait_time(self) -> float:
        return self.pace(float(self.option("message_rate", _D.message_rate)))

    @task
    def chat(self) -> None:
        if self.conn is not None:
            self.send_message(self.room)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(SteadyChatter)
