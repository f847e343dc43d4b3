"""A lean Socket.IO v4 client for load generation under gevent.

Why not python-socketio's synchronous client (measured in load/README.md): per received
event it validates UTF-8 in pure Python (websocket-client), starts a thread (a greenlet
under gevent) and reads each frame with three socket calls, about 440 us of CPU per
delivery. One message to a room of 50 receivers in one process is then processed one
receiver after the other, so the median receiver reports ~11 ms that belong to the
generator, and past ~2.2k deliveries/s the queue grows without bound.

This client: one poller greenlet per process that reads every connection (epoll, one
frame per read) and dispatches in place, sends from the caller's greenlet, the websocket
transport only, and the receive time taken by the kernel when the packet arrived
(SO_TIMESTAMPNS), so time a message waits for the generator's CPU is not reported as the
server's latency. (TLS connections, and platforms without SO_TIMESTAMPNS, keep one
reading greenlet per connection.)
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.monkey

from chatrooms_fixtures.events import RESPONSE_EVENT_OF
from chatrooms_load.protocol import (
    EIO_CLOSE,
    EIO_MESSAGE,
    EIO_OPEN,
    EIO_PING,
    EIO_PONG,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SIO_ACK,
    SIO_CONNECT,
    SIO_CONNECT_ERROR,
    SIO_DISCONNECT,
    SIO_EVENT,
    Endpoint,
    FrameReader,
    ProtocolError,
    check_handshake_response,
    decode_sio,
    encode_connect,
    encode_disconnect,
    encode_event,
    encode_frame,
    handshake_request,
    loads_at,
    new_key,
)

log = logging.getLogger("chatrooms_load")

# Linux: SO_TIMESTAMPNS makes recvmsg() return the time the kernel received the data.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_ANCILLARY = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")
_RECV_SIZE = 256 * 1024
# The poller reads newly readable sockets again after this many frames handled, and lets
# other greenlets run after this many seconds of handling (see _Poller).
_READ_EVERY = 16
_ROUND_S = 0.002

# D6: each client event's response object names the event that carries it when no ack
# was asked for; a NestJS-style server answers on that channel only.
RESPONSE_EVENTS = RESPONSE_EVENT_OF

EventHandler = Callable[[str, Any, float], None]
CloseHandler = Callable[[str], None]


class ConnectFailed(Exception):
    """The connection could not be made; `status` is the API status code when the server
    refused with one (D4: 401), else None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Response:
    """The answer to one client event (D6 response or D7 error object)."""

    event: str
    payload: Any
    elapsed_ms: float
    received_at: float

    @property
    def status(self) -> int | None:
        """None on success, else the D7 statusCode (0 when the error object has none)."""
        payload = self.payload
        if isinstance(payload, dict) and payload.get("success") is False:
            code = payload.get("statusCode")
            return code if isinstance(code, int) else 0
        return None

    @property
    def error(self) -> str:
        payload = self.payload if isinstance(self.payload, dict) else {}
        return f"{self.status} {payload.get('error', 'error')}"


class _Pending:
    __slots__ = ("event", "sent_at", "callback", "done", "response_event")

    def __init__(
        self, event: str, sent_at: float, callback: Callable[[Response | None], None]
    ) -> None:
        self.event = event
        self.sent_at = sent_at
        self.callback = callback
        self.done = False
        self.response_event = RESPONSE_EVENTS.get(event)


class ReadStats:
    """What the poller's reads say about the generator itself, per wall-clock second:
    frames read, and frames read more than 1 ms and 5 ms after their kernel timestamp.
    A frame that waits unread is merged with the next arrival on its connection and
    dated by it (see ChatConnection._receive); so when reads lag, the latencies do too."""

    def __init__(self) -> None:
        self.seconds: dict[int, list[int]] = {}  # second -> [reads, > 1 ms, > 5 ms]

    def drain(self) -> dict[int, list[int]]:
        out, self.seconds = self.seconds, {}
        return out


