"""The `/chat` namespace: connection, the six client events and who hears what.

Each handler is: validate (validation.py) -> admit (D10: fault switch, membership, rate
limit) -> mutate the Store -> send (payloads.py) -> return the response. Every
read-check-update of the Store is one Store call (atomic in one process, and across the
nodes of a cluster: D33).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import socketio

from reference_server import payloads
from reference_server.admission import Admission
from reference_server.auth import decode_token, extract_token
from reference_server.clock import Clock, iso_timestamp
from reference_server.config import Settings
from reference_server.decoding import StrictDecodingServer
from reference_server.errors import ApiError, error_payload
from reference_server.payloads import Payload, ServerEvent
from reference_server.rate_limit import Kind, Limiter
from reference_server.replies import Handler, Replies
from reference_server.state import Counters, Store
from reference_server.typing_indicator import TypingIndicator
from reference_server.validation import (
    parse_room_request,
    parse_send_message,
    parse_typing,
)

log = logging.getLogger("reference_server")


class Chat(Admission, Replies):
    """The namespace's handlers over one Store, one Limiter, the Counters and one Clock."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        settings: Settings,
        store: Store,
        limiter: Limiter,
        counters: Counters,
        clock: Clock,
    ) -> None:
        self.sio = sio
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.counters = counters
        self.clock = clock
        self.typing_indicator = TypingIndicator(
            store, clock, settings.typing_timeout_ms / 1000, self._typing_expired
        )
        # doc: "Client to Server Events" 1-6, by their wire names.
        self.handlers: dict[str, Handler] = {
            "joinRoom": self.join_room,
            "leaveRoom": self.leave_room,
            "sendMessage": self.send_message,
            "typing": self.typing,
            "getRoomStats": self.get_room_stats,
            "heartbeat": self.heartbeat,
        }

    def register(self) -> None:
        ns = self.settings.namespace
        self.sio.on("connect", self.connect, namespace=ns)
        self.sio.on("disconnect", self.disconnect, namespace=ns)
        for name, handler in self.handlers.items():
            self.sio.on(name, self._guarded(name, handler), namespace=ns)
        self.sio.on("*", self.unknown_event, namespace=ns)
        # D1: any other namespace is refused, as Socket.IO servers usually word it.
        self.sio.on("connect", _refuse_namespace, namespace="*")
        if isinstance(self.sio, StrictDecodingServer):
            self.sio.on_undecodable(self.undecodable)

    # -- connection (D2-D5, D20) -------------------------------------------------

    async def connect(self, sid: str, environ: Mapping[str, Any], auth: object) -> None:
        now = self.clock.now()
        try:
            source, token = extract_token(auth, environ)
            identity = decode_token(token, self.settings.jwt_secret.reveal(), now)
            # D31's test hook: a user named after REFERENCE_FAULT_ROOM fails at CONNECT.
            self._fault_switch(identity.user_id)
        except ApiError as refusal:
            if self.settings.detailed_logging:
                log.info("refused connection %s: %s", sid, refusal.message)
            # D4: message "Unauthorized", data the D7 object with statusCode 401.
            raise socketio.exceptions.ConnectionRefusedError(
                "Unauthorized", error_payload(refusal, iso_timestamp(now))
            ) from None
        except Exception:
            # D9's rule at CONNECT (which D4 leaves open): an unexpected failure refuses with
            # the 500 object and no internals, instead of leaving the client waiting.
            log.exception("accepting connection %s failed", sid)
            failure = ApiError(500, "the server failed while accepting the connection")
            raise socketio.exceptions.ConnectionRefusedError(
                "Internal Server Error", error_payload(failure, iso_timestamp(now))
            ) from None
        first = await self.store.add_socket(sid, identity)
        await self.counters.add("connections")
        if self.settings.detailed_logging:
            log.info("connected %s as user %r via %s", sid, identity.user_id, source)
        if first:
            # D20: userOnline to every socket of others when a user's first socket opens.
            await self.sio.emit(
                ServerEvent.USER_ONLINE,
                payloads.presence(
                    identity.user_id, await self.store.display_name(identity.user_id), now
                ),
                namespace=self.settings.namespace,
                skip_sid=sid,
            )

    async def disconnect(self, sid: str, reason: str = "") -> None:
        if not await self.store.has_socket(sid):
            # Already handled: a server-side disconnect is followed by the client's, and
            # in a cluster the socket of a lost node may have been removed (D34).
            return
        now = self.clock.now()
        user_id = (await self.store.identity(sid)).user_id
        name = await self.store.display_name(user_id)
        # D15: "A disconnect leaves every room the socket was in, by the same rule."
        departures = [
            await self._leave(sid, room_id, now) for room_id in await self.store.rooms_of(sid)
        ]
        _, last = await self.store.remove_socket(sid)
        await self.counters.add("disconnections")
        if self.settings.detailed_logging:
            log.info("disconnected %s (user %r): %s", sid, user_id, reason or "closed")
        for departure in departures:
            await departure(name)
        if last:
            # D20: userOffline to every socket of others when its last socket closes.
            await self.sio.emit(
                ServerEvent.USER_OFFLINE,
                payloads.presence(user_id, name, now),
                namespace=self.settings.namespace,
                skip_sid=sid,
            )

    # -- client events (doc: "Client to Server Events") ----------------------------

    async def join_room(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        # D14: every valid join counts.
        user_id = await self._admit(sid, room_id, limit=Kind.JOINS)
        now = self.clock.now()
        joined = await self.store.join(sid, room_id, now)
        if joined.room_created:
            await self.counters.add("rooms_created")
        named = await self.store.named_room_users(room_id)
        if not joined.user_was_in:
            # D15: others hear userJoined only when the user was not already in the room.
            # D3: its name as listed (read at the same moment), unless it left meanwhile.
            names = dict(named)
            name = names[user_id] if user_id in names else await self.store.display_name(user_id)
            await self._send(
                ServerEvent.USER_JOINED,
                payloads.membership(user_id, name, room_id, now),
                await self.store.others_in_room(room_id, user_id),
            )
        # D15: the joiner gets roomUsers, itself included, each user once.
        listed = payloads.users(named)
        await self._send(ServerEvent.ROOM_USERS, payloads.room_users(room_id, listed), [sid])
        return payloads.joined_room(room_id)

    async def leave_room(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        user_id = await self._admit(sid, room_id)
        departure = await self._leave(sid, room_id, self.clock.now())
        await departure(await self.store.display_name(user_id))
        return payloads.left_room(room_id)

    async def send_message(self, sid: str, args: tuple[Any, ...]) -> Payload:
        request = parse_send_message(args)
        room_id = request.room_id
        user_id = await self._admit(sid, room_id, member="send messages to", limit=Kind.MESSAGES)
        now = self.clock.now()
        # D17: author from the token; id a UUID v4; the three times equal.
        message = payloads.message(
            str(uuid.uuid4()),
            request.content,
            user_id,
            await self.store.display_name(user_id),
            room_id,
            request.message_type,
            now,
        )
        await self.counters.add("messages")
        await self.store.touch(room_id, now)
        # D18: sending a message in the room ends the sender's typing there.
        stopped_typing = await self.typing_indicator.stop(user_id, room_id)
        # D17: receiveMessage to every socket in the room, the sender's included.
        recipients = await self.store.room_sockets(room_id)
        await self._send(ServerEvent.RECEIVE_MESSAGE, message, recipients)
        if stopped_typing:
            await self._announce_typing(user_id, room_id, False, now)
        return payloads.message_sent(message)

    async def typing(self, sid: str, args: tuple[Any, ...]) -> Payload:
        request = parse_typing(args)
        room_id = request.room_id
        user_id = await self._admit(
            sid, room_id, member="send typing indicators to", limit=Kind.TYPING
        )
        now = self.clock.now()
        await self.store.touch(room_id, now)
        # D18: a repeated `typing: true` only refreshes the timeout.
        if await self.typing_indicator.update(user_id, room_id, request.is_typing):
            await self._announce_typing(user_id, room_id, request.is_typing, now)
        return payloads.typing_updated()

    async def get_room_stats(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        # D16: getRoomStats needs no membership; an empty room gives userCount 0.
        await self._admit(sid, room_id)
        stats = payloads.room_stats(
            room_id,
            payloads.users(await self.store.named_room_users(room_id)),
            await self.store.typing_users(room_id),
            self.clock.now(),
        )
        # D19: roomStats to the asking socket only.
        await self._send(ServerEvent.ROOM_STATS, stats, [sid])
        return payloads.room_stats_retrieved()

    async def heartbeat(self, sid: str, args: tuple[Any, ...]) -> Payload:
        # doc: "Payload: None", so whatever comes with it is ignored (D23, D28).
        return payloads.heartbeat_response(self.clock.now())

    # -- the pieces the handlers share ----------------------------------------------

    async def _leave(
        self, sid: str, room_id: str, now: datetime
    ) -> Callable[[str], Awaitable[None]]:
        """Leave a room now; return what to announce once the username is known (D15,
        D18)."""
        user_id = (await self.store.identity(sid)).user_id
        left = await self.store.leave(sid, room_id, now)
        if left.was_typing:
            self.typing_indicator.forget(user_id, room_id)
        others = await self.store.others_in_room(room_id, user_id)

        async def announce(username: str) -> None:
            if left.user_left:
                departed = payloads.membership(user_id, username, room_id, now)
                await self._send(ServerEvent.USER_LEFT, departed, others)
            if left.was_typing:
                ended = payloads.user_typing(user_id, username, room_id, False, now)
                await self._send(ServerEvent.USER_TYPING, ended, others)

        return announce

    async def _announce_typing(
        self, user_id: str, room_id: str, is_typing: bool, now: datetime
    ) -> None:
        # D18: userTyping goes to others in the room when the state changes.
        name = await self.store.display_name(user_id)
        payload = payloads.user_typing(user_id, name, room_id, is_typing, now)
        others = await self.store.others_in_room(room_id, user_id)
        await self._send(ServerEvent.USER_TYPING, payload, others)

    async def _typing_expired(self, user_id: str, room_id: str) -> None:
        # D18: typing ended after WS_TYPING_TIMEOUT ms without a new `typing: true`.
        await self._announce_typing(user_id, room_id, False, self.clock.now())


async def _refuse_namespace(namespace: str, sid: str, environ: Any, auth: object) -> None:
    raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")
