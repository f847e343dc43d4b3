"""The in-process server the tests that look inside it drive, and its fake clock.

A `LiveServer` is the real ASGI app under uvicorn on a pre-bound port-0 socket; its
clients are the conformance suite's `conformance.client.ChatClient` (one Socket.IO test
client for the whole project). Behaviour a black box can see is the suite's to check;
these tests keep what it cannot: a fake clock, injected failures, settings the managed
run does not vary, shutdown, logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from chatrooms_fixtures.tokens import mint
from conformance.client import ChatClient, Refused, TokenChannel
from reference_server.app import ChatApp, create_app
from reference_server.clock import Clock
from reference_server.config import Settings
from reference_server.serve import ReferenceServer, bind, build_server

# How long an expected event may take to arrive: generous, the machine is shared.
EVENT_TIMEOUT_S = 5.0
# The quiet window of a negative check ("no frame arrives").
QUIET_S = 0.1
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
        for client in self.clients:
            await client.disconnect()
            await client.sio.shutdown()
        self.server.should_exit = True

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
        token: str | None = None,
        via: TokenChannel = "auth",
        headers: Mapping[str, str] | None = None,
        namespace: str | None = None,
        transport: str | None = None,
    ) -> ChatClient:
        """A client connected as `user_id` with a valid token (unless `token` is given) on
        the `via` channel; raises conformance.client.Refused with the connect_error data."""
        client = ChatClient(
            user_id,
            user_id,
            username or user_id,
            namespace or self.settings.namespace,
            timeout_ms=int(EVENT_TIMEOUT_S * 1000),
        )
        if token is None:
            token = self.token(user_id, username)
        try:
            await client.connect(
                self.url,
                token,
                via=via,
                transport=transport or self.transport,
                headers=dict(headers or {}),
            )
        except Refused:
            # python-engineio leaves its aiohttp session open when the handshake fails.
            http = client.sio.eio.http
            if http is not None and not http.closed:
                await http.close()
            raise
        self.clients.append(client)
        return client

    async def refusal(self, user_id: str = "refused", **kwargs: Any) -> Any:
        """Connect expecting a refusal; return the connect_error data."""
        try:
            client = await self.connect(user_id, **kwargs)
        except Refused as refused:
            return refused.data
        await client.disconnect()
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


async def frames(ws: ClientConnection, within: float = QUIET_S * 3) -> list[str]:
    """The text frames that arrive until none has for `within` seconds."""
    got: list[str] = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(str(await asyncio.wait_for(ws.recv(), within)))
    return got
