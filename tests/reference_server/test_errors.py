"""Refusals over the wire: payloads (D12), unknown events (D11), the 500 path (D9), the
membership rule (D16) and the order of the checks (D10); a failed event has no effect (D7)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import (
    ISO_8601_MS_Z,
    LiveServer,
    assert_silent,
    engineio_websocket,
    frames,
    packet_data,
)

ROOM = "lobby"
FAULT_ROOM = "boom"

# (event, payload args, message) -- a sample of every D12 rule, as delivered to a client;
# the full tables are in test_validation.py.
BAD_PAYLOADS = [
    ("joinRoom", (), "payload is missing: send a JSON object"),
    ("joinRoom", (None,), "payload must be a JSON object, got null"),
    ("joinRoom", ("lobby",), "payload must be a JSON object, got string"),
    ("joinRoom", (42,), "payload must be a JSON object, got number"),
    ("joinRoom", ([ROOM],), "payload must be a JSON object, got array"),
    ("joinRoom", (b"\x01\x02",), "payload must be a JSON object, got binary"),
    ("joinRoom", ({"roomId": ROOM}, {"roomId": ROOM}), "got 2 arguments"),
    ("leaveRoom", ({},), "roomId is required"),
    ("getRoomStats", ({"roomId": 7},), "roomId must be a string, got number"),
    ("joinRoom", ({"roomId": "x" * 101},), "roomId must be 1-100 characters"),
    ("joinRoom", ({"roomId": "two words"},), "roomId must be 1-100 characters"),
    ("sendMessage", ({"roomId": ROOM, "content": ""},), "got 0"),
    ("sendMessage", ({"roomId": ROOM, "content": "x" * 2001},), "got 2001"),
    ("sendMessage", ({"roomId": ROOM, "content": " \t\n"},), "not whitespace"),
    ("sendMessage", ({"roomId": ROOM, "content": "hi", "messageType": None},), "got null"),
    ("sendMessage", ({"roomId": ROOM, "content": "hi", "messageType": "GIF"},), "TEXT, IMAGE"),
    ("typing", ({"roomId": ROOM, "isTyping": "true"},), "isTyping must be a boolean"),
    ("typing", ({"roomId": ROOM, "isTyping": 1},), "isTyping must be a boolean, got number"),
]


@pytest.mark.parametrize(
    ("event", "args", "words"), BAD_PAYLOADS, ids=[f"{e}-{w}" for e, _, w in BAD_PAYLOADS]
)
async def test_bad_payloads_are_refused_with_400_saying_what_was_wrong(
    server: LiveServer, event: str, args: tuple[Any, ...], words: str
) -> None:
    alice = await server.connect("alice")
    await alice.join(ROOM)  # so that 403 cannot be what answers
    reply = await alice.call(event, *args)
    assert (reply["statusCode"], reply["error"]) == (400, "Bad Request"), reply
    assert words in reply["message"]
    assert await alice.next("error") == reply


async def test_a_refused_message_is_not_delivered_nor_counted(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    reply = await alice.call("sendMessage", {"roomId": ROOM, "content": "   "})
    assert reply["statusCode"] == 400
    await assert_silent((bob, "receiveMessage"), (alice, "receiveMessage"))
    assert (await server.stats())["messages"]["totalProcessed"] == 0


async def test_a_refused_join_broadcasts_nothing_and_creates_no_room(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await bob.join(ROOM)
    reply = await alice.call("joinRoom", {"roomId": "no spaces allowed"})
    assert reply["statusCode"] == 400
    await assert_silent((bob, "userJoined"), (alice, "roomUsers"))
    stats = await server.stats()
    assert (stats["rooms"]["active"], stats["rooms"]["totalCreated"]) == (1, 1)


@pytest.mark.parametrize("event", ["sendMessage", "typing"])
async def test_room_events_from_a_socket_not_in_the_room_are_403(
    server: LiveServer, event: str
) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await bob.join(ROOM)
    payload = {"roomId": ROOM, "content": "hi", "isTyping": True}
    reply = await alice.call(event, payload)
    assert (reply["statusCode"], reply["error"]) == (403, "Forbidden")
    assert f"join room '{ROOM}'" in reply["message"]
    assert await alice.next("error") == reply
    await assert_silent((bob, "receiveMessage"), (bob, "userTyping"))


async def test_after_leaving_a_room_its_events_are_403_again(server: LiveServer) -> None:
    alice = await server.connect("alice")
    await alice.join(ROOM)
    await alice.call("leaveRoom", {"roomId": ROOM})
    reply = await alice.call("sendMessage", {"roomId": ROOM, "content": "hi"})
    assert reply["statusCode"] == 403


async def test_room_stats_need_no_membership_and_an_empty_room_has_no_users(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    assert await alice.call("getRoomStats", {"roomId": "nobody-here"}) == {
        "event": "roomStatsRetrieved",
        "success": True,
    }
    stats = await alice.next("roomStats")
    assert stats["roomId"] == "nobody-here"
    assert (stats["userCount"], stats["users"], stats["typingUsers"]) == (0, [], [])
    assert ISO_8601_MS_Z.fullmatch(stats["timestamp"])


@pytest.mark.parametrize(
    "name", ["shout", "JoinRoom", "join_room", "message", "ping", "heartbeatResponse", ""]
)
async def test_unknown_events_are_400_naming_the_event(server: LiveServer, name: str) -> None:
    alice = await server.connect("alice")
    reply = await alice.call(name, {"roomId": ROOM})
    assert (reply["statusCode"], reply["error"]) == (400, "Bad Request")
    assert f"unknown event `{name}`" in reply["message"]
    assert await alice.next("error") == reply


async def test_an_unknown_event_name_is_escaped_in_the_message(server: LiveServer) -> None:
    alice = await server.connect("alice")
    reply = await alice.call("<img src=x>", "anything")
    assert "unknown event `&lt;img src=x&gt;`" in reply["message"]


@pytest.mark.parametrize("name", ["connect", "disconnect"])
async def test_client_events_named_like_lifecycle_events_are_unknown_events(
    server: LiveServer, name: str
) -> None:
    """A client EVENT packet named `connect` or `disconnect` is just an event name the API
    does not define (D11); it must not re-run the connection's lifecycle handlers."""
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    before = await server.stats()
    mallory = {"token": server.token("mallory")}
    reply = await alice.call(name, {}, mallory)
    assert (reply["statusCode"], reply["error"]) == (400, "Bad Request"), reply
    assert f"unknown event `{name}`" in reply["message"]
    assert await alice.next("error") == reply
    # Nothing changed: alice is still alice, still in the room, still connected once.
    after = await server.stats()
    assert {**after, "timestamp": None} == {**before, "timestamp": None}
    assert (await server.health())["websocket"]["connectedUsers"] == 2
    sent = await alice.call("sendMessage", {"roomId": ROOM, "content": "still me"})
    assert sent["message"]["author"]["id"] == "alice"
    await assert_silent((bob, "userOffline"), (bob, "userLeft"), (bob, "userOnline"))


