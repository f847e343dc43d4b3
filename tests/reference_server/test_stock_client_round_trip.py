"""Issue 2, "Done when": a stock Socket.IO client connects with a development token, joins
`general`, sends a message and receives it back as `receiveMessage`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from chatrooms_fixtures.tokens import mint
from reference_server.testing import RunningServer
from tests.reference_server.harness import EVENT_TIMEOUT_S
from tests.reference_server.test_process import clean_env


@pytest.fixture
def started_with_one_command() -> Iterator[RunningServer]:
    """`python -m reference_server` with nothing configured (development, no JWT_SECRET)."""
    with RunningServer(clean_env()) as process:
        yield process


def development_token(user_id: str) -> str:
    """As a developer gets one (`chatrooms-token alice` prints the same)."""
    return mint(user_id)


async def test_a_stock_client_joins_general_and_gets_its_message_back(
    started_with_one_command: RunningServer,
) -> None:
    received: asyncio.Queue[Any] = asyncio.Queue()
    # As in the document's client example: io(url, {auth: {token}}), emit without acks.
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    sio.on("receiveMessage", received.put_nowait, namespace="/chat")
    await sio.connect(
        started_with_one_command.url,  # default transports: polling, then the upgrade
        auth={"token": development_token("alice")},
        namespaces=["/chat"],
        wait_timeout=EVENT_TIMEOUT_S * 2,
    )
    try:
        await sio.emit("joinRoom", {"roomId": "general"}, namespace="/chat")
        await sio.emit(
            "sendMessage", {"content": "Hello, world!", "roomId": "general"}, namespace="/chat"
        )
        message = await asyncio.wait_for(received.get(), EVENT_TIMEOUT_S)
    finally:
        started_with_one_command.stop()  # the server disconnects the client first
        await sio.shutdown()
    assert message["content"] == "Hello, world!"
    assert message["roomId"] == "general"
    assert message["author"] == {"id": "alice", "username": "alice"}
    assert message["messageType"] == "TEXT"
