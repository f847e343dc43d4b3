"""A minimal Socket.IO v4 broadcast server written for speed: the tool that measures the
load generator's own capacity (benchmarks/generator_capacity.py) and the self-check's
server (tests/load/test_selfcheck.py).

Plain asyncio protocols, websocket transport only, the /chat events the scenarios use
(joinRoom, leaveRoom, sendMessage, typing, with acks), no tokens checked, no limits, no
presence. A message is encoded once and written to each receiver's transport, a few
microseconds per delivery, so it outruns the generator; python-socketio servers (the
reference server and benchmarks/baseline_server.py) spend ~100 us per delivery in tasks and
queues and run out first on a 2-core machine.

    HOST=127.0.0.1 PORT=0 python benchmarks/blast_server.py
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from chatrooms_fixtures.events import RESPONSE_EVENT_OF
from chatrooms_load.protocol import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader, accept_value

NAMESPACE = "/chat"
_OPEN = json.dumps(
    {"sid": "blast", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000,
     "maxPayload": 1000000}
)  # fmt: skip
_RESPONSE = RESPONSE_EVENT_OF


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked frame (RFC 6455 5.1: servers do not mask)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def text_frame(text: str) -> bytes:
    return server_frame(OP_TEXT, text.encode())


class Hub:
    def __init__(self) -> None:
        self.rooms: defaultdict[str, set[Connection]] = defaultdict(set)


class Connection(asyncio.Protocol):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.frames: FrameReader | None = None
        self.rooms: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.frames is None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, rest = self.head.partition(b"\r\n\r\n")
            self._upgrade(head)
            if self.frames is None:
                return
            data = rest
        for opcode, payload in self.frames.feed(data):
            if opcode == OP_TEXT:
                self._packet(payload.decode())
            elif opcode == OP_PING:
                self.transport.write(server_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.transport.write(server_frame(OP_CLOSE, payload[:2]))
                self.transport.close()

    def _upgrade(self, head: bytes) -> None:
        assert self.transport is not None
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        if key is None:  # plain HTTP: the health check RunningServer waits for
            body = b'{"status":"healthy","server":"blast (no rate limits)"}'
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
            self.transport.close()
            return
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_value(key).encode() + b"\r\n\r\n"
        )
        self.frames = FrameReader()
        self.transport.write(text_frame("0" + _OPEN))

    def _packet(self, text: str) -> None:
        assert self.transport is not None
        if text == "2":
            self.transport.write(text_frame("3"))
        if not text.startswith("4"):
            return
        kind, body = text[1:2], text[2:]
        prefix = NAMESPACE + ","
        if not body.startswith(prefix):
            return
        body = body[len(prefix) :]
        if kind == "0":
            self.transport.write(text_frame(f'40{prefix}{{"sid":"{uuid.uuid4().hex}"}}'))
        elif kind == "1":
            self.connection_lost(None)
        elif kind == "2":
            bracket = body.find("[")
            ack = body[:bracket]
            args = json.loads(body[bracket:])
            response = self._event(args[0], args[1] if len(args) > 1 else {})
            if ack:
                self.transport.write(text_frame(f"43{prefix}{ack}[{json.dumps(response)}]"))

    def _event(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        room = str(data.get("roomId", ""))
        if event == "joinRoom":
            self.rooms.add(room)
            self.hub.rooms[room].add(self)
        elif event == "leaveRoom":
            self.rooms.discard(room)
            self.hub.rooms[room].discard(self)
        elif event == "sendMessage":
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            message = {
                "id": str(uuid.uuid4()),
                "content": data.get("content"),
                "author": {"id": "blast", "username": "blast"},
                "roomId": room,
                "messageType": "TEXT",
                "timestamp": stamp,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            frame = text_frame(f"42{NAMESPACE},{json.dumps(['receiveMessage', message])}")
            for member in self.hub.rooms.get(room, ()):
                if member.transport is not None:
                    member.transport.write(frame)
            return {"event": "messageSent", "success": True}
        return {"event": _RESPONSE.get(event, event), "roomId": room, "success": True}

    def connection_lost(self, exc: Exception | None) -> None:
        for room in self.rooms:
            self.hub.rooms[room].discard(self)
        self.rooms.clear()


async def serve(host: str, port: int) -> None:
    hub = Hub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(hub), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    # The start-up line reference_server.testing.RunningServer waits for.
    print(f"listening on http://{bound[0]}:{bound[1]} blast", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    try:
        asyncio.run(serve(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "0"))))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
