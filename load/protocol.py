"""The wire formats the load client speaks: RFC 6455 frames, the WebSocket opening
handshake, and Engine.IO v4 / Socket.IO v4 packets (D1). Pure functions, no I/O.

Only what a Socket.IO client on the `websocket` transport needs: text frames, ping/pong,
close and continuation; no extensions (no permessage-deflate), no binary events.

Why hand-written and not the libraries: `benchmarks/bench_clients.py` has a
`library-kernel` variant, this client with the `websockets` package's sans-I/O
ClientProtocol doing the handshake and the frames and python-engineio/python-socketio's
Packet classes decoding the packets, on the same gevent socket, one greenlet per
connection, kernel receive timestamps and one frame per read. The rule was: the libraries
replace this module if they cost at most 10 % more CPU per delivery. They cost about 45 %
more, and add ~1 ms to the median delivery: 50 receivers, 2,000 deliveries/s, three
interleaved pairs on the 2-vCPU machine, 20 / 20 / 23 µs of generator CPU per delivery
here against 31 / 29 / 29 µs for the libraries, harness p50 minus observer p50 +0.8 ms
against +1.8/+1.9 ms (`flock /tmp/cpu-heavy.lock python benchmarks/bench_clients.py
--receivers 50 --rate 40 --seconds 10 --variants lean-kernel,library-kernel,lean-kernel,
library-kernel,lean-kernel,library-kernel`; raw output in
benchmarks/results/load/bench-clients-codec-20261202.txt). What the libraries add per
delivery, read from their code: websockets parses each frame through a generator into a
Frame object, checks UTF-8 and queues an event; engineio's Packet first tries the
Socket.IO text as JSON and fails; socketio's Packet decodes in Python. So this codec stays.
"""

from __future__ import annotations

import base64
import hashlib
import json
import json.scanner
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

_apply_mask_c: Callable[[bytes, bytes], bytes] | None
try:  # the C helper that ships with `websockets` (a dependency of uvicorn[standard])
    from websockets.speedups import apply_mask as _apply_mask_c
except ImportError:  # pragma: no cover - depends on the installed wheels
    _apply_mask_c = None

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ProtocolError(Exception):
    """The peer sent something this client cannot read."""


# -- WebSocket frames (RFC 6455 section 5) -------------------------------------------


def apply_mask(data: bytes, mask: bytes) -> bytes:
    if _apply_mask_c is not None:
        return bytes(_apply_mask_c(data, mask))
    n = len(data)
    repeated = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame. RFC 6455 5.3: every frame from a client is masked."""
    mask = os.urandom(4) if mask is None else mask
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


class FrameReader:
    """Turns a byte stream from the server into whole messages.

    feed() returns a list of (opcode, payload); fragmented messages are joined, so the
    opcode is TEXT, BINARY, CLOSE, PING or PONG, never CONTINUATION.
    """

    def __init__(self, max_message: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._max = max_message
        self._last_frame = 4096

    @property
    def partial(self) -> bool:
        """Part of a frame or message is waiting for the rest."""
        return bool(self._buffer or self._fragments)

    def wanted(self) -> int:
        """How many bytes to read next to end exactly at a frame boundary: the rest of
        the frame under way, or at a boundary the size of the last frame (frames of one
        kind tend to be alike). The reader asks for no more, so a read rarely takes in a
        later message whose arrival time would stamp this one (kernel timestamps)."""
        buf = self._buffer
        have = len(buf)
        if have < 2:
            return self._last_frame - have if have else self._last_frame
        length = buf[1] & 0x7F
        head = 2
        if length == 126:
            if have < 4:
                return 2
            length, head = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if have < 10:
                return 8
            length, head = int.from_bytes(buf[2:10], "big"), 10
        if buf[1] & 0x80:
            head += 4
        return max(head + length - have, 1)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buffer
        if not buf and not self._fragments and len(data) >= 2:
            # The common case, one read = one whole unmasked final frame (the reader asks
            # for one frame at a time): no copy through the buffer.
            b0, b1 = data[0], data[1]
            if b0 & 0x80 and not b1 & 0x80 and b0 & 0x0F:
                length, head = b1, 2
                if length == 126 and len(data) >= 4:
                    length, head = (data[2] << 8) | data[3], 4
                if length < 127 and head + length == len(data) and length <= self._max:
                    self._last_frame = len(data)
                    return [(b0 & 0x0F, data[head:])]
        buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if length > self._max:
                raise ProtocolError(f"frame of {length} bytes exceeds {self._max}")
            masked = b1 & 0x80
            if masked:
                head += 4
            if end - pos < head + length:
                break
            self._last_frame = head + length
            payload = bytes(buf[pos + head : pos + head + length])
            if masked:  # servers must not mask (RFC 6455 5.1), but read it if one does
                payload = apply_mask(payload, bytes(buf[pos + head - 4 : pos + head]))
            pos += head + length
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            if opcode >= OP_CLOSE:  # control frames may come between fragments
                out.append((opcode, payload))
            elif opcode == OP_CONTINUATION:
                if not self._fragments:
                    raise ProtocolError("continuation frame without a first fragment")
                self._fragments.append(payload)
                if fin:
                    out.append((self._fragment_opcode, b"".join(self._fragments)))
                    self._fragments = []
            elif fin:
                out.append((opcode, payload))
            else:
                self._fragment_opcode = opcode
                self._fragments = [payload]
        if pos:
            del buf[:pos]
        return out


# -- the opening handshake (RFC 6455 section 4) ----------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a Socket.IO server listens, from an http(s):// or ws(s):// URL."""

    host: str
    port: int
    tls: bool
    path: str = "/socket.io/"

    @classmethod
    def from_url(cls, url: str, path: str = "/socket.io/") -> Endpoint:
        parts = urlsplit(url)
        tls = parts.scheme in ("https", "wss")
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError(f"expected an http(s):// or ws(s):// URL, got {url!r}")
        return cls(parts.hostname, parts.port or (443 if tls else 80), tls, path)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