class _Poller:
    """Reads every plain (non-TLS) connection of the process from one greenlet.

    Why not one reading greenlet per connection: a kernel receive timestamp is only as
    good as the read that takes it. A frame that waits unread is merged by the kernel
    with the next one to arrive on its connection and dated by that arrival. With a
    greenlet per connection, a message to a room of 200 makes 200 greenlets runnable and
    the last reads its frame only after the 199 others have decoded and counted theirs
    (~3 ms at 15 us each): at 250 messages/s per room the next message is often there
    by then, and the earlier one is dated late. Here the reads come first: one
    epoll_wait (level-triggered) for every connection, one recvmsg of one frame per
    ready connection, and the handling (decode, counting, callbacks) after, in the same
    greenlet, with a new round of reads every _READ_EVERY frames. A read then waits for
    at most a few dozen others, not for the handling of everything before it. It also
    saves a greenlet switch, a watcher start and stop per frame.
    """

    _instance: _Poller | None = None

    def __init__(self) -> None:
        epoll = gevent.monkey.get_original("select", "epoll")
        self.epoll = epoll()
        self.conns: dict[int, ChatConnection] = {}
        self.queue: deque[tuple[ChatConnection, bytes | None, float]] = deque()
        self.stats = ReadStats()
        self._greenlet: gevent.Greenlet | None = None

    @classmethod
    def get(cls) -> _Poller:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def add(self, conn: ChatConnection) -> None:
        assert conn._sock is not None
        fd = conn._sock.fileno()
        self.conns[fd] = conn
        self.queue.append((conn, None, 0.0))  # frames read while connecting go first
        self.epoll.register(fd, 1)  # EPOLLIN, level-triggered
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def remove(self, conn: ChatConnection, fd: int) -> None:
        if self.conns.get(fd) is conn:
            del self.conns[fd]
            try:
                self.epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def _read(self) -> None:
        """One frame from every connection that is ready to read (none waits)."""
        conns = self.conns
        queue = self.queue
        clock = time.time
        ancillary_size = _ANCILLARY
        unpack = _TIMESPEC.unpack_from
        second = int(clock())
        counts = self.stats.seconds.get(second)
        if counts is None:
            counts = self.stats.seconds[second] = [0, 0, 0]
        for fd, _ in self.epoll.poll(0):
            conn = conns.get(fd)
            if conn is None:
                continue
            raw = conn._raw
            try:
                if conn.kernel_timestamps:
                    frames = conn._frames
                    size = frames._last_frame if not frames._buffer else frames.wanted()
                    data, ancillary, _, _ = raw.recvmsg(min(size, _RECV_SIZE), ancillary_size)
                    now = clock()
                    if ancillary:
                        seconds, nanos = unpack(ancillary[0][2])
                        at = seconds + nanos * 1e-9
                        counts[0] += 1
                        if now - at > 0.001:
                            counts[1] += 1
                            if now - at > 0.005:
                                counts[2] += 1
                    else:
                        at = now
                else:
                    data = raw.recv(_RECV_SIZE)
                    at = clock()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as error:
                self.remove(conn, fd)
                conn._ended(f"transport error: {error}")
                continue
            if not data:
                self.remove(conn, fd)
            queue.append((conn, data, at))

    def _run(self) -> None:
        hub = gevent.get_hub()
        readable = hub.loop.io(self.epoll.fileno(), 1)
        queue = self.queue
        clock = time.perf_counter
        while True:
            if queue:
                # Frames read but not handled yet: let every other greenlet that is ready
                # run (senders, Locust), then carry on. Not sleep(): libev's poll counts
                # in whole milliseconds, so a short sleep idles the process ~1 ms a round.
                gevent.idle()
            else:
                hub.wait(readable)
            try:
                self._read()
                until = clock() + _ROUND_S
                handled = 0
                while queue:
                    conn, data, at = queue.popleft()
                    conn._handle(data, at)
                    handled += 1
                    if handled % _READ_EVERY == 0:
                        if clock() > until:
                            break
                        self._read()
            except Exception:  # pragma: no cover - a bug here would stop every reader
                log.exception("the poller failed a round")


