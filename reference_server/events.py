"""The `/chat` namespace: connection, the six client events and who hears what.

Each handler is: parse (validation.py) -> fault switch -> membership -> rate limit ->
mutate the Store -> emit to the recipients -> return the response (D10). Every
read-check-update of the Store happens before the handler's first `await`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from typing import Any

import socketio
from socketio import packet

from reference_server.auth import decode_token, extract_token
from reference_server.clock import Clock, iso_timestamp
from reference_server.config import Settings
from reference_server.decoding import StrictDecodingServer
from reference_server.errors import ApiError, error_payload
from reference_server.rate_limit import Kind, RateLimiter
from reference_server.state import Counters, Store
from reference_server.validation import (
    escape_html,
    json_type,
    parse_room_request,
    parse_send_message,
    parse_typing,
)

log = logging.getLogger("reference_server")

Payload = dict[str, Any]
Handler = Callable[[str, tuple[Any, ...]], Awaitable[Payload]]

# D6: whether the event being handled asked for an acknowledgement. python-socketio does
# not tell a handler, so ChatSocketServer sets this in the task that runs the handler.
_ACK_REQUESTED: ContextVar[bool] = ContextVar("ack_requested", default=False)
# Event names that python-socketio resolves to a handler other than the catch-all (D11).
_NOT_HANDLER_NAMES = frozenset({"connect", "disconnect", "*"})


class ChatSocketServer(StrictDecodingServer):
    """An AsyncServer whose handlers can tell whether the client asked for an ack (D6), and
    that refuses undecodable packets by rule (D35, decoding.py)."""

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: Any
    ) -> None:
        _ACK_REQUESTED.set(id is not None)
        if data and (not isinstance(data[0], str) or data[0] in _NOT_HANDLER_NAMES):
            # D11: an EVENT packet named `connect`, `disconnect` or `*`, or by no string at
            # all, is a client's unknown event. python-socketio would hand it to the
            # lifecycle handlers (re-identifying or forgetting the socket), to the catch-all
            # without its name, or fail on it; so the catch-all gets it, with its name.
            catch_all = self.handlers.get(namespace, {}).get("*")
            if catch_all is None:
                return
            response = await catch_all(data[0], sid, *data[1:])
            if id is not None:
                ack = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[response])
                await self._send_packet(eio_sid, ack)
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


class ServerEvent(StrEnum):
    """doc: "Server to Client Events", 1-10."""

    RECEIVE_MESSAGE = "receiveMessage"
    USER_JOINED = "userJoined"
    USER_LEFT = "userLeft"
    USER_ONLINE = "userOnline"
    USER_OFFLINE = "userOffline"
    USER_TYPING = "userTyping"
    ROOM_USERS = "roomUsers"
    ROOM_STATS = "roomStats"
    PING = "ping"
    ERROR = "error"


class Chat:
    """The namespace's handlers over one Store, one RateLimiter and one Clock."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        settings: Settings,
        store: Store,
        limiter: RateLimiter,
        counters: Counters,
        clock: Clock,
    ) -> None:
        self.sio = sio
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.counters = counters
        self.clock = clock
        self.typing_timers = TypingTimers(settings.typing_timeout_ms / 1000, self._typing_expired)
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
        first = self.store.add_socket(sid, identity)
        self.counters.add("connections")
        if self.settings.detailed_logging:
            log.info("connected %s as user %r via %s", sid, identity.user_id, source)
        if first:
            # D20: userOnline to every socket of others when a user's first socket opens.
            await self.sio.emit(
                ServerEvent.USER_ONLINE,
                self._user_payload(identity.user_id, now),
                namespace=self.settings.namespace,
                skip_sid=sid,
            )

    async def disconnect(self, sid: str, reason: str = "") -> None:
        if not self.store.has_socket(sid):
            return  # already handled (a server-side disconnect is followed by the client's)
        now = self.clock.now()
        user_id = self.store.identity(sid).user_id
        name = self.store.display_name(user_id)
        # D15: "A disconnect leaves every room the socket was in, by the same rule."
        departures = [self._leave(sid, room_id, now) for room_id in self.store.rooms_of(sid)]
        _, last = self.store.remove_socket(sid)
        self.counters.add("disconnections")
        if self.settings.detailed_logging:
            log.info("disconnected %s (user %r): %s", sid, user_id, reason or "closed")
        for departure in departures:
            await departure(name)
        if last:
            # D20: userOffline to every socket of others when its last socket closes.
            await self.sio.emit(
                ServerEvent.USER_OFFLINE,
                {"userId": user_id, "username": escape_html(name), "timestamp": iso_timestamp(now)},
                namespace=self.settings.namespace,
                skip_sid=sid,
            )

    # -- client events (doc: "Client to Server Events") ----------------------------

    async def join_room(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        user_id = self._admit(sid, room_id, limit=Kind.JOINS)  # D14: every valid join counts
        now = self.clock.now()
        joined = self.store.join(sid, room_id, now)
        if joined.room_created:
            self.counters.add("rooms_created")
        users = self._users_payload(room_id)
        if not joined.user_was_in:
            # D15: others hear userJoined only when the user was not already in the room.
            await self._send(
                ServerEvent.USER_JOINED,
                {**self._user_payload(user_id, now), "roomId": room_id},
                self._others_in_room(room_id, user_id),
            )
        # D15: the joiner gets roomUsers, itself included, each user once.
        await self._send(ServerEvent.ROOM_USERS, {"roomId": room_id, "users": users}, [sid])
        return {"event": "joinedRoom", "roomId": room_id, "success": True}

    async def leave_room(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        user_id = self._admit(sid, room_id)
        departure = self._leave(sid, room_id, self.clock.now())
        await departure(self.store.display_name(user_id))
        return {"event": "leftRoom", "roomId": room_id, "success": True}

    async def send_message(self, sid: str, args: tuple[Any, ...]) -> Payload:
        request = parse_send_message(args)
        room_id = request.room_id
        user_id = self._admit(sid, room_id, member="send messages to", limit=Kind.MESSAGES)
        now = self.clock.now()
        stamp = iso_timestamp(now)
        # D17: author from the token; id a UUID v4; the three times equal. D13: escaped.
        message = {
            "id": str(uuid.uuid4()),
            "content": escape_html(request.content),
            "author": {"id": user_id, "username": escape_html(self.store.display_name(user_id))},
            "roomId": room_id,
            "messageType": request.message_type,
            "timestamp": stamp,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.counters.add("messages")
        self.store.touch(room_id, now)
        # D18: sending a message in the room ends the sender's typing there.
        stopped_typing = self.store.set_typing(user_id, room_id, False)
        self.typing_timers.cancel(user_id, room_id)
        # D17: receiveMessage to every socket in the room, the sender's included.
        await self._send(ServerEvent.RECEIVE_MESSAGE, message, self.store.room_sockets(room_id))
        if stopped_typing:
            await self._announce_typing(user_id, room_id, False, now)
        return {"event": "messageSent", "message": message, "success": True}

    async def typing(self, sid: str, args: tuple[Any, ...]) -> Payload:
        request = parse_typing(args)
        room_id = request.room_id
        user_id = self._admit(sid, room_id, member="send typing indicators to", limit=Kind.TYPING)
        now = self.clock.now()
        self.store.touch(room_id, now)
        changed = self.store.set_typing(user_id, room_id, request.is_typing)
        # D18: a repeated `typing: true` only refreshes the timeout.
        if request.is_typing:
            self.typing_timers.restart(user_id, room_id)
        else:
            self.typing_timers.cancel(user_id, room_id)
        if changed:
            await self._announce_typing(user_id, room_id, request.is_typing, now)
        return {"event": "typingUpdated", "success": True}

    async def get_room_stats(self, sid: str, args: tuple[Any, ...]) -> Payload:
        room_id = parse_room_request(args).room_id
        # D16: getRoomStats needs no membership; an empty room gives userCount 0.
        self._admit(sid, room_id)
        users = self._users_payload(room_id)
        stats = {
            "roomId": room_id,
            "userCount": len(users),
            "users": users,
            "typingUsers": self.store.typing_users(room_id),
            "timestamp": iso_timestamp(self.clock.now()),
        }
        # D19: roomStats to the asking socket only.
        await self._send(ServerEvent.ROOM_STATS, stats, [sid])
        return {"event": "roomStatsRetrieved", "success": True}

    async def heartbeat(self, sid: str, args: tuple[Any, ...]) -> Payload:
        # doc: "Payload: None", so whatever comes with it is ignored (D23).
        return {
            "event": "heartbeatResponse",
            "timestamp": iso_timestamp(self.clock.now()),
            "success": True,
        }

    async def undecodable(self, sid: str, reason: str) -> Payload:
        # D35: an EVENT whose payload cannot be decoded gets the D7 error with 400 (the
        # decoder has logged it, rate-limited, so no second line here).
        error = ApiError(400, f"the event could not be decoded: {reason}")
        payload = error_payload(error, iso_timestamp(self.clock.now()))
        await self._send(ServerEvent.ERROR, payload, [sid])
        return payload

    async def unknown_event(self, event: object, sid: str, *args: Any) -> Payload:
        if not isinstance(event, str):
            # Socket.IO names events with strings, but an encoder may send any JSON value.
            error = ApiError(400, f"event names must be strings, got {json_type(event)}")
            return await self._fail(sid, "an event not named by a string", error)
        # D11: an event name the API does not define gets 400 naming the event.
        error = ApiError(
            400,
            f"unknown event `{escape_html(event)}`; this namespace handles "
            + ", ".join(self.handlers),
        )
        return await self._fail(sid, event, error)

    # -- the pieces the handlers share ----------------------------------------------

    def _guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[Payload]]:
        async def guarded(sid: str, *args: Any) -> Payload:
            try:
                response = await handler(sid, args)
            except ApiError as error:
                return await self._fail(sid, name, error)
            except Exception:
                # D9: the traceback stays in the server's log, never in the payload.
                log.exception("%s from %s failed", name, sid)
                failure = ApiError(
                    500, f"the server failed while handling {name}; the failure was logged"
                )
                return await self._fail(sid, name, failure)
            if not _ACK_REQUESTED.get():
                # D6: no ack asked for, so the response is emitted under its `event` name.
                await self._send(response["event"], response, [sid])
            return response

        return guarded

    async def _fail(self, sid: str, event: str, error: ApiError) -> Payload:
        """D7: always the `error` event; the returned object becomes the ack when asked."""
        payload = error_payload(error, iso_timestamp(self.clock.now()))
        if self.settings.detailed_logging:
            log.info("%s from %s refused: %d %s", event, sid, error.status, error.message)
        await self._send(ServerEvent.ERROR, payload, [sid])
        return payload

    def _admit(
        self, sid: str, room_id: str, *, member: str | None = None, limit: Kind | None = None
    ) -> str:
        """D10, after payload validation: the fault switch (500), then membership (403) when
        `member` says what needs it, then the rate limit (429) of `limit`; the user's id."""
        self._fault_switch(room_id)
        if member is not None:
            self._require_membership(sid, room_id, member)
        user_id = self.store.identity(sid).user_id
        if limit is not None:
            self._rate_limit(user_id, limit)
        return user_id

    def _fault_switch(self, room_id: str) -> None:
        # D9: test-only; off unless REFERENCE_FAULT_ROOM is set. Right after validation.
        if self.settings.fault_room is not None and room_id == self.settings.fault_room:
            raise RuntimeError(f"REFERENCE_FAULT_ROOM fault in room {room_id}")

    def _require_membership(self, sid: str, room_id: str, action: str) -> None:
        # D16: sendMessage and typing need the socket to have joined the room.
        if not self.store.is_member(sid, room_id):
            raise ApiError(403, f"join room '{room_id}' before you {action} it")

    def _rate_limit(self, user_id: str, kind: Kind) -> None:
        if not self.limiter.allow(user_id, kind):
            # D21: refused with 429, no effect, one more violation.
            self.counters.add("violations")
            raise ApiError(
                429,
                f"rate limit exceeded: at most {self.limiter.limits.of(kind)} {kind} events "
                f"per {self.settings.rate_limit_window_ms} ms; wait for the window to end",
            )

    def _leave(self, sid: str, room_id: str, now: datetime) -> Callable[[str], Awaitable[None]]:
        """Leave a room now; return what to announce once the caller may await (D15, D18)."""
        user_id = self.store.identity(sid).user_id
        left = self.store.leave(sid, room_id, now)
        if left.was_typing:
            self.typing_timers.cancel(user_id, room_id)
        others = self._others_in_room(room_id, user_id)

        async def announce(username: str) -> None:
            if left.user_left:
                await self._send(
                    ServerEvent.USER_LEFT,
                    {
                        "userId": user_id,
                        "username": escape_html(username),
                        "roomId": room_id,
                        "timestamp": iso_timestamp(now),
                    },
                    others,
                )
            if left.was_typing:
                await self._send(
                    ServerEvent.USER_TYPING,
                    _typing_payload(user_id, username, room_id, False, now),
                    others,
                )

        return announce

    async def _announce_typing(
        self, user_id: str, room_id: str, is_typing: bool, now: datetime
    ) -> None:
        # D18: userTyping goes to others in the room when the state changes.
        payload = _typing_payload(
            user_id, self.store.display_name(user_id), room_id, is_typing, now
        )
        await self._send(ServerEvent.USER_TYPING, payload, self._others_in_room(room_id, user_id))

    async def _typing_expired(self, user_id: str, room_id: str) -> None:
        # D18: typing ends after WS_TYPING_TIMEOUT ms without a new `typing: true`.
        if self.store.set_typing(user_id, room_id, False):
            await self._announce_typing(user_id, room_id, False, self.clock.now())

    def _others_in_room(self, room_id: str, user_id: str) -> list[str]:
        own = set(self.store.sockets_of(user_id))
        return [s for s in self.store.room_sockets(room_id) if s not in own]

    def _users_payload(self, room_id: str) -> list[Payload]:
        return [
            {"userId": u, "username": escape_html(self.store.display_name(u))}
            for u in self.store.room_users(room_id)
        ]

    def _user_payload(self, user_id: str, now: datetime) -> Payload:
        return {
            "userId": user_id,
            "username": escape_html(self.store.display_name(user_id)),
            "timestamp": iso_timestamp(now),
        }

    async def _send(self, event: str, payload: Payload, sids: list[str]) -> None:
        # An empty `to` would broadcast to the whole namespace in python-socketio.
        if sids:
            await self.sio.emit(event, payload, to=sids, namespace=self.settings.namespace)


def _typing_payload(
    user_id: str, username: str, room_id: str, is_typing: bool, now: datetime
) -> Payload:
    return {
        "userId": user_id,
        "username": escape_html(username),
        "roomId": room_id,
        "isTyping": is_typing,
        "timestamp": iso_timestamp(now),
    }


async def _refuse_namespace(namespace: str, sid: str, environ: Any, auth: object) -> None:
    raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")


class TypingTimers:
    """One timer per (user, room) typing state (D18)."""

    def __init__(
        self, timeout_s: float, on_expire: Callable[[str, str], Coroutine[Any, Any, None]]
    ) -> None:
        self.timeout_s = timeout_s
        self._on_expire = on_expire
        self._handles: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def restart(self, user_id: str, room_id: str) -> None:
        self.cancel(user_id, room_id)
        loop = asyncio.get_running_loop()
        key = (user_id, room_id)
        self._handles[key] = loop.call_later(self.timeout_s, self._fire, key)

    def cancel(self, user_id: str, room_id: str) -> None:
        handle = self._handles.pop((user_id, room_id), None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _fire(self, key: tuple[str, str]) -> None:
        del self._handles[key]
        task = asyncio.get_running_loop().create_task(self._on_expire(*key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
