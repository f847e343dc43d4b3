from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from reference_server.clock import Clock
from tests.reference_server.harness import LiveServer

StartServer = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
def transport() -> str:
    """The Engine.IO transport of the clients; a module overrides it to run over polling."""
    return "websocket"


@pytest.fixture(scope="session")
def stopping_servers() -> Iterator[list[LiveServer]]:
    """Servers told to exit; each stops while later tests run, and all are joined here."""
    stopping: list[LiveServer] = []
    yield stopping
    for live in stopping:
        live.join()


@pytest.fixture
def no_server_running(stopping_servers: list[LiveServer]) -> None:
    """freezegun moves the clock of every thread: let the servers still stopping finish
    (their loops would stall on a frozen monotonic clock) before a test freezes time."""
    while stopping_servers:
        stopping_servers.pop().join()


@pytest.fixture
async def start_server(
    transport: str, stopping_servers: list[LiveServer]
) -> AsyncIterator[StartServer]:
    """Start the real server in-process: `await start_server(NODE_ENV="production")`."""
    started: list[LiveServer] = []

    async def start(*, clock: Clock | None = None, **env: Any) -> LiveServer:
        live = await LiveServer.start(
            {k: str(v) for k, v in env.items()}, clock=clock, transport=transport
        )
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        await live.stop()
        stopping_servers.append(live)


@pytest.fixture
async def server(start_server: StartServer) -> LiveServer:
    """The server with the documented defaults (heartbeat off, see harness.BASE_ENV)."""
    return await start_server()
