"""Serving: the listening socket, and stopping (clients are told; nothing holds it up)."""

from __future__ import annotations

import asyncio
import socket

import socketio

from reference_server.app import create_app
from reference_server.config import Settings
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import EVENT_TIMEOUT_S, LiveServer


async def test_stopping_the_server_disconnects_clients_as_a_server_disconnect(
    start_server: StartServer,
) -> None:
    live = await start_server()
    alice = await live.connect("alice")
    live.server.should_exit = True
    await asyncio.wait_for(alice.disconnected.wait(), EVENT_TIMEOUT_S)
    # A stock client does not try to reconnect after a server disconnect ("io server
    # disconnect" in the JavaScript client).
    assert alice.disconnect_reason == socketio.AsyncClient.reason.SERVER_DISCONNECT


class SocketThatNeverDrains:
    """An engineio socket whose close() waits on a send queue that nobody reads any more,
    as happens when its client closes the websocket while the server shuts down."""

    closed = False

    async def close(self, wait: bool = True, abort: bool = False, reason: object = None) -> None:
        await asyncio.Event().wait()


async def test_disconnecting_everyone_does_not_wait_forever_for_a_socket_that_cannot_drain() -> (
    None
):
    app = create_app(Settings.from_env({}))
    app.sio.eio.sockets["stuck"] = SocketThatNeverDrains()
    await asyncio.wait_for(app.disconnect_all(), EVENT_TIMEOUT_S)


async def test_connections_are_accepted_with_nagle_disabled(server: LiveServer) -> None:
    """A response that follows an emitted event (roomUsers, then the ack) must not wait for
    the client's delayed ACK; asyncio's own loop only disables Nagle on a socket made
    with IPPROTO_TCP, which serve.bind() does."""
    await server.connect("alice")
    sockets = [c.transport.get_extra_info("socket") for c in server.server.server_state.connections]
    assert sockets
    for sock in sockets:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