def read_stats() -> ReadStats:
    """The poller's counts of this process (ReadStats)."""
    return _Poller.get().stats


class ChatConnection:
    """One Socket.IO connection to one namespace, driven from gevent greenlets."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        namespace: str = "/chat",
        on_event: EventHandler | None = None,
        on_close: CloseHandler | None = None,
        kernel_timestamps: bool = True,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = Endpoint.from_url(url)
        self.namespace = namespace
        self.token = token
        self.on_event = on_event or (lambda name, data, at: None)
        self.on_close = on_close or (lambda reason: None)
        # SO_TIMESTAMPNS is Linux's; TLS sockets have no recvmsg(). Elsewhere: user time.
        self.kernel_timestamps = (
            kernel_timestamps and not self.endpoint.tls and sys.platform.startswith("linux")
        )
        self.request_timeout_s = request_timeout_s
        self.connected = False
        self.closing = False
        self._sock: socket.socket | None = None
        self._frames = FrameReader()
        self._backlog: deque[tuple[int, bytes, float]] = deque()
        self._write_lock = gevent.lock.Semaphore()
        self._reader: gevent.Greenlet | None = None
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        # D6 by event channel, only while the server has never acknowledged anything.
        self._by_event: dict[str, deque[_Pending]] = {}
        self._acks_seen = False
        # '42/chat,' then the arguments: an event without ack id, decoded in place.
        self._event_prefix = EIO_MESSAGE + SIO_EVENT + ("" if namespace == "/" else namespace + ",")
        self._event_start = len(self._event_prefix)
        self._readable: Any = None  # a libev io watcher on the socket, for the reader
        self._hub: Any = None
        self._raw: Any = None  # the OS-level socket under gevent's, for the poller
        self._poller: _Poller | None = None
        self._fd = -1
        self._over = gevent.event.Event()  # set when the session ended
        self._done = False  # the same, for the poller's per-frame check

    # -- connecting ------------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        """Open the WebSocket, wait for Engine.IO OPEN, send the Socket.IO CONNECT with
        `auth: {token}` (D2) and wait for the namespace's answer. Raises ConnectFailed."""
        deadline = time.monotonic() + timeout_s
        try:
            sock = socket.create_connection(
                (self.endpoint.host, self.endpoint.port), timeout=timeout_s
            )
        except OSError as error:
            raise ConnectFailed(f"connection failed: {error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.endpoint.tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.endpoint.host)
        elif self.kernel_timestamps:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            except OSError:
                self.kernel_timestamps = False
        self._sock = sock
        try:
            self._handshake(sock, deadline)
            self._await_open(deadline)
            auth = None if self.token is None else {"token": self.token}
            self._send_text(encode_connect(self.namespace, auth))
            self._await_namespace(deadline)
        except ConnectFailed:
            self._abort()
            raise
        except (OSError, ProtocolError, TimeoutError) as error:
            self._abort()
            raise ConnectFailed(f"connection failed: {error or type(error).__name__}") from None
        sock.settimeout(None)
        self.connected = True
        raw = getattr(sock, "_sock", None)  # gevent's socket wraps the OS-level one
        if not self.endpoint.tls and raw is not None and sys.platform.startswith("linux"):
            self._raw = raw
            self._fd = sock.fileno()
            self._poller = _Poller.get()
            self._poller.add(self)
        else:
            self._reader = gevent.spawn(self._read_loop)

    def _handshake(self, sock: socket.socket, deadline: float) -> None:
        key = new_key()
        sock.sendall(handshake_request(self.endpoint, key))
        head = b""
        while b"\r\n\r\n" not in head:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(4096)
            if not chunk:
                raise ProtocolError("the server closed the connection during the handshake")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        check_handshake_response(head, key)
        if rest:
            self._queue_frames(rest, time.time())

    def _next_frame(self, deadline: float) -> tuple[int, bytes, float]:
        while not self._backlog:
            assert self._sock is not None
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            data, received_at = self._receive()
            if not data:
                raise ProtocolError("the server closed the connection")
            self._queue_frames(data, received_at)
        return self._backlog.popleft()

    def _queue_frames(self, data: bytes, received_at: float) -> None:
        for opcode, payload in self._frames.feed(data):
            self._backlog.append((opcode, payload, received_at))

    def _await_open(self, deadline: float) -> None:
        opcode, payload, _ = self._next_frame(deadline)
        if opcode != OP_TEXT or not payload.startswith(EIO_OPEN.encode()):
            raise ProtocolError(f"expected Engine.IO OPEN, got {payload[:60]!r}")

    def _await_namespace(self, deadline: float) -> None:
        early: list[tuple[int, bytes, float]] = []
        while True:
            opcode, payload, received_at = self._next_frame(deadline)
            if opcode != OP_TEXT:
                self._control(opcode, payload)
                continue
            text = payload.decode()
            if text == EIO_PING:
                self._send_text(EIO_PONG)
                continue
            if not text.startswith(EIO_MESSAGE):
                continue
            packet = decode_sio(text[1:])
            if packet.namespace != self.namespace:
                continue
            if packet.type == SIO_CONNECT:
                # Anything that came before the answer is handled by the reader.
                self._backlog.extendleft(reversed(early))
                return
            if packet.type == SIO_CONNECT_ERROR:
                # D4: {message: "Unauthorized", data: {..., statusCode: 401}}
                data = packet.data if isinstance(packet.data, dict) else {}
                inner = data.get("data")
                status = inner.get("statusCode") if isinstance(inner, dict) else None
                message = data.get("message", "connect_error")
                raise ConnectFailed(
                    f"{status or ''} {message}".strip(), status if isinstance(status, int) else 0
                )
            early.append((opcode, payload, received_at))

    # -- sending ---------------------------------------------------------------------

    def emit(
        self,
        event: str,
        payload: Any = None,
        callback: Callable[[Response | None], None] | None = None,
    ) -> None:
        """Send a client event; with `callback`, ask for an ack and call it with the
        Response (ack or D6 event channel), or None when none came within the timeout
        or the connection closed. The callback runs in the reader's greenlet."""
        if callback is None:
            self._send_text(encode_event(self.namespace, event, payload))
            return
        self._expire_pending()
        self._next_id += 1
        ack_id = self._next_id
        pending = _Pending(event, 0.0, callback)
        self._pending[ack_id] = pending
        if not self._acks_seen and pending.response_event is not None:
            self._by_event.setdefault(pending.response_event, deque()).append(pending)
        text = encode_event(self.namespace, event, payload, ack_id)
        pending.sent_at = time.time()
        self._send_text(text)

    def call(self, event: str, payload: Any = None, timeout_s: float | None = None) -> Response:
        """Send a client event and wait for its response. Raises TimeoutError."""
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.emit(event, payload, result.set)
        response = result.get(timeout=timeout_s or self.request_timeout_s)
        if response is None:
            raise TimeoutError(f"no response to {event}")
        assert isinstance(response, Response)
        return response

    def _send_text(self, text: str) -> None:
        if self._sock is None:
            raise ConnectionError("not connected")
        frame = encode_frame(OP_TEXT, text.encode())
        with self._write_lock:
            self._sock.sendall(frame)

    def _expire_pending(self) -> None:
        # Requests are answered in order, so the oldest pending one is the first to
        # time out; checking here needs no timer greenlet.
        if not self._pending:
            return
        limit = time.time() - self.request_timeout_s
        while self._pending:
            ack_id, oldest = next(iter(self._pending.items()))
            if oldest.sent_at > limit:
                break
            del self._pending[ack_id]
            self._finish(oldest, None)

    # -- receiving -------------------------------------------------------------------

    def _receive(self) -> tuple[bytes, float]:
        sock = self._sock
        assert sock is not None
        if self._readable is not None:
            # Wait until the socket is readable, then read: gevent's recvmsg() first tries
            # the read, which fails with EAGAIN almost every time here (the previous frame
            # was just read), and raising and catching that error was a syscall and ~2 us
            # per delivery (benchmarks/README.md, the receive path's profile).
            self._hub.wait(self._readable)
        if self.kernel_timestamps:
            # One frame per read: the kernel stamps a read with the arrival of the last
            # segment it takes, so a bigger read would date earlier messages later.
            size = min(max(self._frames.wanted(), 1), _RECV_SIZE)
            data, ancillary, _, _ = sock.recvmsg(size, _ANCILLARY)
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanos = _TIMESPEC.unpack_from(raw)
                    return data, seconds + nanos * 1e-9
            return data, time.time()
        return sock.recv(_RECV_SIZE), time.time()

    def _read_loop(self) -> None:
        reason = "transport close"
        assert self._sock is not None
        self._hub = gevent.get_hub()
        self._readable = self._hub.loop.io(self._sock.fileno(), 1)
        try:
            while self._backlog:
                opcode, payload, received_at = self._backlog.popleft()
                self._on_frame(opcode, payload, received_at)
            while True:
                data, received_at = self._receive()
                if not data:
                    break
                for opcode, payload in self._frames.feed(data):
                    if not self._on_frame(opcode, payload, received_at):
                        reason = "io server disconnect"
                        return
        except (OSError, ProtocolError) as error:
            reason = f"transport error: {error}"
        except gevent.GreenletExit:
            reason = "io client disconnect"
        except Exception as error:  # a bug in a handler: say so instead of "transport close"
            log.exception("reader of %s failed", self.endpoint.host_header)
            reason = f"client error: {type(error).__name__}: {error}"
        finally:
            readable, self._readable = self._readable, None
            readable.close()
            self._closed(reason)

    def _handle(self, data: bytes | None, received_at: float) -> None:
        """The poller's hand-over: what one read returned (None: the frames read while
        connecting)."""
        if self._done:
            return
        try:
            if data and len(data) > 3 and data[0] == 0x81 and not self._frames.partial:
                # What most reads are: one whole final text frame, unmasked (the poller
                # asks for one frame). Decoded here without FrameReader.feed's list.
                b1 = data[1]
                head = 2 if b1 < 126 else 4 if b1 == 126 else 0
                length = b1 if head == 2 else (data[2] << 8) | data[3] if head else -1
                if head + length == len(data):
                    self._frames._last_frame = length + head
                    text = data[head:].decode()
                    start = self._event_start
                    if text.startswith(self._event_prefix) and text[start : start + 1] == "[":
                        # An event of our namespace without ack id: straight to on_event
                        # once the server has shown that it acknowledges (D6).
                        args = loads_at(text, start)
                        if (
                            self._acks_seen
                            and type(args) is list
                            and len(args) == 2
                            and type(args[0]) is str
                        ):
                            self.on_event(args[0], args[1], received_at)
                        else:
                            self._on_event(args, received_at)
                    elif not self._on_frame(OP_TEXT, data[head:], received_at):
                        self._ended("io server disconnect")
                    return
            if data is None:
                while self._backlog:
                    opcode, payload, at = self._backlog.popleft()
                    if not self._on_frame(opcode, payload, at):
                        self._ended("io server disconnect")
                        return
                return
            if not data:
                self._ended("transport close")
                return
            for opcode, payload in self._frames.feed(data):
                if not self._on_frame(opcode, payload, received_at):
                    self._ended("io server disconnect")
                    return
        except (OSError, ProtocolError) as error:
            self._ended(f"transport error: {error}")
        except Exception as error:  # a bug in a handler: say so instead of "transport close"
            log.exception("reader of %s failed", self.endpoint.host_header)
            self._ended(f"client error: {type(error).__name__}: {error}")

    def _ended(self, reason: str) -> None:
        if self._done:
            return
        self._done = True
        if self._poller is not None:
            self._poller.remove(self, self._fd)
        self._over.set()
        self._closed(reason)

    def _on_frame(self, opcode: int, payload: bytes, received_at: float) -> bool:
        """Handle one message; False when the server ended the session."""
        if opcode != OP_TEXT:
            return self._control(opcode, payload)
        text = payload.decode()
        prefix = self._event_prefix
        if text.startswith(prefix) and text[len(prefix) : len(prefix) + 1] == "[":
            # Fast path for what most frames are: an event of our namespace, no ack id.
            self._on_event(loads_at(text, len(prefix)), received_at)
            return True
        kind = text[:1]
        if kind == EIO_MESSAGE:
            packet = decode_sio(text[1:])
            if packet.namespace != self.namespace:
                return True
            if packet.type == SIO_EVENT:
                self._on_event(packet.data, received_at)
            elif packet.type == SIO_ACK:
                self._on_ack(packet.ack_id, packet.data, received_at)
            elif packet.type == SIO_DISCONNECT:
                return False
        elif kind == EIO_PING:
            self._send_text(EIO_PONG)
        elif kind == EIO_CLOSE:
            return False
        return True

    def _control(self, opcode: int, payload: bytes) -> bool:
        if opcode == OP_PING:
            frame = encode_frame(OP_PONG, payload)
            with self._write_lock:
                assert self._sock is not None
                self._sock.sendall(frame)
            return True
        return opcode != OP_CLOSE

    def _on_event(self, args: Any, received_at: float) -> None:
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            return
        name = args[0]
        data = args[1] if len(args) > 1 else None
        if not self._acks_seen:
            queue = self._by_event.get(name)
            if name == "error" and self._pending:
                # D7: without acks, an error answers the oldest request still waiting.
                self._resolve(next(iter(self._pending)), data, received_at)
            elif queue:
                pending = queue.popleft()
                for ack_id, candidate in self._pending.items():
                    if candidate is pending:
                        self._resolve(ack_id, data, received_at)
                        break
        self.on_event(name, data, received_at)

    def _on_ack(self, ack_id: int | None, args: Any, received_at: float) -> None:
        if not self._acks_seen:
            self._acks_seen = True
            self._by_event.clear()
        if ack_id is None:
            return
        data = args[0] if isinstance(args, list) and args else None
        self._resolve(ack_id, data, received_at)

    def _resolve(self, ack_id: int, data: Any, received_at: float) -> None:
        pending = self._pending.pop(ack_id, None)
        if pending is None:
            return
        if pending.response_event is not None and not self._acks_seen:
            queue = self._by_event.get(pending.response_event)
            if queue and pending in queue:
                queue.remove(pending)
        elapsed = max((received_at - pending.sent_at) * 1000, 0.0)
        self._finish(pending, Response(pending.event, data, elapsed, received_at))

    def _finish(self, pending: _Pending, response: Response | None) -> None:
        if not pending.done:
            pending.done = True
            pending.callback(response)

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Socket.IO DISCONNECT, WebSocket close, and wait for the reader to end."""
        if self._sock is None:
            return
        self.closing = True
        try:
            self._send_text(encode_disconnect(self.namespace))
            with self._write_lock:
                self._sock.sendall(encode_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        except OSError:
            pass
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if self._reader is not None:
            if not self._reader.join(timeout=2.0):
                self._reader.kill(block=False)
        elif self._poller is not None:
            # The poller reads until the server closes too (or 2 s), then ends the session.
            if not self._over.wait(timeout=2.0):
                self._ended("io client disconnect")
        self._abort()

    def _abort(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:  # pragma: no cover
                pass

    def _closed(self, reason: str) -> None:
        was_connected = self.connected
        self.connected = False
        self._abort()
        pending, self._pending = list(self._pending.values()), {}
        self._by_event.clear()
        if not self.closing:  # requests in flight when the harness closes are not errors
            for item in pending:
                self._finish(item, None)
        if was_connected and not self.closing:
            self.on_close(reason)
