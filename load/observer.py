"""An independent fan-out observer for the self-check: a plain-asyncio process that
shares no code with the harness's client (its WebSocket is the `websockets` library's
sans-I/O protocol, its Socket.IO packets python-socketio's) and joins one room, and

* times every harness message it receives with its own clock (the harness's send stamp
  against the observer's receive time), and
* sends probes of its own (`sendMessage` with OBSERVER_SENDER as the sender), stamped
  with its own clock just before they are written, and times their return to itself.

Its receive time is the kernel's (SO_TIMESTAMPNS, read with recvmsg): on a machine whose
cores the server and the generator keep busy, a time taken when the observer's process
gets the CPU would measure the machine, not the server. A read that takes several
messages dates them all by the last one's arrival, which only ever makes the observer
see later, never earlier.

The harness's receivers time the probes too (chatrooms_load.chat_user) and count them;
chatrooms_load.selfcheck compares the four views.

    python -m chatrooms_load.observer --host http://127.0.0.1:3001 --room load-fan-out \\
        --seconds 30 --probe-rate 10 --json observer.json

It prints `observer: ready` once it has joined, and a one-line result at the end (after
--seconds, or on SIGTERM/SIGINT); --json gets everything, raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import struct
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from random import Random
from typing import Any
from urllib.parse import urlsplit

from socketio import packet as sio_packet
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from chatrooms_load.latency import OBSERVER_SENDER, Histogram, decode_probe, encode_probe

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("qq")


class Connection:
    """One Socket.IO v4 connection on the websocket transport, kernel-stamped reads."""

    def __init__(self, url: str, namespace: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.namespace = namespace
        self.protocol = ClientProtocol(
            parse_uri(f"ws://{self.host}:{self.port}/socket.io/?EIO=4&transport=websocket")
        )
        self.sock = socket.socket()
        self.loop = asyncio.get_running_loop()
        self.kernel = sys.platform.startswith("linux")
        self.on_event: Callable[[list[Any], float], None] = lambda args, at: None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.connected: asyncio.Future[None] = self.loop.create_future()
        self.next_id = 0

    async def connect(self, auth: dict[str, Any]) -> None:
        self.sock.setblocking(False)
        await self.loop.sock_connect(self.sock, (self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.kernel:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        self.reader = asyncio.create_task(self._read_loop())
        self.auth = auth
        await asyncio.wait_for(self.connected, 10)

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await self.loop.sock_sendall(self.sock, data)

    async def _recv(self) -> tuple[bytes, float]:
        while True:
            try:
                if not self.kernel:
                    return self.sock.recv(65536), time.time()
                data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
            except BlockingIOError:
                ready = self.loop.create_future()
                self.loop.add_reader(self.sock.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    self.loop.remove_reader(self.sock.fileno())
                continue
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanos = _TIMESPEC.unpack_from(raw)
                    return data, seconds + nanos * 1e-9
            return data, time.time()

    async def _read_loop(self) -> None:
        while True:
            data, at = await self._recv()
            if not data:
                return
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    if event.status_code != 101:
                        self.connected.set_exception(RuntimeError(f"handshake {event.status_code}"))
                elif isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                    await self._engine_io(event.data.decode(), at)
            await self._flush()

    async def _engine_io(self, text: str, at: float) -> None:
        if text.startswith("0"):  # Engine.IO OPEN: connect to the namespace
            connect = sio_packet.Packet(
                sio_packet.CONNECT, data=self.auth, namespace=self.namespace
            )
            await self._send("4" + str(connect.encode()))
        elif text == "2":
            await self._send("3")
        elif text.startswith("4"):
            packet = sio_packet.Packet(encoded_packet=text[1:])
            if packet.namespace != self.namespace:
                return
            if packet.packet_type == sio_packet.CONNECT and not self.connected.done():
                self.connected.set_result(None)
            elif packet.packet_type == sio_packet.CONNECT_ERROR and not self.connected.done():
                self.connected.set_exception(RuntimeError(f"refused: {packet.data!r}"))
            elif packet.packet_type == sio_packet.EVENT and isinstance(packet.data, list):
                self.on_event(packet.data, at)
            elif packet.packet_type == sio_packet.ACK and packet.id in self.acks:
                self.acks.pop(packet.id).set_result((packet.data or [None])[0])

    async def _send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        await self._flush()

    async def emit(self, event: str, data: Any) -> None:
        message = sio_packet.Packet(sio_packet.EVENT, data=[event, data], namespace=self.namespace)
        await self._send("4" + str(message.encode()))

    async def call(self, event: str, data: Any) -> Any:
        self.next_id += 1
        future: asyncio.Future[Any] = self.loop.create_future()
        self.acks[self.next_id] = future
        message = sio_packet.Packet(
            sio_packet.EVENT, data=[event, data], namespace=self.namespace, id=self.next_id
        )
        await self._send("4" + str(message.encode()))
        return await asyncio.wait_for(future, 10)

    async def close(self) -> None:
        try:
            await self._send(
                "4"
                + str(sio_packet.Packet(sio_packet.DISCONNECT, namespace=self.namespace).encode())
            )
        except OSError:
            pass
        self.reader.cancel()
        try:
            await self.reader
        except (asyncio.CancelledError, OSError):
            pass
        self.sock.close()


def _token(args: argparse.Namespace, user_id: str) -> str:
    from chatrooms_fixtures.tokens import mint, token_from_command

    if args.token_cmd:
        return token_from_command(args.token_cmd, user_id, user_id)

    return mint(user_id, user_id) if args.secret is None else mint(user_id, secret=args.secret)


async def observe(args: argparse.Namespace) -> dict[str, Any]:
    # Harness messages: per receive second (the observer's clock), the raw latencies in
    # ms, signed: a negative one is a send stamp later than the observer's receipt.
    harness: defaultdict[int, list[float]] = defaultdict(list)
    # Harness messages by the second they were sent (their own stamp), to be compared
    # with the deliveries the harness counted for the same seconds and room.
    harness_sent: defaultdict[int, int] = defaultdict(int)
    probes: dict[int, list[float | None]] = {}  # seq -> [sent_at, received_at | None]
    client = Connection(args.host, args.namespace)

    def on_event(event: list[Any], now: float) -> None:
        if event[0] != "receiveMessage" or len(event) < 2:
            return
        message = event[1]
        probe = decode_probe(message.get("content") if isinstance(message, dict) else None)
        if probe is None:
            return
        if probe.sender == OBSERVER_SENDER:
            entry = probes.get(probe.seq)
            if entry is not None and entry[1] is None:
                entry[1] = now
            return
        harness[int(now)].append(round((now - probe.sent_at) * 1000, 3))
        harness_sent[int(probe.sent_at)] += 1

    async def send_probes(stop: asyncio.Event) -> None:
        # Random gaps (exponential, mean 1/rate): probes that kept a beat could fall into
        # step with the harness's own sends, or with a periodic fault, and miss it.
        random = Random(args.seed)
        seq = 0
        next_at = time.monotonic()
        while not stop.is_set():
            seq += 1
            sent_at = time.time()
            probes[seq] = [sent_at, None]
            content = encode_probe(sent_at, OBSERVER_SENDER, seq)
            await client.emit("sendMessage", {"roomId": args.room, "content": content})
            next_at = max(next_at + random.expovariate(args.probe_rate), time.monotonic())
            try:
                await asyncio.wait_for(stop.wait(), next_at - time.monotonic())
            except TimeoutError:
                pass

    client.on_event = on_event
    await client.connect({"token": _token(args, args.user)})
    reply = await client.call("joinRoom", {"roomId": args.room})
    if not isinstance(reply, dict) or reply.get("success") is not True:
        raise SystemExit(f"observer: joinRoom failed: {reply!r}")
    print("observer: ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    prober = asyncio.create_task(send_probes(stop)) if args.probe_rate > 0 else None
    try:
        await asyncio.wait_for(stop.wait(), args.seconds)
    except TimeoutError:
        stop.set()
    if prober is not None:
        await prober
    await asyncio.sleep(0.2)  # the last probes' way back
    await client.close()
    seen = Histogram.of(ms for values in harness.values() for ms in values)
    return {
        "room": args.room,
        "samples": seen.total,
        "p50_ms": seen.percentile(0.50),
        "p95_ms": seen.percentile(0.95),
        "p99_ms": seen.percentile(0.99),
        "probes_sent": len(probes),
        "probes_returned": sum(1 for _, back in probes.values() if back is not None),
        "harness": {str(second): values for second, values in sorted(harness.items())},
        "probes": {str(seq): entry for seq, entry in probes.items()},
        "harness_sent": {str(second): n for second, n in sorted(harness_sent.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatrooms_load.observer")
    parser.add_argument("--host", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--probe-rate", type=float, default=10.0, help="probes sent per second (0: none)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the probes' gaps")
    parser.add_argument("--namespace", default="/chat")
    parser.add_argument("--user", default="load-observer")
    parser.add_argument("--secret", default=None)
    parser.add_argument("--token-cmd", default=None)
    parser.add_argument("--json", default=None, metavar="PATH")
    args = parser.parse_args(argv)
    result = asyncio.run(observe(args))
    raw = ("harness", "probes", "harness_sent")
    line = json.dumps({k: v for k, v in result.items() if k not in raw})
    print(f"observer: {line}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
