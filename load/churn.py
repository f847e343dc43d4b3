"""Churn: users cycle connect, join, send one message, stay `--dwell` s, leave and
disconnect, `--cycle-rate` times a second each: presence storms (userOnline,
userJoined, userLeft, userOffline) while messages keep flowing. Measures connect and
join/leave response times under churn, and that no session drops unexpectedly.

    chatrooms-load churn -u 50 -r 25 -t 20s --cycle-rate 0.2 --dwell 2
"""

from __future__ import annotations

import random

import gevent
from locust import task

from chatrooms_load.chat_user import ChatUser, set_scenario
from chatrooms_load.options import DEFAULTS

set_scenario("churn")
_D = DEFAULTS["churn"]


class Churner(ChatUser):
    def wait_time(self) -> float:
        return self.pace(float(self.option("cycle_rate", _D.cycle_rate)))

    @task
    def cycle(self) -> None:
        rooms = int(self.option("rooms", _D.rooms))
        room = self.room_for(random.randrange(max(rooms, 1)), rooms)
        if not self.connect():
            return
        joined = self.request("joinRoom", {"roomId": room})
        if joined is not None and joined.status is None:
            self.send_message(room)
            gevent.sleep(float(self.option("dwell", _D.dwell)))
            self.request("leaveRoom", {"roomId": room})
        self.disconnect()


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(Churner)
