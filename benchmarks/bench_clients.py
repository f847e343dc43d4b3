"""Where the harness's own latency comes from: python-socketio's synchronous client under
gevent (what Locust's contributed SocketIOUser uses) against this package's client, with
an independent observer in the same room. A script that prints numbers (load/README.md,
"The generator must not lie").

    python benchmarks/bench_clients.py --receivers 50 --rate 10 --seconds 8

Each variant runs in its own process with gevent's monkey-patching (Locust imported, as
under Locust), connects RECEIVERS clients to one room of a fresh reference server,
sends RATE messages a second from 5 of them, and reports the fan-out latency every
receiver saw, its CPU per delivery, and the observer's p50 for the same messages.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

VARIANTS = {
    "socketio-sync": "python-socketio Client under gevent (as Locust's contrib user)",
    "socketio-sync-no-utf8": "the same, websocket-client's pure-Python UTF-8 check off",
    "socketio-sync-no-thread": "the same, handlers run in the read loop (no thread each)",
    "socketio-sync-neither": "the same, both of the above",
    "lean-user": "chatrooms_load.client, receive time taken in user space",
    "lean-kernel": "chatrooms_load.client, receive time from the kernel (SO_TIMESTAMPNS)",
    "library-kernel": "lean-kernel with the libraries' codecs: websockets' sans-I/O "
    "ClientProtocol for the handshake and frames, python-engineio/python-socketio packets",
}
ROOM = "bench-clients"
SENDERS = 5


def child(variant: str, url: str, receivers: int, rate: float, seconds: float) -> None:
    """Runs in the measured process: gevent-patched, like a Locust worker."""
    import gevent
    import locust  # noqa: F401  (monkey-patches the process, as Locust does)

    from chatrooms_fixtures.tokens import mint
    from chatrooms_load.latency import Histogram, decode_probe, encode_probe

    latency = Histogram()

    def record(content: object, received_at: float) -> None:
        probe = decode_probe(content)
        if probe is not None:
            latency.record((received_at - probe.sent_at) * 1000)

    send: list[Any] = []
    if variant.startswith("socketio-sync"):
        import engineio.client
        import socketio
        import websocket._abnf

        if variant in ("socketio-sync-no-utf8", "socketio-sync-neither"):
            websocket._abnf.validate_utf8 = lambda utfbytes: True  # type: ignore[attr-defined]
        if variant in ("socketio-sync-no-thread", "socketio-sync-neither"):
            trigger = engineio.client.Client._trigger_event

            def in_place(self: Any, event: str, *args: Any, **kwargs: Any) -> Any:
                kwargs["run_async"] = False
                return trigger(self, event, *args, **kwargs)

            engineio.client.Client._trigger_event = in_place
        for i in range(receivers):
            client = socketio.Client(reconnection=False)
            client.on(
                "receiveMessage",
                lambda m: record(m.get("content"), time.time()),
                namespace="/chat",
            )
            client.connect(
                url,
                namespaces=["/chat"],
                transports=["websocket"],
                auth={"token": mint(f"bench-{i}")},
            )
            client.call("joinRoom", {"roomId": ROOM}, namespace="/chat")
            send.append(client)

        def emit(client: Any, payload: dict[str, Any]) -> None:
            client.emit("sendMessage", payload, namespace="/chat")
    else:
        from chatrooms_load.client import ChatConnection

        if variant == "library-kernel":
            ChatConnection = library_connection()  # noqa: N806
        for i in range(receivers):
            conn = ChatConnection(
                url,
                token=mint(f"bench-{i}"),
                on_event=lambda name, data, at: (
                    record(data.get("content"), at) if name == "receiveMessage" else None
                ),
                kernel_timestamps=variant == "lean-kernel",
            )
            conn.connect()
            conn.call("joinRoom", {"roomId": ROOM})
            send.append(conn)

        def emit(client: Any, payload: dict[str, Any]) -> None:
            client.emit("sendMessage", payload)

    stop = time.time() + seconds
    period = SENDERS / rate

    def sender(index: int) -> None:
        gevent.sleep(index * period / SENDERS)
        due = time.time()
        while time.time() < stop:
            content = encode_probe(time.time(), f"s{index}", 0)
            emit(send[index], {"roomId": ROOM, "content": content})
            due += period
            gevent.sleep(max(due - time.time(), 0))

    cpu = time.process_time()
    gevent.joinall([gevent.spawn(sender, i) for i in range(SENDERS)])
    gevent.sleep(0.5)
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {
                "deliveries": latency.total,
                "per_s": latency.total / seconds,
                "p50": latency.percentile(0.5),
                "p99": latency.percentile(0.99),
                "cpu_share": cpu / (seconds + 0.5),
                "us_per_delivery": cpu / max(latency.total, 1) * 1e6,
            }
        ),
        flush=True,
    )


def library_connection() -> Any:
    """chatrooms_load.client.ChatConnection with the handshake, the frames and the
    Engine.IO/Socket.IO packets done by the libraries (issue 9): the same gevent socket,
    one greenlet per connection, kernel receive timestamps, one frame per read (the size
    of the last frame, as the hand-written reader asks when no frame is under way)."""
    import engineio.packet
    import socketio.packet
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.http11 import Response
    from websockets.protocol import State
    from websockets.uri import parse_uri

    from chatrooms_load.client import ChatConnection
    from chatrooms_load.protocol import OP_TEXT, ProtocolError

    class Frames:
        def __init__(self, conn: Any) -> None:
            self.conn = conn
            self.last = 4096

        def wanted(self) -> int:
            return self.last

        def feed(self, data: bytes) -> list[tuple[int, bytes]]:
            protocol = self.conn.protocol
            protocol.receive_data(data)
            out = []
            for event in protocol.events_received():
                if isinstance(event, Response):
                    continue
                out.append((int(event.opcode), event.data))
                self.last = len(event.data) + (2 if len(event.data) < 126 else 4)
            if protocol.data_to_send:  # pongs and close answers the protocol made
                pending = protocol.data_to_send()
                if pending:
                    self.conn._sock.sendall(b"".join(pending))
            return out

    class LibraryConnection(ChatConnection):  # type: ignore[misc, valid-type]
        def _handshake(self, sock: Any, deadline: float) -> None:
            e = self.endpoint
            self.protocol = ClientProtocol(
                parse_uri(f"ws://{e.host_header}{e.path}?EIO=4&transport=websocket")
            )
            self._frames = Frames(self)
            self.protocol.send_request(self.protocol.connect())
            sock.sendall(b"".join(self.protocol.data_to_send()))
            while self.protocol.handshake_exc is None and self.protocol.state is State.CONNECTING:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(4096)
                if not chunk:
                    raise ProtocolError("closed during the handshake")
                for opcode, payload in self._frames.feed(chunk):
                    self._backlog.append((opcode, payload, time.time()))
            if self.protocol.handshake_exc is not None:
                raise ProtocolError(str(self.protocol.handshake_exc))

        def _send_text(self, text: str) -> None:
            with self._write_lock:
                self.protocol.send_text(text.encode())
                self._sock.sendall(b"".join(self.protocol.data_to_send()))

        def _on_frame(self, opcode: int, payload: bytes, received_at: float) -> bool:
            if opcode != OP_TEXT:
                return opcode != int(Opcode.CLOSE)
            eio = engineio.packet.Packet(encoded_packet=payload.decode())
            if eio.packet_type == engineio.packet.MESSAGE:
                packet = socketio.packet.Packet(encoded_packet=eio.data)
                if packet.namespace != self.namespace:
                    return True
                if packet.packet_type == socketio.packet.EVENT:
                    self._on_event(packet.data, received_at)
                elif packet.packet_type == socketio.packet.ACK:
                    self._on_ack(packet.id, packet.data, received_at)
                elif packet.packet_type == socketio.packet.DISCONNECT:
                    return False
            elif eio.packet_type == engineio.packet.PING:
                self._send_text("3")
            elif eio.packet_type == engineio.packet.CLOSE:
                return False
            return True

    return LibraryConnection


def measure(variant: str, receivers: int, rate: float, seconds: float) -> dict[str, Any]:
    from reference_server.testing import RunningServer

    # python-socketio's sync client sends an Origin header (D26 refuses a foreign one);
    # the window keeps 5 senders under their limits at any rate used here.
    env = {"FRONTEND_URL": "*", "WS_RATE_LIMIT_WINDOW_MS": "1000", "WS_ENABLE_HEARTBEAT": "0"}
    with RunningServer(env) as server:
        observer = subprocess.Popen(
            [sys.executable, "-m", "chatrooms_load.observer", "--host", server.url,
             "--room", ROOM, "--seconds", "600", "--probe-rate", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert observer.stdout is not None
        observer.stdout.readline()
        done = subprocess.run(
            [sys.executable, __file__, "--child", variant,
             "--url", server.url, "--receivers", str(receivers), "--rate", str(rate),
             "--seconds", str(seconds)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        observer.terminate()
        seen, _ = observer.communicate(timeout=30)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    observed = json.loads(seen.strip().splitlines()[-1].removeprefix("observer: "))
    result["observer_p50"] = observed["p50_ms"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_clients.py")
    parser.add_argument("--receivers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s in all")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.url, args.receivers, args.rate, args.seconds)
        return 0
    print(
        f"{args.receivers} receivers in one room, {args.rate:g} messages/s "
        f"({args.receivers * args.rate:g} deliveries/s), {args.seconds:g} s per variant"
    )
    print(
        f"{'variant':<24} | {'deliv/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | "
        f"{'obs p50':>7} | {'p50-obs':>7} | {'CPU':>4} | {'us/deliv':>8}"
    )
    for variant in args.variants.split(","):
        r = measure(variant, args.receivers, args.rate, args.seconds)
        print(
            f"{variant:<24} | {r['per_s']:7.0f} | {r['p50']:7.1f} | {r['p99']:7.1f} | "
            f"{r['observer_p50']:7.1f} | {r['p50'] - r['observer_p50']:+7.1f} | "
            f"{r['cpu_share']:4.0%} | {r['us_per_delivery']:8.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
