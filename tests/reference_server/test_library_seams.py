"""The private python-socketio/engineio code the reference server overrides, pinned: an
upgrade that changes any of it fails here, loudly, before it can change behaviour."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import engineio.async_drivers.asgi as engineio_asgi
import engineio.async_socket
import pytest
import socketio
import socketio.packet
from socketio.async_pubsub_manager import AsyncPubSubManager

# The private python-socketio/engineio code the server overrides or relies on, as it was in
# the versions pyproject.toml allows (python-socketio 5.18, python-engineio 4.15). A
# change here means: re-read the module named against the new version, then update the
# pin (and the range in pyproject.toml).
UPSTREAM = {
    # socket_server.py: D6 (was an ack asked for?) and D11 (event names python-socketio
    # would give to its lifecycle handlers).
    "socketio.AsyncServer._handle_event_internal": (
        socketio.AsyncServer._handle_event_internal,
        "472e8b72",
    ),
    "socketio.AsyncServer._send_packet": (socketio.AsyncServer._send_packet, "a00022b4"),
    # decoding.py: D35.
    "socketio.AsyncServer._handle_eio_message": (
        socketio.AsyncServer._handle_eio_message,
        "bef50fc0",
    ),
    "socketio.AsyncServer._handle_eio_disconnect": (
        socketio.AsyncServer._handle_eio_disconnect,
        "93445931",
    ),
    "socketio.packet.Packet.decode": (socketio.packet.Packet.decode, "61ad7904"),
    "socketio.packet.Packet.add_attachment": (socketio.packet.Packet.add_attachment, "01e02403"),
    "engineio.async_socket.AsyncSocket._websocket_handler": (
        engineio.async_socket.AsyncSocket._websocket_handler,
        "27f120df",
    ),
    "engineio.async_drivers.asgi.WebSocket.wait": (engineio_asgi.WebSocket.wait, "0346a1c9"),
    # cluster.py and replies.py (D33, D23): `ignore_queue` emits to this node's sockets
    # only (nothing published); other emits reach every node through the queue.
    "socketio.AsyncPubSubManager.emit": (AsyncPubSubManager.emit, "6cc46e0f"),
    # cluster.Cluster.start initializes the manager (subscribes) before the first client,
    # as this method would at the first connection (manager_initialized).
    "socketio.AsyncServer._handle_eio_connect": (
        socketio.AsyncServer._handle_eio_connect,
        "76704886",
    ),
    # cluster.Cluster.start waits for the subscription of this method's `pubsub`.
    "socketio.AsyncRedisManager._redis_connect": (
        socketio.AsyncRedisManager._redis_connect,
        "da4530c9",
    ),
}


def _fingerprint(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:8]


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_the_private_upstream_code_overridden_is_unchanged(name: str) -> None:
    function, pinned = UPSTREAM[name]
    assert _fingerprint(function) == pinned, (
        f"{name} changed in this python-socketio/engineio version: check that "
        "reference_server/socket_server.py (D6, D11) and decoding.py (D35) still do what "
        "they need, then update the pin"
    )
