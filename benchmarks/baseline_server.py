"""A bare python-socketio + uvicorn broadcast server: the yardstick for benchmarks.

It speaks just enough of the API for every load scenario (joinRoom, leaveRoom,
sendMessage, typing on /chat, the same acks and the same `receiveMessage` object, through
python-socketio's own rooms) and nothing else: no token check, no validation, no rate
limits, no presence. What the reference server sustains is reported as a ratio of what
this one sustains on the same machine in the same run. The collector treatment is the
reference server's (REFERENCE_GC, see reference_server/gc_policy.py), so both servers are
compared under the same one. (It replaces bare_socketio_server.py, which answered only
joinRoom and sendMessage; benchmarks/server_capacity.py now starts this one.)

    HOST=127.0.0.1 PORT=0 python benchmarks/baseline_server.py
    chatrooms-load capacity fan-out --server reference \
        --server 'bare=python benchmarks/baseline_server.py' --vary message-rate=0.5,1 ...
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference_server import gc_policy

NAMESPACE = "/chat"


def create_app() -> socketio.ASGIApp:
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.on("connect", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        return None

    @sio.on("joinRoom", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def join_room(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, data["roomId"], namespace=NAMESPACE)
        return {"event": "joinedRoom", "roomId": data["roomId"], "success": True}

    @sio.on("leaveRoom", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def leave_room(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.leave_room(sid, data["roomId"], namespace=NAMESPACE)
        return {"event": "leftRoom", "roomId": data["roomId"], "success": True}

    @sio.on("sendMessage", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def send_message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = {
            "id": str(uuid.uuid4()),
            "content": data["content"],
            "author": {"id": sid, "username": sid},
            "roomId": data["roomId"],
            "messageType": "TEXT",
            "timestamp": stamp,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        await sio.emit("receiveMessage", message, room=data["roomId"], namespace=NAMESPACE)
        return {"event": "messageSent", "message": message, "success": True}

    @sio.on("typing", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def typing(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"event": "typingUpdated", "success": True}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy", "server": "baseline (no rate limits)"})

    http = Starlette(routes=[Route("/websocket/health", health)])
    return socketio.ASGIApp(sio, other_asgi_app=http)


def main() -> int:
    policy = gc_policy.parse(os.environ.get("REFERENCE_GC", ""))
    gc_policy.apply(policy)  # the same treatment as the reference server under test
    interval = os.environ.get("REFERENCE_GC_STATS_INTERVAL_MS", "").strip()
    if interval:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        gc_policy.log_stats_every(int(interval))
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "0"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    # The start-up line reference_server.testing.RunningServer waits for.
    print(
        f"listening on http://{bound_host}:{bound_port} baseline; {policy.describe()}", flush=True
    )
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