@pytest.mark.parametrize("args", [(), ({"roomId": ROOM},), ("a", "b")])
async def test_an_event_named_star_is_an_unknown_event(
    server: LiveServer, args: tuple[Any, ...]
) -> None:
    alice = await server.connect("alice")
    reply = await alice.call("*", *args)
    assert (reply["statusCode"], reply["error"]) == (400, "Bad Request"), reply
    assert "unknown event `*`" in reply["message"]
    assert await alice.next("error") == reply


@pytest.mark.parametrize(
    ("name", "shown"), [("5", "number"), ("null", "null"), ('{"x":1}', "object"), ("[1]", "array")]
)
async def test_an_event_name_that_is_not_a_string_gets_400_by_ack_and_error_event(
    server: LiveServer, name: str, shown: str
) -> None:
    async with engineio_websocket(server) as ws:
        await ws.send("40/chat," + json.dumps({"token": server.token("alice")}))
        assert str(await ws.recv()).startswith("40/chat,")  # CONNECT
        await ws.send(f'42/chat,7[{name},{{"roomId":"{ROOM}"}}]')
        error_event, ack = await frames(ws)
        assert packet_data(error_event, "42/chat,")[0] == "error"
        reply = packet_data(ack, "43/chat,7")[0]
        assert packet_data(error_event, "42/chat,")[1] == reply
        assert (reply["statusCode"], reply["error"]) == (400, "Bad Request")
        assert reply["message"].startswith(f"event names must be strings, got {shown}")


@pytest.fixture
async def faulty(start_server: StartServer) -> LiveServer:
    return await start_server(REFERENCE_FAULT_ROOM=FAULT_ROOM, NODE_ENV="production",
                              JWT_SECRET="a-secret-for-the-fault-tests-0123456789")  # fmt: skip


