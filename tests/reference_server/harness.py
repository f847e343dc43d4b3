"""The in-process server and the Socket.IO client the integration tests drive.

A `LiveServer` is the real ASGI app under uvicorn on a pre-bound port-0 socket; a
`ChatClient` is a stock `socketio.AsyncClient` that files every event it receives into
one queue per event name, so a test awaits exactly the event it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import socketio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from chatrooms_fixtures.tokens import mint
from reference_server.app import ChatApp, create_app
from reference_server.clock import Clock
from reference_server.config import Settings
from reference_server.serve import ReferenceServer, bind, build_server

# How long an expected event may take to arrive: generous, the machine is shared.
EVENT_TIMEOUT_S = 5.0
# The bounded quiet window of a negative check ("must not receive"), after a barrier.
QUIET_S = 0.1
# D8: "2026-11-25T19:43:25.123Z", the form of JavaScript's toISOString().
ISO_8601_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# The settings every in-process server starts from; a test overrides what it needs.
BASE_ENV: Mapping[str, str] = {
    "HOST": "127.0.0.1",
    "PORT": "0",
    # Off unless a test is about it, so that no `ping` lands in a negative check.
    "WS_ENABLE_HEARTBEAT": "false",
}


class FakeTimer:
    def __init__(self, due: float, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]):
        self.due, self.loop, self.callback = due, loop, callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A Clock the test moves by hand: rate-limit windows, timestamps and timers (typing
    timeouts fire when the clock is moved past them, on the server's loop)."""

    def __init__(self, start: datetime | None = None) -> None:
        # Near the real time, so that tokens minted by chatrooms_fixtures are valid.
        self.wall = start or datetime.now(UTC).replace(microsecond=123_000)
        self.mono = 1_000.0
        self.timers: list[FakeTimer] = []

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.mono + delay_s, asyncio.get_running_loop(), callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)
        due = [t for t in self.timers if t.due <= self.mono and not t.cancelled]
        self.timers = [t for t in self.timers if t not in due and not t.cancelled]
        for timer in sorted(due, key=lambda t: t.due):
            timer.loop.call_soon_threadsafe(timer.callback)


class ConnectRefused(Exception):
    """The server refused the CONNECT; `data` is what `connect_error` carried."""

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.data = data


class ChatClient:
    """One Socket.IO connection to the chat namespace."""

    def __init__(self, user_id: str, sio: socketio.AsyncClient, namespace: str) -> None:
        self.user_id = user_id
        self.sio = sio
        self.namespace = namespace
        self.queues: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None
        self.server_knows: Callable[[], bool] = lambda: False

    def file(self, event: str, *args: Any) -> None:
        self.queues[event].put_nowait(args[0] if len(args) == 1 else args)

    async def call(self, event: str, *args: Any, timeout: float = EVENT_TIMEOUT_S) -> Any:
        """Send `event` asking for an acknowledgement; return what the ack carried."""
        return await self.sio.call(event, tuple(args), namespace=self.namespace, timeout=timeout)

    async def emit(self, event: str, *args: Any) -> None:
        """Send `event` without asking for an acknowledgement."""
        await self.sio.emit(event, tuple(args), namespace=self.namespace)

    async def next(self, event: str, timeout: float = EVENT_TIMEOUT_S) -> Any:
        """The next `event` this client receives (or one it already received)."""
        try:
            return await asyncio.wait_for(self.queues[event].get(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.user_id} expected {event!r} within {timeout} s; got nothing"
            ) from None

    def received(self, event: str) -> list[Any]:
        """Everything received as `event` and not yet taken; taking it."""
        queue = self.queues[event]
        return [queue.get_nowait() for _ in range(queue.qsize())]

    async def join(self, room_id: str) -> Any:
        reply = await self.call("joinRoom", {"roomId": room_id})
        assert reply == {"event": "joinedRoom", "roomId": room_id, "success": True}, reply
        await self.next("roomUsers")
        return reply

    async def barrier(self) -> None:
        """A round trip: whatever the server queued for this socket before it handled the
        heartbeat has arrived when this returns."""
        await self.call("heartbeat")

    async def disconnect(self) -> None:
        """Disconnect, and wait until the server has handled it too: its DISCONNECT and a
        later event on another socket travel on different connections, in no set order."""
        await self.sio.disconnect()
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            await self.disconnected.wait()
            while self.server_knows():
                await asyncio.sleep(0.005)


async def assert_silent(*checks: tuple[ChatClient, str], within: float = QUIET_S) -> None:
    """Each (client, event): the client receives no such event, waiting a barrier plus a
    bounded quiet window for anything late."""
    for client in {id(c): c for c, _ in checks}.values():
        if client.sio.connected:
            await client.barrier()
    await asyncio.sleep(within)
    unexpected = {
        f"{client.user_id}: {event}": got
        for client, event in checks
        if (got := client.received(event))
    }
    assert not unexpected, f"expected: nothing within {within} s; actual: {unexpected}"


