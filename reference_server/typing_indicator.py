"""The typing lifecycle (D18), in one place: who is typing where, for how long, and when it
ends. The state lives in the Store (room statistics and health read it); the timeouts
are scheduled through the Clock, so a test ends them by moving a fake clock.

D18: `typing: true` starts typing in a room (a repeat only refreshes the timeout);
`typing: false`, a message in the room, leaving the room for good and WS_TYPING_TIMEOUT
ms without a new `typing: true` end it. Others hear `userTyping` when the state changes.

Each `typing: true` records a fresh token with the state; a timeout ends typing only if
its token is still the latest (Store.expire_typing), so in a cluster a refresh on
another node outlives this node's pending timer, and the end is announced once (D33).
A timer dies with its node (D34): the cluster's store keeps each deadline too and ends
what is overdue from any node (cluster.py), which announces it through ended_in_store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from reference_server.clock import Clock, Timer
from reference_server.state import Store

Expired = Callable[[str, str], Coroutine[Any, Any, None]]


class TypingIndicator:
    def __init__(self, store: Store, clock: Clock, timeout_s: float, on_expired: Expired) -> None:
        self.store = store
        self.clock = clock
        self.timeout_s = timeout_s
        self._on_expired = on_expired  # announces the end to the room
        self._timers: dict[tuple[str, str], Timer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def update(self, user_id: str, room_id: str, is_typing: bool) -> bool:
        """A `typing` event: set the state, (re)start or cancel the timeout; True when the
        state changed (so that others hear of it)."""
        token = uuid.uuid4().hex if is_typing else ""
        self._cancel(user_id, room_id)
        changed = await self.store.set_typing(user_id, room_id, is_typing, token)
        if is_typing:
            key = (user_id, room_id)
            self._cancel(user_id, room_id)  # a concurrent update of the same pair
            self._timers[key] = self.clock.call_later(
                self.timeout_s, lambda: self._expire(key, token)
            )
        return changed

    async def stop(self, user_id: str, room_id: str) -> bool:
        """A message in the room ends the sender's typing there; True when it was typing."""
        self._cancel(user_id, room_id)
        return await self.store.set_typing(user_id, room_id, False)

    def forget(self, user_id: str, room_id: str) -> None:
        """The user left the room for good; the Store already ended its typing there."""
        self._cancel(user_id, room_id)

    async def ended_in_store(self, user_id: str, room_id: str) -> None:
        """The Store ended this typing at its deadline, for a timer lost with its node
        (D18, D34): announce it. A local timer, if any, finds its token gone."""
        await self._on_expired(user_id, room_id)

    def stop_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _cancel(self, user_id: str, room_id: str) -> None:
        timer = self._timers.pop((user_id, room_id), None)
        if timer is not None:
            timer.cancel()

    def _expire(self, key: tuple[str, str], token: str) -> None:
        self._timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._end(key, token))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    async def _end(self, key: tuple[str, str], token: str) -> None:
        if await self.store.expire_typing(*key, token):
            await self._on_expired(*key)