def handshake_request(endpoint: Endpoint, key: str, query: dict[str, str] | None = None) -> bytes:
    """The HTTP upgrade request for Engine.IO v4 on the websocket transport (D1).

    No Origin header: D26 serves a request without one (a non-browser client).
    """
    params = {"EIO": "4", "transport": "websocket", **(query or {})}
    lines = [
        f"GET {endpoint.path}?{urlencode(params)} HTTP/1.1",
        f"Host: {endpoint.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("latin-1")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_value(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def check_handshake_response(head: bytes, key: str) -> None:
    """Raise ProtocolError unless `head` (up to the blank line) is a valid 101 for `key`."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise ProtocolError(f"handshake refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept") != accept_value(key):
        raise ProtocolError("handshake answered with a wrong Sec-WebSocket-Accept")


# -- Engine.IO v4 and Socket.IO v4 packets ---------------------------------------------

# Engine.IO packet types (first character of a text frame).
EIO_OPEN = "0"
EIO_CLOSE = "1"
EIO_PING = "2"
EIO_PONG = "3"
EIO_MESSAGE = "4"
# Socket.IO packet types (the character after EIO_MESSAGE).
SIO_CONNECT = "0"
SIO_DISCONNECT = "1"
SIO_EVENT = "2"
SIO_ACK = "3"
SIO_CONNECT_ERROR = "4"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The C scanner under json.loads, called directly: json.loads adds three Python calls per
# packet (loads, decode, raw_decode), a few us per delivery at tens of thousands a second.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[no-untyped-call]


def loads_at(text: str, start: int) -> Any:
    """json.loads(text[start:]) without the copy and the Python layers; ProtocolError on
    bad JSON."""
    try:
        value, end = _scan_once(text, start)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text):  # trailing whitespace, or bad JSON: the slow path decides
        try:
            return json.loads(text[start:])
        except ValueError as error:
            raise ProtocolError(f"Socket.IO packet with bad JSON: {text[:80]!r}") from error
    return value


@dataclass(frozen=True)
class SioPacket:
    """A decoded Socket.IO packet: type, namespace, ack id and JSON data."""

    type: str
    namespace: str
    ack_id: int | None
    data: Any


def encode_connect(namespace: str, auth: dict[str, Any] | None) -> str:
    return f"{EIO_MESSAGE}{SIO_CONNECT}{_ns(namespace)}" + ("" if auth is None else _dumps(auth))


def encode_disconnect(namespace: str) -> str:
    return f"{EIO_MESSAGE}{SIO_DISCONNECT}{_ns(namespace)}"


def encode_event(namespace: str, event: str, payload: Any, ack_id: int | None = None) -> str:
    args = [event] if payload is None else [event, payload]
    ack = "" if ack_id is None else str(ack_id)
    return f"{EIO_MESSAGE}{SIO_EVENT}{_ns(namespace)}{ack}{_dumps(args)}"


def decode_sio(text: str) -> SioPacket:
    """Decode the part after the Engine.IO '4' (e.g. '2/chat,17["ev",{...}]')."""
    if not text:
        raise ProtocolError("empty Socket.IO packet")
    kind = text[0]
    if kind not in "0123456":
        raise ProtocolError(f"unknown Socket.IO packet type {kind!r}")
    if kind in "56":
        raise ProtocolError("binary Socket.IO packets are not part of this API")
    pos = 1
    namespace = "/"
    if len(text) > 1 and text[1] == "/":
        comma = text.find(",", 1)
        if comma < 0:
            namespace, pos = text[1:], len(text)
        else:
            namespace, pos = text[1:comma], comma + 1
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    ack_id = int(text[start:pos]) if pos > start else None
    rest = text[pos:]
    try:
        data = json.loads(rest) if rest else None
    except ValueError as error:
        raise ProtocolError(f"Socket.IO packet with bad JSON: {text[:80]!r}") from error
    return SioPacket(kind, namespace, ack_id, data)


def _ns(namespace: str) -> str:
    return "" if namespace == "/" else f"{namespace},"
