"""Who is connected, who is in which room, who is typing, and the counters.

Everything the handlers know about the chat lives behind `Store` (and `Counters`), so a
shared store (cluster.py's RedisStore, D33) can replace `MemoryStore` without touching
events.py. The methods are coroutines; every check-and-update is one method: MemoryStore
never awaits inside one (a single process stays atomic), RedisStore makes each one
atomic Redis operation (a Lua script).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from reference_server.auth import Identity


@dataclass(frozen=True)
class JoinResult:
    socket_was_in: bool  # D14: joining again answers success without a broadcast
    user_was_in: bool  # D15: others hear userJoined only when the user was not in the room
    room_created: bool


@dataclass(frozen=True)
class LeaveResult:
    socket_was_in: bool
    user_left: bool  # D15: the user has no socket left in the room
    was_typing: bool  # D18: leaving the room for good ends the user's typing there


@dataclass(frozen=True)
class RoomDetail:
    room_id: str
    user_count: int
    typing_users: int
    created_at: datetime
    last_activity: datetime


class Store(Protocol):
    async def add_socket(self, sid: str, identity: Identity) -> bool:
        """Register a socket; True when it is the user's first (D20)."""
        ...

    async def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        """Forget a socket that has left all its rooms; True when it was the user's last."""
        ...

    async def has_socket(self, sid: str) -> bool: ...

    async def identity(self, sid: str) -> Identity: ...

    async def display_name(self, user_id: str) -> str:
        """D3: the username of the user's oldest open socket."""
        ...

    async def sockets_of(self, user_id: str) -> list[str]: ...

    async def connected_users(self) -> int: ...

    async def connected_sockets(self) -> int: ...

    async def join(self, sid: str, room_id: str, at: datetime) -> JoinResult: ...

    async def leave(self, sid: str, room_id: str, at: datetime) -> LeaveResult: ...

    async def rooms_of(self, sid: str) -> list[str]: ...

    async def is_member(self, sid: str, room_id: str) -> bool: ...

    async def room_sockets(self, room_id: str) -> list[str]: ...

    async def room_users(self, room_id: str) -> list[str]: ...

    async def named_room_users(self, room_id: str) -> list[tuple[str, str]]:
        """room_users with each one's display_name (D3), read at once (one round-trip to
        a shared store instead of one per member)."""
        ...

    async def others_in_room(self, room_id: str, user_id: str) -> list[str]:
        """room_sockets without the user's own sockets (who hears of the user's doing:
        D15, D18), read at once."""
        ...

    async def touch(self, room_id: str, at: datetime) -> None: ...

    async def set_typing(self, user_id: str, room_id: str, typing: bool, token: str = "") -> bool:
        """Set a user's typing state in a room; True when it changed (D18). `typing: true`
        records `token` as the one whose timeout may end it (expire_typing)."""
        ...

    async def expire_typing(self, user_id: str, room_id: str, token: str) -> bool:
        """End the user's typing in the room only if `token` is still the latest `typing:
        true`'s (a refresh elsewhere replaced it); True when it ended (D18)."""
        ...

    async def typing_users(self, room_id: str) -> list[str]: ...

    async def typing_pairs(self) -> int: ...

    async def rooms(self) -> list[RoomDetail]: ...


@dataclass
class _Room:
    created_at: datetime
    last_activity: datetime
    sockets: dict[str, str] = field(default_factory=dict)  # sid -> user id, in join order
    typing: dict[str, str] = field(default_factory=dict)  # user id -> token, ordered


