"""Assembles the ASGI application: Socket.IO at /socket.io/ and the HTTP endpoints on one
port (D1)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import socketio

from reference_server.clock import Clock, SystemClock
from reference_server.config import Settings
from reference_server.events import Chat
from reference_server.heartbeat import ping_forever
from reference_server.http import create_http_app
from reference_server.payloads import ServerEvent
from reference_server.rate_limit import Limiter, RateLimiter
from reference_server.socket_server import ChatSocketServer
from reference_server.state import Counters, MemoryCounters, MemoryStore, Store

if TYPE_CHECKING:
    from reference_server.cluster import Cluster

# How long a shutdown waits for the last packets (DISCONNECT, CLOSE) to reach clients.
_CLOSE_WAIT_S = 1.0


class ChatApp:
    """The ASGI app, plus what a server needs to stop it cleanly."""

    def __init__(
        self, settings: Settings, clock: Clock, store: Store, cluster: Cluster | None = None
    ) -> None:
        self.settings = settings
        self.cluster = cluster
        self.store: Store
        self.counters: Counters
        limiter: Limiter
        options: dict[str, Any] = {}
        if cluster is None:
            self.store = store
            self.counters = MemoryCounters(enabled=settings.enable_metrics)
            limiter = RateLimiter(settings.limits, settings.rate_limit_window_ms, clock)
        else:
            # D33: state, counters and allowances shared through Redis; emits to sockets
            # on other nodes through python-socketio's Redis manager.
            self.store, self.counters, limiter = cluster.store, cluster.counters, cluster.limiter
            options["client_manager"] = cluster.manager
        store = self.store
        # D26: the handshake is refused for an Origin outside FRONTEND_URL.
        self.sio = ChatSocketServer(
            async_mode="asgi",
            cors_allowed_origins=settings.cors_origins,
            namespaces="*",  # D1: let Chat refuse other namespaces with "Invalid namespace"
            logger=False,
            engineio_logger=False,
            **options,
        )
        self.chat = Chat(self.sio, settings, store, limiter, self.counters, clock)
        self.chat.register()
        self._clock = clock
        self._heartbeat: asyncio.Task[None] | None = None
        self._asgi = socketio.ASGIApp(
            self.sio,
            other_asgi_app=create_http_app(settings, store, self.counters, clock),
            on_startup=self._start,
            on_shutdown=self._stop,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._asgi(scope, receive, send)

    async def disconnect_all(self) -> None:
        """Disconnect every client with a Socket.IO DISCONNECT, so stock clients see
        "io server disconnect" and do not try to reconnect to a server going away."""
        namespace = self.settings.namespace
        for sid in [sid for sid, _ in self.sio.manager.get_participants(namespace, None)]:
            await self.sio.disconnect(sid, namespace=namespace)
        if self.sio.eio.sockets:  # engineio's disconnect() fails when there are none
            # Each engineio close waits until its socket's queue is drained; a socket whose
            # client is leaving at this very moment has no writer left to drain it, and the
            # wait would hold the shutdown forever. (asyncio.timeout, not wait_for: on 3.11
            # wait_for starts a task, and the last socket may go before it runs.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT_S):
                    await self.sio.eio.disconnect()

    async def _drop_local(self) -> None:
        """Close this node's sockets without touching the shared state (D34: another node
        already removed them)."""
        namespace = self.settings.namespace
        for sid in [sid for sid, _ in self.sio.manager.get_participants(namespace, None)]:
            await self.sio.disconnect(sid, namespace=namespace, ignore_queue=True)

    async def _start(self) -> None:
        if self.cluster is not None:
            await self.cluster.start(
                self.sio,
                self.chat.disconnect,
                self._drop_local,
                self.chat.typing_indicator.ended_in_store,
            )
        if self.settings.enable_heartbeat:
            self._heartbeat = asyncio.create_task(
                ping_forever(
                    self.sio,
                    self.settings.namespace,
                    self.settings.heartbeat_interval_ms,
                    self._clock,
                )
            )

    async def _stop(self) -> None:
        self.chat.typing_indicator.stop_all()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await self.sio.shutdown()
        if self.cluster is not None:
            await self.cluster.stop()


def create_app(
    settings: Settings, *, clock: Clock | None = None, store: Store | None = None
) -> ChatApp:
    """Build the reference server's ASGI app. `clock` and `store` are the seams for tests
    (a fake clock, a deliberately broken store). With REDIS_URL the app is a node of a
    cluster (D33, D34) and its state lives in Redis (cluster.py, imported only then)."""
    cluster = None
    if settings.redis_url is not None:
        from reference_server.cluster import Cluster

        cluster = Cluster(settings.redis_url, settings)
    return ChatApp(settings, clock or SystemClock(), store or MemoryStore(), cluster)


__all__ = ["ChatApp", "ServerEvent", "create_app"]
