"""Decoding what a client sends, strictly: every undecodable packet is refused by rule (D35).

python-socketio 5.x decodes a packet and lets whatever goes wrong escape: invalid JSON, an
unknown packet type or an EVENT with no array raise inside its message handler, which logs a
traceback and drops the packet, so the client waits for an answer that never comes, and a
payload nested ~1,000 levels deep raises RecursionError the same way. Here:

- an EVENT whose payload cannot be decoded (invalid JSON, nested deeper than MAX_DEPTH, a
  body that is not a non-empty array, an unreadable ack id, broken binary placeholders) gets
  the D7 `error` with statusCode 400, and the ack too when its id is readable; the socket
  stays usable;
- a frame that is not a Socket.IO packet at all (unknown type, a CONNECT_ERROR from a client,
  text where a binary attachment is due, a binary frame nobody announced, a non-Engine.IO
  frame) or larger than MAX_FRAME_SIZE closes the connection, as Socket.IO servers do;
- either way one log line with the reason, at most LOG_LINES_PER_SECOND per connection.

The limits are far beyond any real client of the API: its largest payload is a sendMessage
with 2,000 characters of content, at most ~25,000 characters once JSON-escaped, nested 2 deep.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from socketio import packet

log = logging.getLogger("reference_server")

# D35: the documented maximum size of one frame (Engine.IO's maxPayload, announced to every
# client in the OPEN packet): characters of a text frame, bytes of a binary one.
MAX_FRAME_SIZE = 65_536
# D35: the documented maximum nesting of arrays and objects in a packet's JSON, counting the
# event's argument list as the first level (`["sendMessage", {...}]` is 2 deep).
MAX_DEPTH = 32
# Binary attachments one packet may announce (the API has no binary payloads: they are 400).
MAX_ATTACHMENTS = 16
# Ack ids are JavaScript numbers on the client side: 16 digits are already beyond 2**53.
MAX_ID_DIGITS = 16
# D35: refusals logged per connection and second; the rest are counted in the next line.
LOG_LINES_PER_SECOND = 3
# Connections whose log budget is remembered; the oldest are forgotten first.
_LOG_MEMORY = 4_096

# type, attachment count, namespace (up to its comma), ack id; what follows is the JSON body.
_HEADER = re.compile(r"([0-9])(?:(\d+)-)?(/[^,]*,?)?(\d+)?", re.ASCII)
_ENGINEIO_TYPES = "0123456"


# NaN and Infinity are not JSON, but python-socketio clients send them for float('nan') and
# float('inf') (json.dumps does), so they are decoded as python-socketio always did.
_JSON = json.JSONDecoder()


class Undecodable(Exception):
    """A packet refused by D35: `close` for a frame that is not a Socket.IO packet at all,
    otherwise a 400 to the EVENT of `namespace`, acked when `id` was readable."""

    def __init__(
        self, reason: str, *, close: bool, namespace: str | None = None, id: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close = close
        self.namespace = namespace
        self.id = id


class StrictPacket(packet.Packet):  # type: ignore[misc]
    """socketio.packet.Packet whose decoding refuses, with Undecodable, what it would let
    through or fail on. Encoding is unchanged."""

    def decode(self, encoded_packet: str) -> int:
        header = _HEADER.match(encoded_packet)
        if header is None or int(header[1]) > packet.BINARY_ACK:
            raise Undecodable(
                f"packet type {_excerpt(encoded_packet[:1])} is not one of Socket.IO's 0-6",
                close=True,
            )
        kind, attachments, namespace, id_digits = header.groups()
        self.packet_type = int(kind)
        self.namespace = None
        self.id = None
        self.data = None
        if self.packet_type == packet.CONNECT_ERROR:
            raise Undecodable("a client may not send CONNECT_ERROR", close=True)
        binary = self.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK)
        if binary != (attachments is not None):
            raise Undecodable(
                "an attachment count belongs to binary packets (5, 6) and only there",
                close=True,
            )
        attachment_count = int(attachments or 0)
        if binary and not 1 <= attachment_count <= MAX_ATTACHMENTS:
            raise Undecodable(
                f"a binary packet announces 1-{MAX_ATTACHMENTS} attachments, "
                f"not {_excerpt(attachments)}",
                close=True,
            )
        if namespace is not None:
            # As python-socketio reads it: up to the comma, without a query string.
            self.namespace = namespace.removesuffix(",").partition("?")[0]
        body = encoded_packet[header.end() :]
        # Only an EVENT is answered with 400: the other packets have no answer to carry one.
        answerable = self.packet_type == packet.EVENT
        if id_digits is not None:
            if len(id_digits) > MAX_ID_DIGITS:
                raise Undecodable(
                    f"an ack id of {len(id_digits)} digits (at most {MAX_ID_DIGITS})",
                    close=not answerable,
                    namespace=self.namespace,
                )
            self.id = int(id_digits)
        if body:
            self.data = _decode_json(body, self.namespace, self.id, close=not answerable)
        if self.packet_type in (packet.EVENT, packet.BINARY_EVENT) and not (
            isinstance(self.data, list) and self.data
        ):
            raise Undecodable(
                "an EVENT's payload must be a JSON array starting with the event name",
                close=not answerable,
                namespace=self.namespace,
                id=self.id,
            )
        if self.packet_type in (packet.ACK, packet.BINARY_ACK) and not isinstance(self.data, list):
            raise Undecodable("an ACK's payload must be a JSON array", close=True)
        return attachment_count

    def add_attachment(self, attachment: bytes) -> bool:
        try:
            return bool(super().add_attachment(attachment))
        except (IndexError, KeyError, TypeError, ValueError):
            raise Undecodable(
                "a binary placeholder that names no attachment",
                close=self.packet_type != packet.BINARY_EVENT,
                namespace=self.namespace,
                id=self.id,
            ) from None


def _decode_json(body: str, namespace: str | None, id: int | None, *, close: bool) -> Any:
    try:
        data = _JSON.decode(body)
    except RecursionError:
        data, too_deep = None, True
    except ValueError as error:  # JSONDecodeError, an integer over Python's digit limit
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise Undecodable(
            f"the payload is not JSON ({reason})", close=close, namespace=namespace, id=id
        ) from None
    else:
        # Counting brackets (inside strings too) is quick and never under-counts the depth.
        too_deep = body.count("[") + body.count("{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH)
    if too_deep:
        raise Undecodable(
            f"the payload nests arrays and objects deeper than {MAX_DEPTH} levels",
            close=close,
            namespace=namespace,
            id=id,
        )
    return data


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


def _excerpt(text: str | bytes | None, limit: int = 16) -> str:
    """Client input quoted in a log line: short, and repr'd so it cannot forge lines."""
    if text is None:
        return "nothing"
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def frame_problem(frame: str | bytes) -> str | None:
    """Why an Engine.IO frame received over websocket is refused, or None (D35)."""
    if len(frame) > MAX_FRAME_SIZE:
        unit = "characters" if isinstance(frame, str) else "bytes"
        return f"a frame of {len(frame)} {unit} (at most {MAX_FRAME_SIZE})"
    if isinstance(frame, bytes):
        return None  # a binary MESSAGE; the Socket.IO layer judges it
    if not frame:
        return "an empty frame is not an Engine.IO packet"
    kind, rest = frame[0], frame[1:]
    if kind == "b":
        try:
            base64.b64decode(rest, validate=True)
        except (binascii.Error, ValueError):
            return "a 'b' frame whose base64 does not decode"
        return None
    if kind not in _ENGINEIO_TYPES:
        return f"{_excerpt(frame)} is not an Engine.IO packet"
    if kind == "4":
        if rest[:1] not in tuple(_ENGINEIO_TYPES):  # '' too: Socket.IO packets are never empty
            return f"{_excerpt(frame)} is not a Socket.IO packet"
        return None
    # python-engineio would try the rest as JSON (and fail on a deep one): nothing a client
    # sends besides MESSAGE carries more than the upgrade's "probe".
    if rest not in ("", "probe"):
        return f"Engine.IO packet {kind} with a payload ({_excerpt(rest)})"
    return None