class MemoryStore:
    """The in-process Store. No method awaits, so each is atomic in its process."""

    def __init__(self) -> None:
        self._identities: dict[str, Identity] = {}
        self._user_sockets: dict[str, dict[str, None]] = {}  # user id -> sids, oldest first
        self._socket_rooms: dict[str, dict[str, None]] = {}
        self._rooms: dict[str, _Room] = {}

    async def add_socket(self, sid: str, identity: Identity) -> bool:
        self._identities[sid] = identity
        self._socket_rooms[sid] = {}
        sockets = self._user_sockets.setdefault(identity.user_id, {})
        sockets[sid] = None
        return len(sockets) == 1

    async def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        identity = self._identities.pop(sid)
        del self._socket_rooms[sid]
        sockets = self._user_sockets[identity.user_id]
        del sockets[sid]
        if not sockets:
            del self._user_sockets[identity.user_id]
        return identity, not sockets

    async def has_socket(self, sid: str) -> bool:
        return sid in self._identities

    async def identity(self, sid: str) -> Identity:
        return self._identities[sid]

    async def display_name(self, user_id: str) -> str:
        return self._display_name(user_id)

    def _display_name(self, user_id: str) -> str:
        # D3: "the username of its first open socket is the one shown to others".
        first = next(iter(self._user_sockets[user_id]))
        return self._identities[first].username

    async def sockets_of(self, user_id: str) -> list[str]:
        return list(self._user_sockets.get(user_id, ()))

    async def connected_users(self) -> int:
        return len(self._user_sockets)

    async def connected_sockets(self) -> int:
        return len(self._identities)

    async def join(self, sid: str, room_id: str, at: datetime) -> JoinResult:
        room = self._rooms.get(room_id)
        created = room is None
        if room is None:
            room = self._rooms[room_id] = _Room(created_at=at, last_activity=at)
        room.last_activity = at
        if sid in room.sockets:
            return JoinResult(socket_was_in=True, user_was_in=True, room_created=False)
        user_id = self._identities[sid].user_id
        user_was_in = user_id in room.sockets.values()
        room.sockets[sid] = user_id
        self._socket_rooms[sid][room_id] = None
        return JoinResult(socket_was_in=False, user_was_in=user_was_in, room_created=created)

    async def leave(self, sid: str, room_id: str, at: datetime) -> LeaveResult:
        room = self._rooms.get(room_id)
        if room is None or sid not in room.sockets:
            return LeaveResult(socket_was_in=False, user_left=False, was_typing=False)
        user_id = room.sockets.pop(sid)
        del self._socket_rooms[sid][room_id]
        room.last_activity = at
        user_left = user_id not in room.sockets.values()
        was_typing = user_left and room.typing.pop(user_id, None) is not None
        if not room.sockets:
            # D14: "the last leave or disconnect removes it".
            del self._rooms[room_id]
        return LeaveResult(socket_was_in=True, user_left=user_left, was_typing=was_typing)

    async def rooms_of(self, sid: str) -> list[str]:
        return list(self._socket_rooms.get(sid, ()))

    async def is_member(self, sid: str, room_id: str) -> bool:
        return room_id in self._socket_rooms.get(sid, ())

    async def room_sockets(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(room.sockets) if room else []

    async def room_users(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(dict.fromkeys(room.sockets.values())) if room else []

    async def named_room_users(self, room_id: str) -> list[tuple[str, str]]:
        return [(u, self._display_name(u)) for u in await self.room_users(room_id)]

    async def others_in_room(self, room_id: str, user_id: str) -> list[str]:
        own = set(await self.sockets_of(user_id))
        return [s for s in await self.room_sockets(room_id) if s not in own]

    async def touch(self, room_id: str, at: datetime) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            room.last_activity = at

    async def set_typing(self, user_id: str, room_id: str, typing: bool, token: str = "") -> bool:
        room = self._rooms.get(room_id)
        if room is None:
            return False
        if typing:
            changed = user_id not in room.typing
            room.typing[user_id] = token
            return changed
        return room.typing.pop(user_id, None) is not None

    async def expire_typing(self, user_id: str, room_id: str, token: str) -> bool:
        room = self._rooms.get(room_id)
        if room is None or room.typing.get(user_id) != token:
            return False
        del room.typing[user_id]
        return True

    async def typing_users(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(room.typing) if room else []

    async def typing_pairs(self) -> int:
        return sum(len(room.typing) for room in self._rooms.values())

    async def rooms(self) -> list[RoomDetail]:
        return [
            RoomDetail(
                room_id=room_id,
                user_count=len(set(room.sockets.values())),
                typing_users=len(room.typing),
                created_at=room.created_at,
                last_activity=room.last_activity,
            )
            for room_id, room in self._rooms.items()
        ]


Counter = Literal["connections", "disconnections", "rooms_created", "messages", "violations"]
COUNTER_NAMES: tuple[Counter, ...] = (
    "connections",
    "disconnections",
    "rooms_created",
    "messages",
    "violations",
)


class Counters(Protocol):
    """The cumulative figures of /websocket/stats (D24). With WS_ENABLE_METRICS=false
    (`enabled` False) they stay 0 while the current figures, read from the Store, stay
    live. In a cluster they are cluster-wide (D33)."""

    enabled: bool

    async def add(self, name: Counter) -> None: ...

    async def figures(self) -> dict[Counter, int]: ...


@dataclass
class MemoryCounters:
    """The in-process Counters."""

    enabled: bool
    connections: int = 0
    disconnections: int = 0
    rooms_created: int = 0
    messages: int = 0
    violations: int = 0

    async def add(self, name: Counter) -> None:
        if self.enabled:
            setattr(self, name, getattr(self, name) + 1)

    async def figures(self) -> dict[Counter, int]:
        return {name: getattr(self, name) for name in COUNTER_NAMES}
