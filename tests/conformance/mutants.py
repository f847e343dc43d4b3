"""Deliberately broken variants of the reference server, for the suite's self-test.

Each mutant breaks one rule of the API document (or of interpretation.md) and nothing
else, purely by injection from outside the server code (STYLE.md: "Mutants for the
self-test come from injection ... never from flags in server code"): a Store subclass
passed to create_app, another RateLimiter, wrapped handlers or Chat methods, a wrapped
ASGI app, or a module-level name patched in the mutant's own process.

`python -m tests.conformance.mutants NAME` serves mutant NAME the way `python -m
reference_server` serves the real thing (Settings.from_env(os.environ), HOST and PORT
included), so reference_server.testing.RunningServer can start it on a free port.
`python -m tests.conformance.mutants --list` prints the registry; `--check` builds every
mutant once, to show that each still applies to the server's code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import inspect
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import jwt
import socketio

from reference_server import app as app_module
from reference_server import decoding, events, payloads, validation
from reference_server import errors as errors_module
from reference_server import http as http_module
from reference_server.app import ChatApp, create_app
from reference_server.auth import Identity, TokenSource
from reference_server.config import Settings
from reference_server.errors import ApiError
from reference_server.payloads import ServerEvent
from reference_server.rate_limit import Kind, RateLimiter, Window, count_event
from reference_server.socket_server import ack_requested
from reference_server.state import MemoryStore, Store

Payload = dict[str, Any]
Handler = Callable[[str, tuple[Any, ...]], Awaitable[Payload]]
Decode = Callable[[str, str, datetime], Identity]
Extract = Callable[[object, Mapping[str, Any]], tuple[TokenSource, str]]


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str  # the rule it breaks, in one line
    requirements: tuple[str, ...]  # ids the suite must report as FAIL
    environment: str  # the NODE_ENV it runs with
    mutate: Callable[[ChatApp], None]
    store: Callable[[], Store] | None = None  # a broken Store passed to create_app
    # Not in the quicker `core` self-test set; the default (all) runs it.
    extended: bool = False
    # The whole suite runs against each mutant unless this names a selection (--only):
    # only for a mutant that makes every check wait out its timeout. A selection that
    # includes the targeted ids is sound for them: a verdict comes only from the checks
    # that name an id or fail under it.
    only: tuple[str, ...] | None = None
    # The mutant follows the API document and breaks only a reference decision: its run
    # must show no FAIL of a documented requirement (so it passes at --level documented).
    documented_clean: bool = False
    # Above 1: the mutant runs as that many nodes sharing a Redis server (D33, D34).
    nodes: int = 1


MUTANTS: dict[str, Mutant] = {}


def mutant(
    name: str,
    breaks: str,
    *requirements: str,
    environment: str = "development",
    store: Callable[[], Store] | None = None,
    extended: bool = False,
    only: tuple[str, ...] | None = None,
    documented_clean: bool = False,
    nodes: int = 1,
) -> Callable[[Callable[[ChatApp], None]], Callable[[ChatApp], None]]:
    """Register `mutate(app)` as mutant `name`."""

    def register(mutate: Callable[[ChatApp], None]) -> Callable[[ChatApp], None]:
        if name in MUTANTS:
            raise ValueError(f"mutant {name} is registered twice")
        MUTANTS[name] = Mutant(
            name,
            breaks,
            requirements,
            environment,
            mutate,
            store,
            extended,
            only,
            documented_clean,
            nodes,
        )
        return mutate

    return register


def build(name: str, settings: Settings) -> ChatApp:
    """The reference app with mutant `name` applied."""
    chosen = MUTANTS[name]
    app = create_app(settings, store=chosen.store() if chosen.store else None)
    chosen.mutate(app)
    return app


# -- injection helpers ---------------------------------------------------------------


def original(module: ModuleType, name: str) -> Any:
    """A module-level name about to be wrapped (the server imports some of them from other
    modules, and the module that calls them is the one to patch)."""
    if not hasattr(module, name):
        raise AttributeError(f"{module.__name__} has no {name!r} to patch")
    return getattr(module, name)


def patch(module: ModuleType, name: str, value: object) -> None:
    """Replace a module-level name in this (the mutant's) process. Fails loudly when the
    name is gone, so a refactored server never yields a mutant that silently breaks
    nothing."""
    if not hasattr(module, name):
        raise AttributeError(f"{module.__name__} has no {name!r} to patch")
    setattr(module, name, value)


def replace_handler(app: ChatApp, event: str, wrap: Callable[[Handler], Handler]) -> None:
    """Wrap the handler of client event `event` and register the wrapper in its place,
    behind the same guard (error objects, D6 channel) as the original."""
    chat = app.chat
    handler = wrap(chat.handlers[event])
    chat.handlers[event] = handler
    app.sio.on(event, chat._guarded(event, handler), namespace=app.settings.namespace)


def rewrite_response(app: ChatApp, event: str, rewrite: Callable[[Payload], Payload]) -> None:
    """Change the Response object of client event `event` (both channels, D6)."""

    def wrap(handler: Handler) -> Handler:
        async def wrapped(sid: str, args: tuple[Any, ...]) -> Payload:
            return rewrite(await handler(sid, args))

        return wrapped

    replace_handler(app, event, wrap)


Rewritten = tuple[Payload, list[str]] | None
Rewrite = Callable[[str, Payload, list[str]], Rewritten | Awaitable[Rewritten]]


def rewrite_sends(app: ChatApp, rewrite: Rewrite) -> None:
    """Filter every event Chat sends to chosen sockets: `rewrite(event, payload, sids)`
    returns the (payload, sids) to send, or None to send nothing."""
    chat = app.chat
    send = chat._send

    async def filtered(event: str, payload: Payload, sids: list[str]) -> None:
        changed = rewrite(event, payload, sids)
        if inspect.isawaitable(changed):
            changed = await changed
        if changed is not None:
            await send(event, *changed)

    chat._send = filtered  # type: ignore[method-assign]


def without(payload: Payload, *names: str) -> Payload:
    return {k: v for k, v in payload.items() if k not in names}


def limits(app: ChatApp, **changes: int) -> None:
    """Enforce other limits than the table while the health endpoint still reports the
    documented ones."""
    chat = app.chat
    chat.limiter = RateLimiter(
        dataclasses.replace(chat.limiter.limits, **changes),
        app.settings.rate_limit_window_ms,
        chat.clock,
    )


UNLIMITED = 10**9

# -- Connection › Authentication (D2-D4) ------------------------------------------------


@mutant(
    "auth-expired-accepted",
    "a token whose exp passed an hour ago is accepted",
    "AUTH-EXPIRED-TOKEN-REFUSED",
)
def _accept_expired(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def lenient(token: str, secret: str, now: datetime) -> Identity:
        try:
            return decode(token, secret, now)
        except ApiError as refusal:
            if not refusal.message.startswith("the token expired"):
                raise
            expires = jwt.decode(token, options={"verify_signature": False})["exp"]
            return decode(token, secret, datetime.fromtimestamp(expires - 1, UTC))

    patch(events, "decode_token", lenient)


@mutant(
    "auth-alg-none-accepted",
    "an unsigned token (alg: none) is accepted",
    "AUTH-UNVERIFIED-TOKEN-REFUSED",
)
def _accept_alg_none(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def lenient(token: str, secret: str, now: datetime) -> Identity:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            algorithm = None
        if str(algorithm).lower() == "none":
            claims = jwt.decode(token, options={"verify_signature": False})
            return Identity(user_id=str(claims["sub"]), username=str(claims["username"]))
        return decode(token, secret, now)

    patch(events, "decode_token", lenient)


@mutant(
    "auth-hs512-accepted",
    "a token signed with HS512 (another algorithm) is accepted",
    "AUTH-OTHER-ALGORITHM-REFUSED",
    extended=True,
)
def _accept_hs512(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def lenient(token: str, secret: str, now: datetime) -> Identity:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            algorithm = None
        if algorithm == "HS512":
            claims = jwt.decode(token, secret, algorithms=["HS512"])
            return Identity(user_id=str(claims["sub"]), username=str(claims["username"]))
        return decode(token, secret, now)

    patch(events, "decode_token", lenient)


@mutant(
    "auth-header-ignored",
    "the Authorization: Bearer header is never read",
    "AUTH-HEADER-TOKEN",
)
def _ignore_header(app: ChatApp) -> None:
    extract: Extract = original(events, "extract_token")

    def blind(auth: object, environ: Mapping[str, Any]) -> tuple[TokenSource, str]:
        return extract(auth, without(dict(environ), "HTTP_AUTHORIZATION"))

    patch(events, "extract_token", blind)


@mutant(
    "auth-precedence-broken",
    "an invalid token in the first source present is skipped in favour of a later source",
    "AUTH-SOURCE-PRECEDENCE",
)
def _skip_bad_sources(app: ChatApp) -> None:
    extract: Extract = original(events, "extract_token")
    secret = app.settings.jwt_secret.reveal()

    def forgiving(auth: object, environ: Mapping[str, Any]) -> tuple[TokenSource, str]:
        source, token = extract(auth, environ)
        try:
            decode: Decode = original(events, "decode_token")
            decode(token, secret, datetime.now(UTC))
        except ApiError:
            later: tuple[object, Mapping[str, Any]] | None = {
                TokenSource.AUTH: (None, environ),
                TokenSource.HEADER: (auth, without(dict(environ), "HTTP_AUTHORIZATION")),
            }.get(source)
            if later is not None:
                try:
                    return forgiving(*later)
                except ApiError:
                    pass
        return source, token

    patch(events, "extract_token", forgiving)


def _rewrite_refusal(app: ChatApp, refusal: Callable[[Payload], tuple[Any, ...]]) -> None:
    """Refuse connections with ConnectionRefusedError(*refusal(error object))."""
    connect = app.chat.connect

    async def refusing(sid: str, environ: Mapping[str, Any], auth: object) -> None:
        try:
            await connect(sid, environ, auth)
        except socketio.exceptions.ConnectionRefusedError as refused:
            data = refused.error_args.get("data") or {}
            raise socketio.exceptions.ConnectionRefusedError(*refusal(data)) from None

    app.sio.on("connect", refusing, namespace=app.settings.namespace)


@mutant(
    "auth-refusal-without-data",
    "a refused connection gets connect_error 'Unauthorized' with no error object (no 401)",
    "ERR-401-UNAUTHORIZED",
    extended=True,
)
def _bare_refusal(app: ChatApp) -> None:
    _rewrite_refusal(app, lambda data: ("Unauthorized",))


@mutant(
    "auth-refusal-data-incomplete",
    "the refusal's error object lacks success and timestamp (statusCode 401 kept)",
    "AUTH-REFUSAL-DATA",
    environment="production",
)
def _incomplete_refusal(app: ChatApp) -> None:
    _rewrite_refusal(app, lambda data: ("Unauthorized", without(data, "success", "timestamp")))


@mutant(
    "any-namespace-accepted",
    "a namespace other than /chat accepts the connection",
    "CONN-INVALID-NAMESPACE",
    environment="production",
    extended=True,
)
def _accept_any_namespace(app: ChatApp) -> None:
    async def welcome(namespace: str, sid: str, environ: Any, auth: object) -> None:
        return None

    app.sio.on("connect", welcome, namespace="*")


# -- the six client events and their responses (D6) ------------------------------------


@mutant(
    "join-response-misnamed",
    'joinRoom answers {event: "joined", ...} instead of "joinedRoom"',
    "EVT-JOIN-RESPONSE",
)
def _misname_join(app: ChatApp) -> None:
    rewrite_response(app, "joinRoom", lambda r: {**r, "event": "joined"})


@mutant(
    "leave-response-without-room",
    "leftRoom lacks roomId",
    "EVT-LEAVE-RESPONSE",
)
def _leave_without_room(app: ChatApp) -> None:
    rewrite_response(app, "leaveRoom", lambda r: without(r, "roomId"))


@mutant(
    "send-response-without-updated-at",
    "messageSent's message lacks updatedAt",
    "EVT-SEND-RESPONSE",
)
def _message_without_updated_at(app: ChatApp) -> None:
    rewrite_response(
        app, "sendMessage", lambda r: {**r, "message": without(r["message"], "updatedAt")}
    )


@mutant(
    "typing-response-without-success",
    "typingUpdated lacks success",
    "EVT-TYPING-RESPONSE",
)
def _typing_without_success(app: ChatApp) -> None:
    rewrite_response(app, "typing", lambda r: without(r, "success"))


@mutant(
    "room-stats-response-unsuccessful",
    "roomStatsRetrieved says success: false",
    "EVT-ROOM-STATS-RESPONSE",
)
def _room_stats_unsuccessful(app: ChatApp) -> None:
    rewrite_response(app, "getRoomStats", lambda r: {**r, "success": False})


@mutant(
    "heartbeat-response-without-timestamp",
    "heartbeatResponse lacks timestamp",
    "EVT-HEARTBEAT-RESPONSE",
    environment="production",
)
def _heartbeat_without_timestamp(app: ChatApp) -> None:
    rewrite_response(app, "heartbeat", lambda r: without(r, "timestamp"))


@mutant(
    "response-emitted-besides-ack",
    "a response is also emitted as an event when the client asked for an ack",
    "EVT-RESPONSE-ACK",
    extended=True,
)
def _emit_besides_ack(app: ChatApp) -> None:
    def wrap(handler: Handler) -> Handler:
        async def twice(sid: str, args: tuple[Any, ...]) -> Payload:
            response = await handler(sid, args)
            if ack_requested():
                await app.chat._send(response["event"], response, [sid])
            return response

        return twice

    for event in list(app.chat.handlers):
        replace_handler(app, event, wrap)


# -- server events and their recipients (D15-D20) ---------------------------------------


@mutant(
    "no-room-users",
    "the joiner never gets roomUsers",
    "SRV-ROOM-USERS-RECIPIENTS",
)
def _no_room_users(app: ChatApp) -> None:
    rewrite_sends(app, lambda e, p, s: None if e == ServerEvent.ROOM_USERS else (p, s))


@mutant(
    "no-room-stats-event",
    "getRoomStats answers but never emits roomStats",
    "SRV-ROOM-STATS-RECIPIENTS",
    "SRV-ROOM-STATS-PAYLOAD",
    extended=True,
)
def _no_room_stats(app: ChatApp) -> None:
    rewrite_sends(app, lambda e, p, s: None if e == ServerEvent.ROOM_STATS else (p, s))


@mutant(
    "room-stats-to-whole-room",
    "roomStats goes to every socket in the room, not only the asking one",
    "SRV-ROOM-STATS-RECIPIENTS",
)
def _room_stats_to_room(app: ChatApp) -> None:
    store = app.chat.store

    async def widen(event: str, payload: Payload, sids: list[str]) -> tuple[Payload, list[str]]:
        if event == ServerEvent.ROOM_STATS:
            sids = list(dict.fromkeys([*sids, *await store.room_sockets(payload["roomId"])]))
        return payload, sids

    rewrite_sends(app, widen)


@mutant(
    "receive-message-not-to-sender",
    "receiveMessage skips the sender's sockets",
    "SRV-RECEIVE-MESSAGE-RECIPIENTS",
)
def _receive_not_to_sender(app: ChatApp) -> None:
    store = app.chat.store

    async def narrow(event: str, payload: Payload, sids: list[str]) -> Rewritten:
        if event == ServerEvent.RECEIVE_MESSAGE:
            own = set(await store.sockets_of(payload["author"]["id"]))
            sids = [sid for sid in sids if sid not in own]
        return (payload, sids) if sids else None

    rewrite_sends(app, narrow)


@mutant(
    "user-joined-to-joiner",
    "userJoined also goes to the joiner's own sockets in the room",
    "SRV-USER-JOINED-RECIPIENTS",
)
def _user_joined_to_joiner(app: ChatApp) -> None:
    store = app.chat.store

    async def widen(event: str, payload: Payload, sids: list[str]) -> tuple[Payload, list[str]]:
        if event == ServerEvent.USER_JOINED:
            in_room = set(await store.room_sockets(payload["roomId"]))
            own = [s for s in await store.sockets_of(payload["userId"]) if s in in_room]
            sids = list(dict.fromkeys([*sids, *own]))
        return payload, sids

    rewrite_sends(app, widen)


@mutant(
    "no-user-left-on-disconnect",
    "a disconnect leaves the rooms without announcing userLeft",
    "SRV-USER-LEFT-ON-DISCONNECT",
)
def _silent_disconnect(app: ChatApp) -> None:
    disconnecting: set[str] = set()  # user ids whose socket is being disconnected
    disconnect = app.chat.disconnect
    store = app.chat.store

    async def quiet(sid: str, reason: str = "") -> None:
        user = (await store.identity(sid)).user_id if await store.has_socket(sid) else None
        if user is not None:
            disconnecting.add(user)
        try:
            await disconnect(sid, reason)
        finally:
            disconnecting.discard(user or "")

    def drop(event: str, payload: Payload, sids: list[str]) -> tuple[Payload, list[str]] | None:
        if event == ServerEvent.USER_LEFT and payload["userId"] in disconnecting:
            return None
        return payload, sids

    rewrite_sends(app, drop)
    app.sio.on("disconnect", quiet, namespace=app.settings.namespace)


class EveryCloseIsLast(MemoryStore):
    """remove_socket always reports the user's last socket."""

    async def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        identity, _ = await super().remove_socket(sid)
        return identity, True


@mutant(
    "user-offline-on-first-close",
    "userOffline is sent when the first of a user's two sockets closes",
    "SRV-USER-OFFLINE-RECIPIENTS",
    store=EveryCloseIsLast,
)
def _offline_early(app: ChatApp) -> None:
    del app


class EveryOpenIsFirst(MemoryStore):
    """add_socket always reports the user's first socket."""

    async def add_socket(self, sid: str, identity: Identity) -> bool:
        await super().add_socket(sid, identity)
        return True


@mutant(
    "user-online-on-every-socket",
    "userOnline is sent again when a user opens a second socket",
    "SRV-USER-ONLINE-RECIPIENTS",
    environment="production",
    store=EveryOpenIsFirst,
    extended=True,
)
def _online_again(app: ChatApp) -> None:
    del app


class LeavingKeepsDelivery(MemoryStore):
    """A socket that leaves a room is still addressed by the room's events."""

    def __init__(self) -> None:
        super().__init__()
        self._ghosts: dict[str, set[str]] = {}  # room id -> sids that left it

    async def leave(self, sid: str, room_id: str, at: datetime) -> Any:
        left = await super().leave(sid, room_id, at)
        if left.socket_was_in:
            self._ghosts.setdefault(room_id, set()).add(sid)
        return left

    async def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        for sids in self._ghosts.values():
            sids.discard(sid)
        return await super().remove_socket(sid)

    async def room_sockets(self, room_id: str) -> list[str]:
        members = await super().room_sockets(room_id)
        ghosts = [s for s in self._ghosts.get(room_id, ()) if s not in members]
        return members + ghosts if members else members


@mutant(
    "leave-keeps-delivery",
    "a socket that left a room still receives its messages",
    "EVT-LEAVE-STOPS-DELIVERY",
    store=LeavingKeepsDelivery,
    extended=True,
)
def _leave_keeps_delivery(app: ChatApp) -> None:
    del app


# -- typing (D18) ------------------------------------------------------------------------


class TypingAlwaysChanges(MemoryStore):
    """Every `typing: true` counts as a change of state."""

    async def set_typing(self, user_id: str, room_id: str, typing: bool, token: str = "") -> bool:
        changed = await super().set_typing(user_id, room_id, typing, token)
        return changed or (typing and user_id in await self.typing_users(room_id))


@mutant(
    "typing-repeat-announced",
    "a repeated typing: true is broadcast again",
    "EVT-TYPING-REPEAT-SILENT",
    store=TypingAlwaysChanges,
    extended=True,
)
def _typing_repeat(app: ChatApp) -> None:
    del app


class _NeverFires:
    def cancel(self) -> None:
        pass


class _ClockWithoutTimers:
    """The server's clock, but a timer it schedules never fires."""

    def __init__(self, clock: Any) -> None:
        self.monotonic = clock.monotonic
        self.now = clock.now

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _NeverFires:
        return _NeverFires()


@mutant(
    "typing-never-times-out",
    "typing never ends by itself after WS_TYPING_TIMEOUT",
    "EVT-TYPING-TIMEOUT",
    extended=True,
)
def _typing_forever(app: ChatApp) -> None:
    indicator = app.chat.typing_indicator
    indicator.clock = _ClockWithoutTimers(indicator.clock)


# -- payload validation and escaping (D12, D13) ------------------------------------------


@mutant(
    "content-2001-accepted",
    "a content of 2001 characters is accepted",
    "EVT-SEND-VALIDATION-CONTENT-LENGTH",
)
def _long_content(app: ChatApp) -> None:
    patch(validation, "CONTENT_MAX", validation.CONTENT_MAX + 1)


@mutant(
    "whitespace-content-accepted",
    "a content of whitespace only is accepted",
    "EVT-SEND-VALIDATION-CONTENT-WHITESPACE",
)
def _blank_content(app: ChatApp) -> None:
    parse: Callable[[tuple[Any, ...]], validation.SendMessage] = original(
        events, "parse_send_message"
    )

    def lenient(args: tuple[Any, ...]) -> validation.SendMessage:
        try:
            return parse(args)
        except ApiError as error:
            if "not whitespace" not in error.message:
                raise
            payload = args[0]
            return validation.SendMessage(
                room_id=payload["roomId"],
                content=payload["content"],
                message_type=payload.get("messageType", "TEXT"),
            )

    patch(events, "parse_send_message", lenient)


@mutant(
    "room-id-101-accepted",
    "a roomId of 101 characters is accepted",
    "EVT-ROOM-ID-FORMAT",
)
def _long_room_id(app: ChatApp) -> None:
    longer = validation.ROOM_ID_MAX + 1
    pattern = validation._ROOM_ID.pattern.replace(f",{validation.ROOM_ID_MAX}}}", f",{longer}}}")
    if pattern == validation._ROOM_ID.pattern:
        raise AttributeError("validation._ROOM_ID no longer spells its length bound")
    patch(validation, "_ROOM_ID", re.compile(pattern))


def _map_content(app: ChatApp, change: Callable[[str], str]) -> None:
    """Deliver every message's content as change(escaped content), on both channels."""

    def message(payload: Payload) -> Payload:
        return {**payload, "content": change(payload["content"])}

    def on_send(event: str, payload: Payload, sids: list[str]) -> tuple[Payload, list[str]]:
        if event == ServerEvent.RECEIVE_MESSAGE:
            return message(payload), sids
        if event == "messageSent":  # the emitted response (no ack asked)
            return {**payload, "message": message(payload["message"])}, sids
        return payload, sids

    rewrite_sends(app, on_send)

    def wrap(handler: Handler) -> Handler:
        async def wrapped(sid: str, args: tuple[Any, ...]) -> Payload:
            response = await handler(sid, args)
            if ack_requested():
                return {**response, "message": message(response["message"])}
            return response  # the emitted copy is changed in on_send

        return wrapped

    replace_handler(app, "sendMessage", wrap)


@mutant(
    "content-not-escaped",
    "message content is delivered raw, HTML not escaped",
    "SEC-XSS-CONTENT-ESCAPED",
)
def _raw_content(app: ChatApp) -> None:
    _map_content(app, html.unescape)


@mutant(
    "content-escaped-twice",
    "message content is HTML-escaped twice (&amp;amp;lt;)",
    "SEC-XSS-ESCAPED-ONCE",
    environment="production",
)
def _double_escaped(app: ChatApp) -> None:
    _map_content(app, validation.escape_html)


@mutant(
    "content-trimmed",
    "whitespace around a message's content is stripped before delivery",
    "EVT-SEND-CONTENT-NOT-TRIMMED",
    extended=True,
)
def _trimmed_content(app: ChatApp) -> None:
    _map_content(app, str.strip)


@mutant(
    "second-argument-accepted",
    "an event sent with a second argument is handled with the first, not refused with 400",
    "EVT-PAYLOAD-SINGLE-ARGUMENT",
    extended=True,
)
def _extra_arguments(app: ChatApp) -> None:
    payload = original(validation, "_payload")

    def first_only(args: tuple[Any, ...]) -> dict[str, Any]:
        checked: dict[str, Any] = payload(args[:1])
        return checked

    patch(validation, "_payload", first_only)


@mutant(
    "heartbeat-payload-refused",
    "a heartbeat that carries a payload is refused with 400 instead of answered",
    "EVT-HEARTBEAT-PAYLOAD-IGNORED",
    extended=True,
)
def _strict_heartbeat(app: ChatApp) -> None:
    def wrap(handler: Handler) -> Handler:
        async def strict(sid: str, args: tuple[Any, ...]) -> Payload:
            if args:
                raise ApiError(400, "heartbeat takes no payload")
            return await handler(sid, args)

        return strict

    replace_handler(app, "heartbeat", wrap)


# -- rate limits (D21, D22) ------------------------------------------------------------


@mutant(
    "prod-messages-31",
    "production allows 31 messages per window instead of 30",
    "RL-PROD-MESSAGES",
    environment="production",
)
def _prod_messages(app: ChatApp) -> None:
    limits(app, messages=31)


@mutant(
    "prod-joins-11",
    "production allows 11 joins per window instead of 10",
    "RL-PROD-JOINS",
    environment="production",
    extended=True,
)
def _prod_joins(app: ChatApp) -> None:
    limits(app, joins=11)


@mutant(
    "prod-typing-unlimited",
    "production never limits typing",
    "RL-PROD-TYPING",
    environment="production",
)
def _prod_typing(app: ChatApp) -> None:
    limits(app, typing=UNLIMITED)


@mutant(
    "dev-messages-59",
    "development refuses the 60th message of a window",
    "RL-DEV-MESSAGES",
    extended=True,
)
def _dev_messages(app: ChatApp) -> None:
    limits(app, messages=59)


@mutant(
    "dev-joins-21",
    "development allows 21 joins per window instead of 20",
    "RL-DEV-JOINS",
)
def _dev_joins(app: ChatApp) -> None:
    limits(app, joins=21)


@mutant(
    "dev-typing-121",
    "development allows 121 typing events per window instead of 120",
    "RL-DEV-TYPING",
    extended=True,
)
def _dev_typing(app: ChatApp) -> None:
    limits(app, typing=121)


@mutant(
    "window-never-resets",
    "the rate-limit window never ends, so the allowance never returns",
    "RL-WINDOW-RESET",
    environment="production",
)
def _window_forever(app: ChatApp) -> None:
    chat = app.chat
    chat.limiter = RateLimiter(chat.limiter.limits, UNLIMITED, chat.clock)


class RestartingLimiter(RateLimiter):
    """Each counted event starts the window again (a debounce, not a fixed window)."""

    def allow(self, user_id: str, kind: Kind) -> bool:
        allowed = super().allow(user_id, kind)
        key = (user_id, kind)
        if allowed:
            self._windows[key] = Window(self._clock.monotonic(), self._windows[key].count)
        return allowed


@mutant(
    "window-restarts-on-each-event",
    "the window restarts at every counted event instead of at the first one",
    "RL-FIXED-WINDOW",
    extended=True,
)
def _window_restarts(app: ChatApp) -> None:
    chat = app.chat
    chat.limiter = RestartingLimiter(
        chat.limiter.limits, app.settings.rate_limit_window_ms, chat.clock
    )


@mutant(
    "violations-not-counted",
    "a refused event does not add to rateLimiting.violations",
    "RL-VIOLATIONS-COUNTED",
    # The managed production run declares metrics and the heartbeat off: the rule
    # applies only in development.
    environment="development",
)
def _violations_uncounted(app: ChatApp) -> None:
    counters = app.counters
    add = counters.add

    async def add_but_violations(name: Any) -> None:
        if name != "violations":
            await add(name)

    counters.add = add_but_violations  # type: ignore[method-assign]


@mutant(
    "refused-message-counted",
    "a message refused with 429 is counted in messages.totalProcessed",
    "RL-OVER-LIMIT-429",
)
def _refused_counted(app: ChatApp) -> None:
    chat = app.chat
    admit = chat.limiter.admit

    async def counting(user_id: str, kind: Kind) -> bool:
        allowed = await admit(user_id, kind)
        if not allowed and kind == Kind.MESSAGES:
            await chat.counters.add("messages")
        return allowed

    chat.limiter.admit = counting  # type: ignore[method-assign]


# -- errors (D7, D9, D16) ----------------------------------------------------------------


@mutant(
    "error-event-not-emitted",
    "a failed event is answered on the ack only, never as the `error` event",
    "SRV-ERROR-EMITTED",
    extended=True,
)
def _no_error_event(app: ChatApp) -> None:
    rewrite_sends(app, lambda e, p, s: None if e == ServerEvent.ERROR else (p, s))


@mutant(
    "error-phrase-wrong",
    'the 400 error object says error: "Invalid Payload", not the status phrase',
    "ERR-STATUS-PHRASE",
)
def _wrong_phrase(app: ChatApp) -> None:
    patch(errors_module, "STATUS_PHRASES", {**errors_module.STATUS_PHRASES, 400: "Invalid Payload"})


@mutant(
    "membership-not-required",
    "sendMessage and typing for a room the socket has not joined are accepted",
    "EVT-SEND-MEMBERSHIP",
    "EVT-TYPING-MEMBERSHIP",
    extended=True,
    documented_clean=True,
)
def _no_membership(app: ChatApp) -> None:
    async def always(sid: str, room_id: str) -> bool:
        return True

    app.chat.store.is_member = always  # type: ignore[method-assign]


@mutant(
    "internal-error-leaks",
    "a 500 carries the exception's type and text",
    "ERR-500-NO-INTERNALS",
    extended=True,
)
def _leaky_500(app: ChatApp) -> None:
    def wrap(handler: Handler) -> Handler:
        async def leaky(sid: str, args: tuple[Any, ...]) -> Payload:
            try:
                return await handler(sid, args)
            except ApiError:
                raise
            except Exception as error:  # noqa: BLE001 - the point of this mutant
                raise ApiError(500, f"{type(error).__name__}: {error}") from None

        return leaky

    for event in list(app.chat.handlers):
        replace_handler(app, event, wrap)


@mutant(
    "unknown-event-ignored",
    "an event the API does not define gets no answer at all",
    "ERR-UNKNOWN-EVENT",
    environment="production",
    extended=True,
)
def _ignore_unknown(app: ChatApp) -> None:
    async def silent(event: str, sid: str, *args: Any) -> None:
        return None

    app.sio.on("*", silent, namespace=app.settings.namespace)


# -- health, stats, CORS, heartbeat (D22-D26) -----------------------------------------------


class SocketsAsUsers(MemoryStore):
    """connected_users counts sockets."""

    async def connected_users(self) -> int:
        return await self.connected_sockets()


@mutant(
    "connected-users-counts-sockets",
    "health's connectedUsers counts sockets, not distinct users",
    "HEALTH-CONNECTED-USERS",
    store=SocketsAsUsers,
)
def _sockets_as_users(app: ChatApp) -> None:
    del app


@mutant(
    "health-reports-documented-window",
    "health reports windowMs 60000 while a shorter window is in force",
    "RL-WINDOW-REPORTED",
)
def _wrong_window(app: ChatApp) -> None:
    health = original(http_module, "health")

    async def misreported(*args: Any) -> dict[str, Any]:
        body: dict[str, Any] = await health(*args)
        return {**body, "rateLimits": {**body["rateLimits"], "windowMs": 60_000}}

    patch(http_module, "health", misreported)


@mutant(
    "cors-any-origin-on-http",
    "the HTTP endpoints send Access-Control-Allow-Origin for any Origin",
    "SEC-CORS-HTTP-ALLOW-ORIGIN",
)
def _cors_any_origin(app: ChatApp) -> None:
    asgi = app._asgi

    async def permissive(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/websocket/"):
            await asgi(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin")

        async def send_allowing(message: Any) -> None:
            if origin and message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"access-control-allow-origin"
                ]
                message = {
                    **message,
                    "headers": [*headers, (b"access-control-allow-origin", origin)],
                }
            await send(message)

        await asgi(scope, receive, send_allowing)

    app._asgi = permissive


@mutant(
    "cors-any-origin-on-handshake",
    "a Socket.IO handshake from any Origin is accepted",
    "SEC-CORS-HANDSHAKE-REFUSED",
    extended=True,
)
def _cors_any_handshake(app: ChatApp) -> None:
    eio = app.sio.eio
    if not hasattr(eio, "cors_allowed_origins"):
        raise AttributeError("engineio server has no cors_allowed_origins to widen")
    eio.cors_allowed_origins = "*"


class UsersAsSockets(MemoryStore):
    """connected_sockets counts users."""

    async def connected_sockets(self) -> int:
        return await self.connected_users()


@mutant(
    "stats-current-counts-users",
    "stats' connections.current counts distinct users, not sockets",
    "STATS-CONNECTIONS-CURRENT",
    store=UsersAsSockets,
    extended=True,
)
def _users_as_sockets(app: ChatApp) -> None:
    del app


@mutant(
    "development-without-detailed-logging",
    "development reports features.detailedLogging false",
    "CFG-DEBUG-MODE",
    extended=True,
)
def _no_detailed_logging(app: ChatApp) -> None:
    health = original(http_module, "health")

    async def misreported(*args: Any) -> dict[str, Any]:
        body: dict[str, Any] = await health(*args)
        return {**body, "features": {**body["features"], "detailedLogging": False}}

    patch(http_module, "health", misreported)


@mutant(
    "heartbeat-interval-doubled",
    "ping comes every 2 x WS_HEARTBEAT_INTERVAL ms",
    "HB-PING-INTERVAL",
)
def _slow_pings(app: ChatApp) -> None:
    ping_forever = original(app_module, "ping_forever")

    def doubled(sio: Any, namespace: str, interval_ms: int, clock: Any) -> Any:
        return ping_forever(sio, namespace, interval_ms * 2, clock)

    patch(app_module, "ping_forever", doubled)


@mutant(
    "heartbeat-never-pings",
    "no ping is ever emitted although health says heartbeat: true",
    "HB-PING-INTERVAL",
    # The managed production run declares metrics and the heartbeat off: the rule
    # applies only in development.
    environment="development",
)
def _no_pings(app: ChatApp) -> None:
    async def never(*args: Any) -> None:
        await asyncio.Event().wait()

    patch(app_module, "ping_forever", never)


# -- servers whose health report lies about their configuration -------------------------
# The suite judges what the user declared (the documented defaults here), never what the
# target says about itself: each of these is caught by its behaviour.


def _claim(**features: Any) -> Callable[[ChatApp], None]:
    """A health report whose `features` (and corsOrigin) say what the server is not."""

    def mutate(app: ChatApp) -> None:
        health = original(http_module, "health")

        async def claimed(*args: Any) -> dict[str, Any]:
            body: dict[str, Any] = await health(*args)
            cors = features.get("corsOrigin")
            websocket = {**body["websocket"], **({"corsOrigin": cors} if cors else {})}
            rest = {k: v for k, v in features.items() if k != "corsOrigin"}
            return {**body, "websocket": websocket, "features": {**body["features"], **rest}}

        patch(http_module, "health", claimed)

    return mutate


@mutant(
    "lying-no-pings",
    "sends no ping while its health report claims the heartbeat is off",
    "HB-PING-INTERVAL",
)
def _lying_no_pings(app: ChatApp) -> None:
    _no_pings(app)
    _claim(heartbeat=False)(app)


@mutant(
    "lying-no-metrics",
    "counts no connection while its health report claims metrics are off",
    "STATS-CONNECTIONS-TOTAL",
)
def _lying_no_metrics(app: ChatApp) -> None:
    app.counters.enabled = False
    app.chat.counters.enabled = False
    _claim(metrics=False)(app)


@mutant(
    "lying-any-origin",
    "accepts a handshake from any Origin while its health report claims corsOrigin '*'",
    "SEC-CORS-HANDSHAKE-REFUSED",
)
def _lying_any_origin(app: ChatApp) -> None:
    _cors_any_handshake(app)
    _claim(corsOrigin="*")(app)


# -- a stray event whose field a check's predicate reads is renamed ----------------------


@mutant(
    "user-offline-early-renamed-field",
    "userOffline, with userId renamed uid, is sent when the first of two sockets closes",
    "SRV-USER-OFFLINE-RECIPIENTS",
    store=EveryCloseIsLast,
)
def _offline_early_renamed(app: ChatApp) -> None:
    def renamed(event: str, payload: Payload, sids: list[str]) -> tuple[Payload, list[str]]:
        if event == ServerEvent.USER_OFFLINE and "userId" in payload:
            payload = {**without(payload, "userId"), "uid": payload["userId"]}
        return payload, sids

    rewrite_sends(app, renamed)


@mutant(
    "user-left-renamed-field-on-repeat-leave",
    "a repeated leaveRoom sends userLeft again, with userId renamed uid",
    "EVT-LEAVE-IDEMPOTENT",
)
def _left_again_renamed(app: ChatApp) -> None:
    chat = app.chat

    def wrap(handler: Handler) -> Handler:
        async def wrapped(sid: str, args: tuple[Any, ...]) -> Payload:
            room_id = args[0].get("roomId") if args and isinstance(args[0], dict) else None
            was_member = isinstance(room_id, str) and room_id in await chat.store.rooms_of(sid)
            response = await handler(sid, args)
            if isinstance(room_id, str) and not was_member:
                user_id = (await chat.store.identity(sid)).user_id
                stray = {"uid": user_id, "username": "x", "roomId": room_id}
                await app.sio.emit(
                    ServerEvent.USER_LEFT, stray, room=None, namespace=app.settings.namespace
                )
            return response

        return wrapped

    replace_handler(app, "leaveRoom", wrap)


# -- a server that never answers -----------------------------------------------------------


@mutant(
    "never-answers",
    "no client event is ever answered: no ack, no response event, no error",
    "EVT-JOIN-RESPONSE",
    "EVT-HEARTBEAT-RESPONSE",
    # Every check would wait out its timeout: judge the two events' own checks.
    only=("EVT-JOIN-RESPONSE", "EVT-HEARTBEAT-RESPONSE"),
)
def _never_answers(app: ChatApp) -> None:
    async def silent(sid: str, args: tuple[Any, ...]) -> Payload:
        await asyncio.Event().wait()
        return {}

    for event in list(app.chat.handlers):
        replace_handler(app, event, lambda _handler: silent)


# -- hostile input (D35) ----------------------------------------------------------------------


def _wrap_refuse(app: ChatApp, instead: Callable[[Any, Any], Awaitable[bool]]) -> None:
    """Run `instead(eio_sid, refusal)` before the server's D35 refusal; True skips it."""
    sio: Any = app.sio
    refuse = sio._refuse

    async def refusing(eio_sid: str, refusal: Any) -> None:
        if not await instead(eio_sid, refusal):
            await refuse(eio_sid, refusal)

    sio._refuse = refusing


@mutant(
    "drops-deep-payloads",
    "a payload nested deeper than the limit gets no answer at all (python-socketio's own "
    "RecursionError behaviour)",
    "ROB-DEEP-PAYLOAD-400",
    "ROB-UNDECODABLE-EVENT-400",
)
def _drops_deep_payloads(app: ChatApp) -> None:
    async def drop(eio_sid: str, refusal: Any) -> bool:
        return "deeper than" in refusal.reason

    _wrap_refuse(app, drop)


@mutant(
    "hangs-on-malformed-frame",
    "a frame that is not a Socket.IO packet hangs its connection: never closed, never read",
    "ROB-NOT-SOCKETIO-CLOSES",
)
def _hangs_on_malformed_frame(app: ChatApp) -> None:
    async def hang(eio_sid: str, refusal: Any) -> bool:
        if refusal.close:
            await asyncio.Event().wait()
        return False

    _wrap_refuse(app, hang)


@mutant(
    "closes-on-unknown-namespace",
    "an event for a namespace the connection has not joined closes the connection",
    "ROB-UNKNOWN-NAMESPACE-IGNORED",
)
def _closes_on_unknown_namespace(app: ChatApp) -> None:
    sio: Any = app.sio
    connected = sio._connected

    def strict(eio_sid: str, namespace: str | None) -> bool:
        if connected(eio_sid, namespace):
            return True
        raise decoding.Undecodable("an event for another namespace", close=True)

    sio._connected = strict


@mutant(
    "drops-binary-attachments",
    "binary attachments are dropped, so a binary payload is never answered and the packet "
    "waiting for them swallows the next frame",
    "ROB-BINARY-PAYLOAD-400",
    "ROB-UNDECODABLE-EVENT-400",
)
def _drops_binary_attachments(app: ChatApp) -> None:
    sio: Any = app.sio
    dispatch = sio._dispatch

    async def dropping(eio_sid: str, data: str | bytes) -> None:
        if isinstance(data, bytes):
            return
        await dispatch(eio_sid, data)

    sio._dispatch = dropping


# -- reference decisions broken by servers that follow the document (documented_clean) ----
#
# Each follows websocket-api.md and breaks one reference decision of interpretation.md at
# one edge; its run must fail that decision's requirement and no documented one.


def _exhausted(app: ChatApp, user_id: str, kind: Kind) -> bool:
    """The user's allowance of `kind` is used up in the current window (read, not counted)."""
    limiter = app.chat.limiter
    window = limiter._windows.get((user_id, kind))
    now = limiter._clock.monotonic()
    return count_event(window, now, limiter.window_s, limiter.limits.of(kind)) is None


def _room_of(args: tuple[Any, ...]) -> str | None:
    first = args[0] if args else None
    room = first.get("roomId") if isinstance(first, dict) else None
    return room if isinstance(room, str) else None


KIND_OF_EVENT = {"joinRoom": Kind.JOINS, "sendMessage": Kind.MESSAGES, "typing": Kind.TYPING}


def _before_validation(
    app: ChatApp, check: Callable[[str, str, tuple[Any, ...]], Awaitable[None]]
) -> None:
    """Run `check(sid, event, args)` before each limited event's own validation."""
    for event in KIND_OF_EVENT:

        def wrap(handler: Handler, event: str = event) -> Handler:
            async def checked(sid: str, args: tuple[Any, ...]) -> Payload:
                await check(sid, event, args)
                return await handler(sid, args)

            return checked

        replace_handler(app, event, wrap)


class EmptyRoomsKept(MemoryStore):
    """D14 broken: a room is kept (with no members) after its last leave or disconnect."""

    async def leave(self, sid: str, room_id: str, at: datetime) -> Any:
        room = self._rooms.get(room_id)
        left = await super().leave(sid, room_id, at)
        if room is not None and room_id not in self._rooms:
            self._rooms[room_id] = room
        return left


@mutant(
    "empty-rooms-kept",
    "a room stays (empty) after its last member leaves or disconnects (D14)",
    "EVT-LEAVE-REMOVES-ROOM",
    store=EmptyRoomsKept,
    only=("HEALTH-", "STATS-", "EVT-LEAVE-", "EVT-JOIN-"),
    documented_clean=True,
)
def _keep_empty_rooms(app: ChatApp) -> None:
    del app


class SocketsCountedInStats(MemoryStore):
    """D5 broken in the statistics: rooms.details userCount counts sockets."""

    async def rooms(self) -> list[Any]:
        return [
            dataclasses.replace(detail, user_count=len(await self.room_sockets(detail.room_id)))
            for detail in await super().rooms()
        ]


@mutant(
    "room-stats-count-sockets",
    "roomStats and rooms.details count (and list) a user once per socket in the room (D5)",
    "SRV-ROOM-STATS-USERS-ONCE",
    store=SocketsCountedInStats,
    only=("SRV-ROOM-STATS-", "STATS-", "HEALTH-"),
    documented_clean=True,
)
def _stats_count_sockets(app: ChatApp) -> None:
    chat = app.chat

    async def per_socket(
        event: str, payload: Payload, sids: list[str]
    ) -> tuple[Payload, list[str]]:
        if event != ServerEvent.ROOM_STATS:
            return payload, sids
        store = chat.store
        user_ids = [
            (await store.identity(s)).user_id for s in await store.room_sockets(payload["roomId"])
        ]
        users = [
            {"userId": u, "username": html.escape(await store.display_name(u))} for u in user_ids
        ]
        return {**payload, "userCount": len(users), "users": users}, sids

    rewrite_sends(app, per_socket)


@mutant(
    "room-stats-need-membership",
    "getRoomStats for a room the socket has not joined is refused with 403 (D16)",
    "EVT-ROOM-STATS-NO-MEMBERSHIP",
    only=("EVT-ROOM-STATS-", "EVT-PAYLOAD-", "SEC-INPUT-VALIDATION", "ERR-"),
    documented_clean=True,
)
def _stats_need_membership(app: ChatApp) -> None:
    chat = app.chat

    def wrap(handler: Handler) -> Handler:
        async def members_only(sid: str, args: tuple[Any, ...]) -> Payload:
            response = await handler(sid, args)  # validation and the fault switch first
            room = _room_of(args)
            if room is not None and not await chat.store.is_member(sid, room):
                raise ApiError(403, f"join room '{room}' before you ask for its statistics")
            return response

        return members_only

    # The roomStats event is sent inside the handler: drop it for non-members.
    async def members_hear(e: str, p: Payload, s: list[str]) -> Rewritten:
        if e == ServerEvent.ROOM_STATS:
            for x in s:
                if not await chat.store.is_member(x, p["roomId"]):
                    return None
        return p, s

    rewrite_sends(app, members_hear)
    replace_handler(app, "getRoomStats", wrap)


@mutant(
    "membership-before-validation",
    "sendMessage and typing check membership (403) before the payload (400) (D10)",
    "ERR-CHECK-ORDER",
    only=("EVT-SEND-", "EVT-TYPING-", "ERR-", "SEC-INPUT-VALIDATION"),
    documented_clean=True,
)
def _membership_first(app: ChatApp) -> None:
    chat = app.chat

    async def member_first(sid: str, event: str, args: tuple[Any, ...]) -> None:
        room = _room_of(args)
        if event == "joinRoom" or room is None or room == app.settings.fault_room:
            return
        if not await chat.store.is_member(sid, room):
            raise ApiError(403, f"join room '{room}' first")

    _before_validation(app, member_first)


@mutant(
    "fault-before-validation",
    "the fault switch (500) fires before the payload is validated (400) (D10)",
    "ERR-CHECK-ORDER",
    only=("ERR-",),
    documented_clean=True,
)
def _fault_first(app: ChatApp) -> None:
    async def fault_first(sid: str, event: str, args: tuple[Any, ...]) -> None:
        if _room_of(args) == app.settings.fault_room:
            raise RuntimeError("fault before validation")

    _before_validation(app, fault_first)


@mutant(
    "membership-before-fault",
    "membership (403) is checked before the fault switch (500) (D10)",
    "ERR-CHECK-ORDER",
    only=("ERR-",),
    documented_clean=True,
)
def _membership_before_fault(app: ChatApp) -> None:
    chat = app.chat

    async def admit(
        sid: str, room_id: str, *, member: str | None = None, limit: Kind | None = None
    ) -> str:
        if member is not None:
            await chat._require_membership(sid, room_id, member)
        chat._fault_switch(room_id)
        user_id = (await chat.store.identity(sid)).user_id
        if limit is not None:
            await chat._rate_limit(user_id, limit)
        return user_id

    chat._admit = admit  # type: ignore[method-assign]


def _limit_peek(
    app: ChatApp, applies: Callable[[str, str, tuple[Any, ...]], Awaitable[bool]]
) -> None:
    """A 429 for a user whose allowance is used up, before validation, when `applies`;
    an event refused so is not counted (so RL-INVALID-NOT-COUNTED still holds)."""
    chat = app.chat

    async def peek(sid: str, event: str, args: tuple[Any, ...]) -> None:
        user_id = (await chat.store.identity(sid)).user_id
        if await applies(sid, event, args) and _exhausted(app, user_id, KIND_OF_EVENT[event]):
            raise ApiError(429, "rate limit exceeded (checked first)")

    _before_validation(app, peek)


@mutant(
    "limit-before-validation",
    "a user over its allowance gets 429 for an invalid payload, not 400 (D10)",
    "ERR-CHECK-ORDER",
    only=("ERR-", "RL-"),
    documented_clean=True,
)
def _limit_before_validation(app: ChatApp) -> None:
    async def invalid(sid: str, event: str, args: tuple[Any, ...]) -> bool:
        return _room_of(args) is None

    _limit_peek(app, invalid)


@mutant(
    "limit-before-fault",
    "a user over its allowance gets 429 for an event that would fail with 500 (D10)",
    "ERR-CHECK-ORDER",
    only=("ERR-", "RL-"),
    documented_clean=True,
)
def _limit_before_fault(app: ChatApp) -> None:
    async def faulty(sid: str, event: str, args: tuple[Any, ...]) -> bool:
        return _room_of(args) == app.settings.fault_room

    _limit_peek(app, faulty)


@mutant(
    "limit-before-membership",
    "a user over its allowance gets 429 for a room it has not joined, not 403 (D10)",
    "ERR-CHECK-ORDER",
    only=("ERR-", "RL-"),
    documented_clean=True,
)
def _limit_before_membership(app: ChatApp) -> None:
    chat = app.chat

    async def outside(sid: str, event: str, args: tuple[Any, ...]) -> bool:
        room = _room_of(args)
        return (
            event != "joinRoom"
            and room is not None
            and room != app.settings.fault_room
            and not await chat.store.is_member(sid, room)
        )

    _limit_peek(app, outside)


def _decode_at(shift_s: float, when: Callable[[ApiError], bool]) -> None:
    """decode_token judges a token refused for `when` again at now + shift_s."""
    decode: Decode = original(events, "decode_token")

    def shifted(token: str, secret: str, now: datetime) -> Identity:
        try:
            return decode(token, secret, now)
        except ApiError as refusal:
            if not when(refusal):
                raise
            return decode(token, secret, datetime.fromtimestamp(now.timestamp() + shift_s, UTC))

    patch(events, "decode_token", shifted)


@mutant(
    "auth-exp-leeway",
    "exp is judged with 30 s of leeway (D3: none)",
    "AUTH-EXP-NBF-NO-LEEWAY",
    only=("AUTH-",),
    documented_clean=True,
)
def _exp_leeway(app: ChatApp) -> None:
    _decode_at(-30, lambda r: r.message.startswith("the token expired"))


@mutant(
    "auth-nbf-leeway",
    "nbf is judged with 30 s of leeway (D3: none)",
    "AUTH-EXP-NBF-NO-LEEWAY",
    only=("AUTH-",),
    documented_clean=True,
)
def _nbf_leeway(app: ChatApp) -> None:
    _decode_at(30, lambda r: r.message.startswith("the token is not valid before"))


def _time_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


@mutant(
    "auth-expires-early",
    "a token counts as expired 3 s before its exp",
    "AUTH-EXP-NBF-NO-LEEWAY",
    only=("AUTH-",),
    documented_clean=True,
)
def _expires_early(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def early(token: str, secret: str, now: datetime) -> Identity:
        return decode(token, secret, datetime.fromtimestamp(now.timestamp() + 3, UTC))

    patch(events, "decode_token", early)
    del app


@mutant(
    "auth-nbf-exclusive",
    "a token is valid only a second after its nbf",
    "AUTH-EXP-NBF-NO-LEEWAY",
    only=("AUTH-",),
    documented_clean=True,
)
def _nbf_exclusive(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def late(token: str, secret: str, now: datetime) -> Identity:
        identity = decode(token, secret, now)
        nbf = _time_claims(token).get("nbf")
        if isinstance(nbf, int | float) and now.timestamp() < nbf + 1:
            raise ApiError(401, "the token is not valid yet")
        return identity

    patch(events, "decode_token", late)
    del app


@mutant(
    "auth-iat-in-future-refused",
    "a token whose iat lies in the future is refused (PyJWT's default check)",
    "AUTH-EXTRA-CLAIMS-IGNORED",
    only=("AUTH-",),
    documented_clean=True,
)
def _iat_judged(app: ChatApp) -> None:
    decode: Decode = original(events, "decode_token")

    def judged(token: str, secret: str, now: datetime) -> Identity:
        identity = decode(token, secret, now)
        iat = _time_claims(token).get("iat")
        if isinstance(iat, int | float) and iat > now.timestamp():
            raise ApiError(401, "the token was issued in the future")
        return identity

    patch(events, "decode_token", judged)
    del app


class MembershipPerUser(MemoryStore):
    """D5/D16 broken: a socket counts as a member when any socket of its user joined."""

    async def is_member(self, sid: str, room_id: str) -> bool:
        user_id = (await self.identity(sid)).user_id
        for s in await self.sockets_of(user_id):
            if await super().is_member(s, room_id):
                return True
        return False


@mutant(
    "membership-per-user",
    "sendMessage and typing are accepted from a socket whose user joined on another socket",
    "EVT-SEND-MEMBERSHIP",
    "EVT-TYPING-MEMBERSHIP",
    store=MembershipPerUser,
    only=("EVT-SEND-", "EVT-TYPING-", "SRV-"),
)
def _membership_per_user(app: ChatApp) -> None:
    del app


@mutant(
    "typing-per-socket",
    "typing state is kept per socket: a second socket of a typing user announces it again",
    "EVT-TYPING-REPEAT-SILENT",
    only=("EVT-TYPING-", "SRV-USER-TYPING-"),
)
def _typing_per_socket(app: ChatApp) -> None:
    chat = app.chat
    started_by: dict[tuple[str, str], str] = {}

    def wrap(handler: Handler) -> Handler:
        async def per_socket(sid: str, args: tuple[Any, ...]) -> Payload:
            room = _room_of(args)
            first = args[0] if args else None
            if room is not None and isinstance(first, dict) and first.get("isTyping") is True:
                user_id = (await chat.store.identity(sid)).user_id
                key = (user_id, room)
                if started_by.get(key, sid) != sid:
                    await chat.store.set_typing(user_id, room, False)  # this socket's own state
                started_by[key] = sid
            return await handler(sid, args)

        return per_socket

    replace_handler(app, "typing", wrap)


class TypingEndsOnAnyLeave(MemoryStore):
    """D18 broken: a user's typing ends when any of its sockets leaves the room."""

    async def leave(self, sid: str, room_id: str, at: datetime) -> Any:
        room = self._rooms.get(room_id)
        user_id = self._identities[sid].user_id
        typing = room is not None and sid in room.sockets and user_id in room.typing
        left = await super().leave(sid, room_id, at)
        if typing and not left.user_left:
            await self.set_typing(user_id, room_id, False)
            return dataclasses.replace(left, was_typing=True)
        return left


@mutant(
    "typing-ends-on-any-leave",
    "a user's typing ends (announced) when one of its two sockets in the room leaves",
    "EVT-TYPING-ENDS-ON-LEAVE",
    store=TypingEndsOnAnyLeave,
    only=("EVT-TYPING-", "SRV-USER-TYPING-"),
)
def _typing_ends_on_any_leave(app: ChatApp) -> None:
    del app


class EveryDisconnectLeaves(MemoryStore):
    """D15 broken at disconnect: a closing socket announces userLeft for its rooms even
    when another socket of its user stays in them."""

    disconnecting: str | None = None

    async def leave(self, sid: str, room_id: str, at: datetime) -> Any:
        left = await super().leave(sid, room_id, at)
        if sid == self.disconnecting and left.socket_was_in:
            return dataclasses.replace(left, user_left=True)
        return left


@mutant(
    "user-left-on-any-disconnect",
    "closing one of a user's two sockets in a room announces userLeft",
    "SRV-USER-LEFT-ON-DISCONNECT",
    store=EveryDisconnectLeaves,
    only=("SRV-USER-LEFT-",),
)
def _user_left_on_any_disconnect(app: ChatApp) -> None:
    chat = app.chat
    store = chat.store
    disconnect = chat.disconnect

    async def marked(sid: str, reason: str = "") -> None:
        store.disconnecting = sid  # type: ignore[attr-defined]
        try:
            await disconnect(sid, reason)
        finally:
            store.disconnecting = None  # type: ignore[attr-defined]

    chat.disconnect = marked  # type: ignore[method-assign]
    app.sio.on("disconnect", marked, namespace=app.settings.namespace)


# -- clusters: each node of these runs the mutant, the nodes share a Redis server (D33, D34)

CLUSTER = 3


def _cluster(app: ChatApp) -> Any:
    if app.cluster is None:
        raise AttributeError("a cluster mutant needs REDIS_URL: it runs as several nodes")
    return app.cluster


@mutant(
    "cluster-rate-limit-per-node",
    "each node counts a user's allowance on its own",
    "RL-CLUSTER-SHARED-ALLOWANCE",
    nodes=CLUSTER,
)
def _per_node_limit(app: ChatApp) -> None:
    _cluster(app)
    chat = app.chat
    chat.limiter = RateLimiter(chat.limiter.limits, app.settings.rate_limit_window_ms, chat.clock)


@mutant(
    "cluster-presence-per-node",
    "userOnline and userOffline follow a user's first and last socket on each node",
    "SRV-CLUSTER-PRESENCE",
    nodes=CLUSTER,
)
def _per_node_presence(app: ChatApp) -> None:
    _cluster(app)
    store = app.chat.store
    add, remove = store.add_socket, store.remove_socket
    here: dict[str, int] = {}  # user id -> this node's open sockets

    async def add_socket(sid: str, identity: Identity) -> bool:
        await add(sid, identity)
        here[identity.user_id] = here.get(identity.user_id, 0) + 1
        return here[identity.user_id] == 1

    async def remove_socket(sid: str) -> tuple[Identity, bool]:
        identity, _ = await remove(sid)
        here[identity.user_id] = here.get(identity.user_id, 1) - 1
        return identity, here[identity.user_id] == 0

    store.add_socket = add_socket  # type: ignore[method-assign]
    store.remove_socket = remove_socket  # type: ignore[method-assign]


@mutant(
    "cluster-figures-per-node",
    "health and stats count only the answering node's connections",
    "HEALTH-CLUSTER-FIGURES",
    nodes=CLUSTER,
)
def _per_node_figures(app: ChatApp) -> None:
    cluster = _cluster(app)
    store = app.chat.store

    async def local_sockets() -> int:
        return len(await store.node_sockets(cluster.node_id))

    store.connected_sockets = local_sockets  # type: ignore[method-assign]


@mutant(
    "cluster-no-lease-sweep",
    "a lost node's sockets are never removed: its users stay in their rooms",
    "SRV-CLUSTER-NODE-LOSS",
    nodes=CLUSTER,
)
def _no_sweep(app: ChatApp) -> None:
    node = _cluster(app).node

    async def sweep(disconnect: Any) -> None:
        return None

    node.sweep = sweep


@mutant(
    "cluster-typing-timer-local",
    "a typing timeout lives only as a timer on the node that got typing: true; lost with "
    "that node, the typing of a user still in the room elsewhere never ends",
    "SRV-CLUSTER-NODE-LOSS",
    nodes=CLUSTER,
)
def _typing_timer_local(app: ChatApp) -> None:
    node = _cluster(app).node

    async def end_overdue_typing(typing_ended: Any) -> None:
        return None

    node.end_overdue_typing = end_overdue_typing


@mutant(
    "cluster-pings-published",
    "every node's ping is published to the sockets of every node",
    "HB-CLUSTER-OWN-SOCKETS",
    nodes=CLUSTER,
)
def _published_pings(app: ChatApp) -> None:
    _cluster(app)

    async def ping_everyone(sio: Any, namespace: str, interval_ms: int, clock: Any) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000)
            await sio.emit(ServerEvent.PING, payloads.ping(clock.now()), namespace=namespace)

    patch(app_module, "ping_forever", ping_everyone)


# -- command line --------------------------------------------------------------------------


def check_all() -> list[str]:
    """Build every mutant (in this throwaway process: the patches pile up) and say which
    ones no longer apply to the server's code."""
    problems = []
    environ = {"JWT_SECRET": "mutant-check-secret-of-32-bytes-or-more"}
    # A cluster node is built without reaching Redis (it connects when it starts).
    clustered = {**environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    for name, chosen in MUTANTS.items():
        settings = Settings.from_env(clustered if chosen.nodes > 1 else environ)
        try:
            build(name, settings)
        except Exception as error:  # noqa: BLE001 - report every broken mutant at once
            problems.append(f"{name}: {type(error).__name__}: {error}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        problems = check_all()
        print("\n".join(problems) or f"all {len(MUTANTS)} mutants build")
        return 1 if problems else 0
    if args in (["--list"], []):
        for m in MUTANTS.values():
            tier = "extended" if m.extended else "core"
            print(f"{m.name:<38} {tier:<9} {m.environment:<12} {','.join(m.requirements)}")
            print(f"    breaks: {m.breaks}")
        return 0 if args else 2
    name = args[0]
    if name not in MUTANTS:
        print(f"unknown mutant {name!r}; --list shows them", file=sys.stderr)
        return 2
    from reference_server.serve import run

    settings = Settings.from_env(os.environ)
    app = build(name, settings)
    print(f"mutant {name}: {MUTANTS[name].breaks}", file=sys.stderr, flush=True)
    run(settings, app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
