"""Admission (D10): after a payload is valid, the order in which a client event may still be
refused: the fault switch (500, D9's test hook), membership of the room (403, D16) where
the event needs it, then the rate limit (429, D21). Nothing is changed before all pass."""

from __future__ import annotations

from reference_server.config import Settings
from reference_server.errors import ApiError
from reference_server.rate_limit import Kind, Limiter
from reference_server.state import Counters, Store


class Admission:
    """The admitting side of the namespace's handlers (Chat)."""

    settings: Settings
    store: Store
    limiter: Limiter
    counters: Counters

    async def _admit(
        self, sid: str, room_id: str, *, member: str | None = None, limit: Kind | None = None
    ) -> str:
        """D10, after payload validation: the fault switch (500), then membership (403) when
        `member` says what needs it, then the rate limit (429) of `limit`; the user's id."""
        self._fault_switch(room_id)
        if member is not None:
            await self._require_membership(sid, room_id, member)
        user_id = (await self.store.identity(sid)).user_id
        if limit is not None:
            await self._rate_limit(user_id, limit)
        return user_id

    async def _require_membership(self, sid: str, room_id: str, member: str) -> None:
        # D16: sendMessage and typing need the socket to have joined the room.
        if not await self.store.is_member(sid, room_id):
            raise ApiError(403, f"join room '{room_id}' before you {member} it")

    async def _rate_limit(self, user_id: str, limit: Kind) -> None:
        # D21: counted, or refused with 429, no effect, one more violation. In a cluster
        # the allowance is the user's on every node (D33): one atomic Redis operation.
        if not await self.limiter.admit(user_id, limit):
            await self.counters.add("violations")
            raise ApiError(
                429,
                f"rate limit exceeded: at most {self.limiter.limits.of(limit)} {limit} events "
                f"per {self.settings.rate_limit_window_ms} ms; wait for the window to end",
            )

    def _fault_switch(self, name: str) -> None:
        # D9/D31: test-only; off unless REFERENCE_FAULT_ROOM is set. Right after validation.
        if self.settings.fault_room is not None and name == self.settings.fault_room:
            raise RuntimeError(f"REFERENCE_FAULT_ROOM fault for {name}")
