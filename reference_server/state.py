"""Who is connected, who is in which room, who is typing, and the counters.

Everything the handlers know about the chat lives behind `Store`, so a shared store can
replace `MemoryStore` without touching events.py. Every method is synchronous: a
handler's read-check-update of the state is never split by an `await`.
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
    def add_socket(self, sid: str, identity: Identity) -> bool:
        """Register a socket; True when it is the user's first (D20)."""
        ...

    def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        """Forget a socket that has left all its rooms; True when it was the user's last."""
        ...

    def has_socket(self, sid: str) -> bool: ...

    def identity(self, sid: str) -> Identity: ...

    def display_name(self, user_id: str) -> str: ...

    def sockets_of(self, user_id: str) -> list[str]: ...

    def connected_users(self) -> int: ...

    def connected_sockets(self) -> int: ...

    def join(self, sid: str, room_id: str, at: datetime) -> JoinResult: ...

    def leave(self, sid: str, room_id: str, at: datetime) -> LeaveResult: ...

    def rooms_of(self, sid: str) -> list[str]: ...

    def is_member(self, sid: str, room_id: str) -> bool: ...

    def room_sockets(self, room_id: str) -> list[str]: ...

    def room_users(self, room_id: str) -> list[str]: ...

    def touch(self, room_id: str, at: datetime) -> None: ...

    def set_typing(self, user_id: str, room_id: str, typing: bool) -> bool:
        """Set a user's typing state in a room; True when it changed (D18)."""
        ...

    def typing_users(self, room_id: str) -> list[str]: ...

    def typing_pairs(self) -> int: ...

    def rooms(self) -> list[RoomDetail]: ...


@dataclass
class _Room:
    created_at: datetime
    last_activity: datetime
    sockets: dict[str, str] = field(default_factory=dict)  # sid -> user id, in join order
    typing: dict[str, None] = field(default_factory=dict)  # user ids, an ordered set


class MemoryStore:
    """The in-process Store."""

    def __init__(self) -> None:
        self._identities: dict[str, Identity] = {}
        self._user_sockets: dict[str, dict[str, None]] = {}  # user id -> sids, oldest first
        self._socket_rooms: dict[str, dict[str, None]] = {}
        self._rooms: dict[str, _Room] = {}

    def add_socket(self, sid: str, identity: Identity) -> bool:
        self._identities[sid] = identity
        self._socket_rooms[sid] = {}
        sockets = self._user_sockets.setdefault(identity.user_id, {})
        sockets[sid] = None
        return len(sockets) == 1

    def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        identity = self._identities.pop(sid)
        del self._socket_rooms[sid]
        sockets = self._user_sockets[identity.user_id]
        del sockets[sid]
        if not sockets:
            del self._user_sockets[identity.user_id]
        return identity, not sockets

    def has_socket(self, sid: str) -> bool:
        return sid in self._identities

    def identity(self, sid: str) -> Identity:
        return self._identities[sid]

    def display_name(self, user_id: str) -> str:
        # D3: "the username of its first open socket is the one shown to others".
        first = next(iter(self._user_sockets[user_id]))
        return self._identities[first].username

    def sockets_of(self, user_id: str) -> list[str]:
        return list(self._user_sockets.get(user_id, ()))

    def connected_users(self) -> int:
        return len(self._user_sockets)

    def connected_sockets(self) -> int:
        return len(self._identities)

    def join(self, sid: str, room_id: str, at: datetime) -> JoinResult:
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

    def leave(self, sid: str, room_id: str, at: datetime) -> LeaveResult:
        room = self._rooms.get(room_id)
        if room is None or sid not in room.sockets:
            return LeaveResult(socket_was_in=False, user_left=False, was_typing=False)
        user_id = room.sockets.pop(sid)
        del self._socket_rooms[sid][room_id]
        room.last_activity = at
        user_left = user_id not in room.sockets.values()
        was_typing = user_left and _stop_typing(room, user_id)
        if not room.sockets:
            # D14: "the last leave or disconnect removes it".
            del self._rooms[room_id]
        return LeaveResult(socket_was_in=True, user_left=user_left, was_typing=was_typing)

    def rooms_of(self, sid: str) -> list[str]:
        return list(self._socket_rooms.get(sid, ()))

    def is_member(self, sid: str, room_id: str) -> bool:
        return room_id in self._socket_rooms.get(sid, ())

    def room_sockets(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(room.sockets) if room else []

    def room_users(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(dict.fromkeys(room.sockets.values())) if room else []

    def touch(self, room_id: str, at: datetime) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            room.last_activity = at

    def set_typing(self, user_id: str, room_id: str, typing: bool) -> bool:
        room = self._rooms.get(room_id)
        if room is None:
            return False
        if typing:
            changed = user_id not in room.typing
            room.typing[user_id] = None
            return changed
        return _stop_typing(room, user_id)

    def typing_users(self, room_id: str) -> list[str]:
        room = self._rooms.get(room_id)
        return list(room.typing) if room else []

    def typing_pairs(self) -> int:
        return sum(len(room.typing) for room in self._rooms.values())

    def rooms(self) -> list[RoomDetail]:
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


def _stop_typing(room: _Room, user_id: str) -> bool:
    if user_id not in room.typing:
        return False
    del room.typing[user_id]
    return True


Counter = Literal["connections", "disconnections", "rooms_created", "messages", "violations"]


@dataclass
class Counters:
    """The cumulative figures of /websocket/stats (D24). With WS_ENABLE_METRICS=false they
    stay 0 while the current figures, read from the Store, stay live."""

    enabled: bool
    connections: int = 0
    disconnections: int = 0
    rooms_created: int = 0
    messages: int = 0
    violations: int = 0

    def add(self, name: Counter) -> None:
        if self.enabled:
            setattr(self, name, getattr(self, name) + 1)
