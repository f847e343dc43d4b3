"""Running the app under uvicorn: start-up line, logging, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

import uvicorn

from reference_server import gc_policy
from reference_server.app import ChatApp, create_app
from reference_server.config import Settings

log = logging.getLogger("reference_server")


class ReferenceServer(uvicorn.Server):
    """A uvicorn server that disconnects Socket.IO clients before closing connections."""

    def __init__(self, config: uvicorn.Config, app: ChatApp) -> None:
        super().__init__(config)
        self.chat_app = app
        self._collector: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        every_s = self.chat_app.settings.gc.full_every_s
        if every_s:  # see gc_policy.py
            self._collector = asyncio.create_task(gc_policy.collect_periodically(every_s))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Without this, open long-polls would hold uvicorn's graceful shutdown until
        # its timeout, and clients would see "transport close" and retry.
        if self._collector is not None:
            self._collector.cancel()
        await self.chat_app.disconnect_all()
        await super().shutdown(sockets)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def build_server(settings: Settings, app: ChatApp | None = None) -> ReferenceServer:
    app = app or create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=3,
    )
    return ReferenceServer(config, app)


def startup_line(settings: Settings, host: str, port: int) -> str:
    limits = settings.limits
    secret = (
        "DEVELOPMENT SECRET IN USE (set JWT_SECRET)"
        if settings.development_secret_in_use
        else "JWT_SECRET from the environment"
    )
    heartbeat = (
        f"ping every {settings.heartbeat_interval_ms} ms" if settings.enable_heartbeat else "off"
    )
    return (
        f"listening on http://{host}:{port} namespace {settings.namespace} "
        f"NODE_ENV={settings.node_env}; limits per {settings.rate_limit_window_ms} ms: "
        f"{limits.messages} messages, {limits.joins} joins, {limits.typing} typing; "
        f"heartbeat {heartbeat}; typing timeout {settings.typing_timeout_ms} ms; "
        f"CORS {settings.frontend_url}; {secret}; {settings.gc.describe()}"
        + (f"; FAULT ROOM {settings.fault_room!r}" if settings.fault_room else "")
    )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts so that the port is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio's own loop disables Nagle only on sockets that say TCP,
    # and without that a response sent right after an event (roomUsers, then the ack)
    # waits for the client's delayed ACK, some 40 ms (uvloop sets it either way).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(settings: Settings, app: ChatApp | None = None) -> None:
    """Bind, log where the server listens, serve until SIGINT/SIGTERM."""
    configure_logging(settings)
    gc_policy.apply(settings.gc)  # before the first connection; see gc_policy.py
    if settings.gc_stats_interval_ms is not None:
        gc_policy.log_stats_every(settings.gc_stats_interval_ms)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    server = build_server(settings, app)
    cluster = server.chat_app.cluster
    line = startup_line(settings, host, port)
    log.info(line + (f"; {cluster.describe()}" if cluster is not None else ""))
    if len(settings.jwt_secret.reveal().encode()) < 32:
        log.warning("JWT_SECRET is shorter than 32 bytes, which RFC 7518 asks of HS256 keys")
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal under
    # the handlers that were in place before it ran; these make that a clean exit 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    server.run(sockets=[sock])


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)
