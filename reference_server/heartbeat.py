"""The app-level `ping` every WS_HEARTBEAT_INTERVAL ms (doc: "Heartbeat Ping"; D23)."""

from __future__ import annotations

import asyncio

import socketio

from reference_server import payloads
from reference_server.clock import Clock


async def ping_forever(
    sio: socketio.AsyncServer, namespace: str, interval_ms: int, clock: Clock
) -> None:
    """Emit `ping` with `{timestamp}` to every socket connected to this node on a fixed
    cadence.

    Ticks are scheduled from the loop's start time, so a slow emit does not make the
    cadence drift. D23: sockets that do not answer are not dropped.
    """
    loop = asyncio.get_running_loop()
    interval_s = interval_ms / 1000
    next_tick = loop.time() + interval_s
    while True:
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
        next_tick += interval_s
        # D23/D33: each node pings its own sockets; ignore_queue keeps a cluster node's
        # ping off the message queue (python-socketio's public switch for that).
        await sio.emit(
            payloads.ServerEvent.PING,
            payloads.ping(clock.now()),
            namespace=namespace,
            ignore_queue=True,
        )
