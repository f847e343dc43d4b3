"""The typing lifecycle (D18): state per user and room, announced to others on changes only,
ended by `false`, a message, leaving, disconnecting or the WS_TYPING_TIMEOUT."""

from __future__ import annotations

import time

import pytest

from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import (
    ISO_8601_MS_Z,
    ChatClient,
    LiveServer,
    assert_silent,
)

ROOM = "lobby"
TIMEOUT_MS = 800  # WS_TYPING_TIMEOUT for this module: short, but well above a round trip


@pytest.fixture
async def server(start_server: StartServer) -> LiveServer:
    return await start_server(WS_TYPING_TIMEOUT=TIMEOUT_MS)


async def typing(client: ChatClient, is_typing: bool, room: str = ROOM) -> None:
    reply = await client.call("typing", {"roomId": room, "isTyping": is_typing})
    assert reply == {"event": "typingUpdated", "success": True}, reply


async def announced(client: ChatClient, user_id: str, is_typing: bool, room: str = ROOM) -> None:
    event = await client.next("userTyping")
    assert (event["userId"], event["roomId"], event["isTyping"]) == (user_id, room, is_typing)


async def test_typing_is_announced_to_the_sockets_of_others_in_the_room_only(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice", "Alice")
    alice_too = await server.connect("alice", "Alice")
    bob = await server.connect("bob")
    bob_elsewhere = await server.connect("bob")
    carol = await server.connect("carol")
    for client in (alice, alice_too, bob):
        await client.join(ROOM)
    await bob_elsewhere.join("elsewhere")
    await carol.join("elsewhere")
    await typing(alice, True)
    event = await bob.next("userTyping")
    timestamp = event.pop("timestamp")
    assert event == {"userId": "alice", "username": "Alice", "roomId": ROOM, "isTyping": True}
    assert ISO_8601_MS_Z.fullmatch(timestamp)
    await assert_silent(
        (alice, "userTyping"),
        (alice_too, "userTyping"),
        (bob_elsewhere, "userTyping"),
        (carol, "userTyping"),
        (bob, "userTyping"),
    )


async def test_a_repeated_typing_true_is_not_announced_again(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await typing(alice, True)
    await announced(bob, "alice", True)
    await typing(alice, True)
    await typing(alice, True)
    await assert_silent((bob, "userTyping"))


async def test_typing_false_ends_the_state_once(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await typing(alice, True)
    await announced(bob, "alice", True)
    await typing(alice, False)
    await announced(bob, "alice", False)
    await typing(alice, False)  # D18: "a `typing: false` while not typing only answers success"
    await assert_silent((bob, "userTyping"))


async def test_typing_false_while_not_typing_only_answers_success(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await typing(alice, False)
    await assert_silent((bob, "userTyping"))


async def test_sending_a_message_ends_typing_in_that_room_only(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    for room in (ROOM, "side"):
        await alice.join(room)
        await bob.join(room)
        await typing(alice, True, room)
        await announced(bob, "alice", True, room)
    await alice.call("sendMessage", {"roomId": ROOM, "content": "done typing"})
    assert (await bob.next("receiveMessage"))["content"] == "done typing"
    await announced(bob, "alice", False, ROOM)
    await alice.call("getRoomStats", {"roomId": "side"})
    assert (await alice.next("roomStats"))["typingUsers"] == ["alice"]
    await alice.call("getRoomStats", {"roomId": ROOM})
    assert (await alice.next("roomStats"))["typingUsers"] == []


async def test_a_message_while_not_typing_announces_no_typing_change(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await alice.call("sendMessage", {"roomId": ROOM, "content": "hi"})
    await assert_silent((bob, "userTyping"))


async def test_leaving_ends_typing_once_the_user_has_no_socket_left_in_the_room(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    bob = await server.connect("bob")
    for client in (alice, alice_too, bob):
        await client.join(ROOM)
    await typing(alice, True)
    await announced(bob, "alice", True)
    await alice.call("leaveRoom", {"roomId": ROOM})
    await assert_silent((bob, "userTyping"))
    await alice_too.call("leaveRoom", {"roomId": ROOM})
    assert (await bob.next("userLeft"))["userId"] == "alice"
    await announced(bob, "alice", False)
    assert (await server.health())["websocket"]["totalTypingUsers"] == 0


async def test_disconnecting_ends_typing(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await typing(alice, True)
    await announced(bob, "alice", True)
    await alice.disconnect()
    await announced(bob, "alice", False)
    # The timer was cancelled with the state: nothing more when it would have fired.
    await assert_silent((bob, "userTyping"), within=TIMEOUT_MS / 1000)


async def test_typing_ends_after_the_timeout_without_a_new_true(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    started = time.monotonic()
    await typing(alice, True)
    await announced(bob, "alice", True)
    await announced(bob, "alice", False)  # within EVENT_TIMEOUT_S, no action needed
    assert time.monotonic() - started >= TIMEOUT_MS / 1000 * 0.9
    assert (await server.health())["websocket"]["totalTypingUsers"] == 0


async def test_a_repeated_true_restarts_the_timeout(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    await typing(alice, True)
    await announced(bob, "alice", True)
    await assert_silent((bob, "userTyping"), within=TIMEOUT_MS / 1000 * 0.6)
    refreshed = time.monotonic()
    await typing(alice, True)
    await announced(bob, "alice", False)
    # Without the refresh the state would have ended about 0.4 x timeout after it.
    assert time.monotonic() - refreshed >= TIMEOUT_MS / 1000 * 0.75


async def test_typing_state_is_per_user_and_room(server: LiveServer) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    bob = await server.connect("bob")
    for room in ("red", "blue"):
        await alice.join(room)
        await alice_too.join(room)
        await bob.join(room)
    await typing(alice, True, "red")
    await typing(alice_too, True, "red")  # the same user: already typing there
    await typing(alice_too, True, "blue")
    await typing(bob, True, "blue")
    health = await server.health()
    assert health["websocket"]["totalTypingUsers"] == 3  # (alice, red) (alice, blue) (bob, blue)
    details = {
        room["roomId"]: room["typingUsers"] for room in (await server.stats())["rooms"]["details"]
    }
    assert details == {"red": 1, "blue": 2}
    await bob.call("getRoomStats", {"roomId": "blue"})
    assert (await bob.next("roomStats"))["typingUsers"] == ["alice", "bob"]
    await typing(alice_too, False, "red")  # set from alice, ended from alice_too: per user
    await alice.call("getRoomStats", {"roomId": "red"})
    assert (await alice.next("roomStats"))["typingUsers"] == []