class RefusalLog:
    """One line per refused input, at most LOG_LINES_PER_SECOND per connection (D35)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # connection -> [start of its second, lines written in it, lines left out]
        self._budgets: OrderedDict[str, list[float]] = OrderedDict()
        self.lines = 0
        self.refusals = 0

    def refused(self, connection: str, who: str, reason: str) -> None:
        self.refusals += 1
        now = self._clock()
        budget = self._budgets.get(connection)
        if budget is None or now - budget[0] >= 1.0:
            left_out = int(budget[2]) if budget is not None else 0
            budget = [now, 0, 0]
            self._budgets[connection] = budget
            self._budgets.move_to_end(connection)
            while len(self._budgets) > _LOG_MEMORY:
                self._budgets.popitem(last=False)
        else:
            left_out = 0
        if budget[1] >= LOG_LINES_PER_SECOND:
            budget[2] += 1
            return
        budget[1] += 1
        self.lines += 1
        more = f" ({left_out} more refused in the second before, not logged)" if left_out else ""
        log.warning("refused input from %s: %s%s", who, reason, more)

    def forget(self, connection: str) -> None:
        self._budgets.pop(connection, None)


UndecodableHandler = Callable[[str, str], Awaitable[Any]]


class StrictDecodingServer(socketio.AsyncServer):  # type: ignore[misc]
    """An AsyncServer that decodes with StrictPacket and refuses what it cannot decode (D35).

    Overrides two private methods of python-socketio 5.x (`_handle_eio_message`, a copy with
    the checks added, and `_engineio_server_class`); tests/reference_server/
    test_hostile_input.py pins the upstream code they were written against.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(serializer=StrictPacket, max_http_buffer_size=MAX_FRAME_SIZE, **kwargs)
        self.refusals = RefusalLog()
        self._on_undecodable: UndecodableHandler | None = None
        # A copy: python-engineio's table of async drivers is shared by every server.
        drivers = dict(self.eio._async)
        drivers["websocket"] = _checked_websocket(drivers["websocket"], self.refusals)
        self.eio._async = drivers

    def on_undecodable(self, handler: UndecodableHandler) -> None:
        """`await handler(sid, reason)` sends the 400 and returns the ack's payload."""
        self._on_undecodable = handler

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        try:
            await self._dispatch(eio_sid, data)
        except Undecodable as refusal:
            self._binary_packet.pop(eio_sid, None)
            await self._refuse(eio_sid, refusal)

    async def _dispatch(self, eio_sid: str, data: str | bytes) -> None:
        # python-socketio 5.18's AsyncServer._handle_eio_message, with D35's checks.
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            if isinstance(data, str):
                raise Undecodable("a text frame where a binary attachment was due", close=True)
            if pending.add_attachment(data):
                del self._binary_packet[eio_sid]
                if pending.packet_type == packet.BINARY_EVENT:
                    await self._handle_event(eio_sid, pending.namespace, pending.id, pending.data)
                else:
                    await self._handle_ack(eio_sid, pending.namespace, pending.id, pending.data)
            return
        if not isinstance(data, str):
            raise Undecodable("a binary frame that no binary packet announced", close=True)
        if not data:  # Packet() skips decoding an empty string: an EVENT with no data
            raise Undecodable("an empty Socket.IO packet", close=True)
        pkt = self.packet_class(encoded_packet=data)
        kind = pkt.packet_type
        if kind == packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif not self._connected(eio_sid, pkt.namespace):
            # Socket.IO servers ignore events of a namespace the client has not joined.
            self.refusals.refused(
                eio_sid,
                eio_sid,
                f"an event for namespace {_excerpt(pkt.namespace or '/')}, "
                "which this connection has not joined; ignored",
            )
        elif kind == packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:  # BINARY_EVENT, BINARY_ACK: wait for the attachments
            self._binary_packet[eio_sid] = pkt

    def _connected(self, eio_sid: str, namespace: str | None) -> bool:
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        return sid is not None and bool(self.manager.is_connected(sid, namespace))

    async def _refuse(self, eio_sid: str, refusal: Undecodable) -> None:
        namespace = refusal.namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        answerable = (
            not refusal.close
            and self._on_undecodable is not None
            and self._connected(eio_sid, namespace)
        )
        if refusal.close:
            outcome = "; closing the connection"
        elif answerable:
            outcome = "; answered 400"
        else:
            outcome = f"; ignored (namespace {_excerpt(namespace)} not joined)"
        self.refusals.refused(eio_sid, sid or eio_sid, refusal.reason + outcome)
        if refusal.close:
            self.refusals.forget(eio_sid)
            if eio_sid in self.eio.sockets:
                await self.eio.disconnect(eio_sid)
            return
        if not answerable:
            return
        assert self._on_undecodable is not None
        response = await self._on_undecodable(sid, refusal.reason)
        if refusal.id is not None:
            ack = self.packet_class(packet.ACK, namespace=namespace, id=refusal.id, data=[response])
            await self._send_packet(eio_sid, ack)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: str) -> None:
        self.refusals.forget(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)


def _checked_websocket(driver: type, refusals: RefusalLog) -> type:
    """python-engineio's websocket driver, refusing frames by `frame_problem`: the read
    loop ends on the OSError and the connection closes, without a traceback (D35)."""

    class CheckedWebSocket(driver):  # type: ignore[misc]
        async def wait(self) -> str | bytes:
            socket = getattr(self.handler, "__self__", None)  # the engineio socket
            if socket is not None and socket.closed:
                raise OSError("closed after a refusal")
            frame = await super().wait()
            problem = frame_problem(frame)
            if problem is not None:
                session = str(getattr(socket, "sid", "?"))
                refusals.refused(session, f"engine.io session {session}", problem + "; closing")
                refusals.forget(session)
                raise OSError(problem)
            return frame  # type: ignore[no-any-return]

    return CheckedWebSocket
