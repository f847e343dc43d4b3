"""A bare python-socketio + uvicorn broadcast server: the yardstick for benchmarks.

It speaks just enough of the API for the load scenarios (joinRoom, leaveRoom, sendMessage,
typing on /chat, the same acks) and nothing else: no token check, no validation, no rate
limits, no presence. What the reference server sustains is reported as a ratio of what
this one sustains on the same machine in the same run.

    HOST=127.0.0.1 PORT=0 python benchmarks/baseline_server.py
    chatrooms-load capacity fan-out --server reference \
        --server 'bare=python benchmarks/baseline_server.py' --vary message-rate=0.5,1 ...
"""

from __future__ import annotations

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
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "0"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    # The start-up line reference_server.testing.RunningServer waits for.
    print(f"listening on http://{bound_host}:{bound_port} baseline", flush=True)
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
