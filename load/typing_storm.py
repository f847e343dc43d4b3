"""Typing storm: users in `--rooms` rooms type in bursts (typing on, on again to refresh,
off, on) and then send a message, which ends their typing (D18). `--typing-rate` typing
events a second per user. Measures typing response times and message fan-out while
userTyping floods the rooms.

    chatrooms-load typing-storm -u 50 -r 25 -t 20s --typing-rate 2
"""

from __future__ import annotations

import gevent
from locust import task

from chatrooms_load.chat_user import ChatUser, set_scenario
from chatrooms_load.options import DEFAULTS

set_scenario("typing-storm")
_D = DEFAULTS["typing-storm"]
BURST = (True, True, False, True)  # then a message, which ends the typing (D18)


class Typist(ChatUser):
    def on_start(self) -> None:
        self.room = self.room_for(self.index, int(self.option("rooms", _D.rooms)))
        if self.connect():
            self.request("joinRoom", {"roomId": self.room})
        self.stagger(float(self.option("typing_rate", _D.typing_rate)) / len(BURST))

    def wait_time(self) -> float:
        return self.pace(float(self.option("typing_rate", _D.typing_rate)) / len(BURST))

    @task
    def burst(self) -> None:
        for is_typing in BURST:
            if self.conn is None:
                return
            self.emit("typing", {"roomId": self.room, "isTyping": is_typing})
            gevent.sleep(0.05)
        if self.conn is not None:
            self.send_message(self.room)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(Typist)