ROOM_EVENTS = [
    ("joinRoom", {"roomId": FAULT_ROOM}),
    ("leaveRoom", {"roomId": FAULT_ROOM}),
    ("sendMessage", {"roomId": FAULT_ROOM, "content": "hi"}),
    ("typing", {"roomId": FAULT_ROOM, "isTyping": True}),
    ("getRoomStats", {"roomId": FAULT_ROOM}),
]


@pytest.mark.parametrize(("event", "payload"), ROOM_EVENTS, ids=[e for e, _ in ROOM_EVENTS])
async def test_an_exception_in_a_handler_is_a_500_without_internals(
    faulty: LiveServer, event: str, payload: dict[str, Any]
) -> None:
    alice = await faulty.connect("alice")
    reply = await alice.call(event, payload)
    assert (reply["statusCode"], reply["error"]) == (500, "Internal Server Error"), reply
    assert await alice.next("error") == reply
    # D9: "with no internals (no traceback, no exception text) in the payload".
    text = repr(reply)
    for internal in ("Traceback", "RuntimeError", "REFERENCE_FAULT_ROOM", "fault in room", ".py"):
        assert internal not in text
    assert reply["message"] == f"the server failed while handling {event}; the failure was logged"


async def test_after_a_500_the_connection_and_the_server_stay_up(faulty: LiveServer) -> None:
    alice = await faulty.connect("alice")
    await alice.emit("joinRoom", {"roomId": FAULT_ROOM})
    assert (await alice.next("error"))["statusCode"] == 500
    assert alice.sio.connected
    assert (await alice.call("heartbeat"))["success"] is True
    await alice.join(ROOM)
    assert (await faulty.health())["status"] == "healthy"
    stats = await faulty.stats()
    assert (stats["rooms"]["totalCreated"], stats["connections"]["totalDisconnections"]) == (1, 0)


async def test_validation_comes_before_the_fault_switch(faulty: LiveServer) -> None:
    alice = await faulty.connect("alice")
    reply = await alice.call("sendMessage", {"roomId": FAULT_ROOM, "content": ""})
    assert reply["statusCode"] == 400


async def test_the_fault_switch_comes_before_membership(faulty: LiveServer) -> None:
    alice = await faulty.connect("alice")
    reply = await alice.call("sendMessage", {"roomId": FAULT_ROOM, "content": "hi"})
    assert reply["statusCode"] == 500  # not 403, although alice never joined


async def test_events_failing_with_500_do_not_count_against_the_join_limit(
    faulty: LiveServer,
) -> None:
    alice = await faulty.connect("alice")
    for _ in range(11):  # production: 10 joins per window
        assert (await alice.call("joinRoom", {"roomId": FAULT_ROOM}))["statusCode"] == 500
    for n in range(10):
        assert (await alice.call("joinRoom", {"roomId": f"room-{n}"}))["success"] is True


async def test_events_refused_with_403_do_not_count_against_the_message_limit(
    faulty: LiveServer,
) -> None:
    alice = await faulty.connect("alice")
    for _ in range(31):  # production: 30 messages per window
        reply = await alice.call("sendMessage", {"roomId": ROOM, "content": "hi"})
        assert reply["statusCode"] == 403
    await alice.join(ROOM)
    for _ in range(30):
        reply = await alice.call("sendMessage", {"roomId": ROOM, "content": "hi"})
        assert reply["success"] is True, reply
    assert (await faulty.stats())["rateLimiting"]["violations"] == 0


async def test_events_refused_with_400_do_not_count_against_the_join_limit(
    faulty: LiveServer,
) -> None:
    alice = await faulty.connect("alice")
    for _ in range(11):
        assert (await alice.call("joinRoom", {"roomId": ""}))["statusCode"] == 400
    for n in range(10):
        assert (await alice.call("joinRoom", {"roomId": f"room-{n}"}))["success"] is True


async def test_the_fault_switch_is_off_unless_set(server: LiveServer) -> None:
    assert server.settings.fault_room is None
    alice = await server.connect("alice")
    in_order = sorted(ROOM_EVENTS, key=lambda case: case[0] == "leaveRoom")  # leave last
    for event, payload in in_order:
        reply = await alice.call(event, payload)
        assert reply["success"] is True, (event, reply)
