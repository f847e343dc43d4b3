"""Settings the conformance suite's managed run does not vary, over the wire: another
WS_NAMESPACE, FRONTEND_URL=*, and the test-only fault switch left unset (the suite runs
/chat, a list of two origins and a fault room; it judges what it is told the target is)."""

from __future__ import annotations

from typing import Any

from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import LiveServer


async def test_a_configured_namespace_replaces_chat(start_server: StartServer) -> None:
    live = await start_server(WS_NAMESPACE="/rooms")
    alice = await live.connect("alice", namespace="/rooms")
    reply = await alice.request("joinRoom", {"roomId": "lobby"})
    assert reply.payload == {"event": "joinedRoom", "roomId": "lobby", "success": True}
    assert await live.refusal("bob", namespace="/chat") == {"message": "Invalid namespace"}


async def test_frontend_url_star_lets_any_origin_connect(start_server: StartServer) -> None:
    live = await start_server(FRONTEND_URL="*")
    alice = await live.connect("alice", headers={"Origin": "https://any.example"})
    assert (await alice.request("heartbeat")).payload["success"] is True


ROOM_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("joinRoom", {"roomId": "boom"}),
    ("sendMessage", {"roomId": "boom", "content": "hi"}),
    ("typing", {"roomId": "boom", "isTyping": True}),
    ("getRoomStats", {"roomId": "boom"}),
    ("leaveRoom", {"roomId": "boom"}),
]


async def test_the_fault_switch_is_off_unless_set(server: LiveServer) -> None:
    assert server.settings.fault_room is None
    alice = await server.connect("alice")
    for event, payload in ROOM_EVENTS:
        reply = await alice.request(event, payload)
        assert reply.payload["success"] is True, (event, reply.describe())