class LiveServer:
    """The reference app under uvicorn on 127.0.0.1, port chosen by the kernel.

    uvicorn runs in a thread of this process with a loop of its own, so stopping one
    server (uvicorn waits at least 0.1 s while shutting down) overlaps the next test.
    """

    def __init__(self, settings: Settings, app: ChatApp, transport: str) -> None:
        self.settings = settings
        self.app = app
        self.transport = transport
        self.server: ReferenceServer = build_server(settings, app)
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.clients: list[ChatClient] = []
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        self.thread = threading.Thread(
            target=self._serve, name=f"server {self.url} of {test}", daemon=True
        )
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as error:  # reported by start() or join()
            self.error = error
        finally:
            self.sock.close()

    @classmethod
    async def start(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock | None = None,
        transport: str = "websocket",
    ) -> LiveServer:
        settings = Settings.from_env({**BASE_ENV, **(env or {})})
        live = cls(settings, create_app(settings, clock=clock), transport)
        live.thread.start()
        async with asyncio.timeout(EVENT_TIMEOUT_S * 2):
            while not live.server.started:
                if not live.thread.is_alive():
                    raise RuntimeError(f"server exited during start-up: {live.error!r}")
                await asyncio.sleep(0.01)
        return live

    async def stop(self) -> None:
        """Disconnect the clients and tell the server to exit; join() waits for it."""
        polling = [c for c in self.clients if c.sio.transport() == "polling"]
        for client in self.clients:
            if client.sio.connected and client not in polling:
                await client.disconnect()
        self.server.should_exit = True
        # A polling client waits for the server to close it: python-engineio leaves a
        # long-poll hanging until its timeout when the client is the one that closes.
        for client in polling:
            if client.sio.connected:
                await asyncio.wait_for(client.disconnected.wait(), EVENT_TIMEOUT_S * 2)
        for client in self.clients:
            await client.sio.shutdown()

    def join(self) -> None:
        self.thread.join(EVENT_TIMEOUT_S * 2)
        assert not self.thread.is_alive(), f"{self.thread.name} did not stop"
        assert self.error is None, f"{self.thread.name} failed: {self.error!r}"

    def token(self, user_id: str, username: str | None = None) -> str:
        return mint(user_id, username, secret=self.settings.jwt_secret.reveal())

    async def connect(
        self,
        user_id: str,
        username: str | None = None,
        *,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        query: str = "",
        namespace: str | None = None,
        transport: str | None = None,
    ) -> ChatClient:
        """Connect as `user_id` with a valid auth.token unless `auth`, an Authorization
        header or `query` say how to authenticate; raise ConnectRefused with the
        connect_error data. A refusal over polling costs python-engineio's 30 s long-poll
        timeout (see stop()), so refusals are tested over websocket."""
        if auth is None and not query and "Authorization" not in (headers or {}):
            auth = {"token": self.token(user_id, username)}
        namespace = namespace or self.settings.namespace
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        client = ChatClient(user_id, sio, namespace)
        refusal: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def on_any(event: str, *args: Any) -> None:
            client.file(event, *args)

        async def on_connect_error(data: Any = None) -> None:
            if not refusal.done():
                refusal.set_result(data)

        async def on_disconnect(reason: str | None = None) -> None:
            client.disconnect_reason = reason
            client.disconnected.set()

        sio.on("*", on_any, namespace=namespace)
        sio.on("connect_error", on_connect_error, namespace=namespace)
        sio.on("disconnect", on_disconnect, namespace=namespace)
        try:
            await sio.connect(
                self.url + (f"?{query}" if query else ""),
                auth=auth,
                headers=dict(headers or {}),
                namespaces=[namespace],
                transports=[transport or self.transport],
                wait_timeout=EVENT_TIMEOUT_S * 2,
            )
        except socketio.exceptions.ConnectionError as error:
            # python-engineio leaves its aiohttp session open when the handshake fails.
            http = sio.eio.http
            if http is not None and not http.closed:
                await http.close()
            if refusal.done():
                raise ConnectRefused(refusal.result()) from None
            raise ConnectRefused(str(error)) from None
        sid = sio.get_sid(namespace)
        client.server_knows = lambda: self.app.store.has_socket(sid)
        self.clients.append(client)
        return client

    async def refusal(self, **kwargs: Any) -> Any:
        """Connect expecting a refusal; return the connect_error data."""
        try:
            client = await self.connect(kwargs.pop("user_id", "refused"), **kwargs)
        except ConnectRefused as refused:
            return refused.data
        await client.sio.disconnect()
        raise AssertionError("expected: the connection is refused; actual: it was accepted")

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=EVENT_TIMEOUT_S) as http:
            return await http.get(path, headers=dict(headers or {}))

    async def health(self) -> dict[str, Any]:
        response = await self.get("/websocket/health")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def stats(self) -> dict[str, Any]:
        response = await self.get("/websocket/stats")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextlib.asynccontextmanager
async def engineio_websocket(live: LiveServer) -> AsyncIterator[ClientConnection]:
    """A bare Engine.IO websocket, past its OPEN packet, for frames no stock client sends."""
    url = live.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url) as ws:
        assert str(await ws.recv()).startswith("0{")  # Engine.IO OPEN
        yield ws


async def frames(ws: ClientConnection, within: float = QUIET_S * 3) -> list[str]:
    """The text frames that arrive until none has for `within` seconds."""
    got: list[str] = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(str(await asyncio.wait_for(ws.recv(), within)))
    return got


def packet_data(frame: str, prefix: str) -> Any:
    """The JSON after a Socket.IO packet's prefix, e.g. '43/chat,7'."""
    assert frame.startswith(prefix), frame
    return json.loads(frame.removeprefix(prefix))
