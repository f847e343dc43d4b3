"""doc: "Server to Client Events › 3. User Left Room" (D5, D15)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import Where
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-USER-LEFT-RECIPIENTS", "SRV-USER-LEFT-PAYLOAD")
async def test_user_left_goes_to_others_in_the_room_only(chat: Clients, room: str) -> None:
    bob = await chat.member("bob", room)
    outsider = await chat.member("carol", f"{room}-elsewhere")
    alice = await chat.member("alice", room)
    reply = await alice.request("leaveRoom", {"roomId": room})
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    got = await expect.received(
        "SRV-USER-LEFT-RECIPIENTS", bob, "userLeft", sent=reply.sent, where=by_alice
    )
    expect.fields(
        "SRV-USER-LEFT-PAYLOAD",
        got,
        sent=reply.sent,
        userId=alice.user_id,
        username=alice.username,
        roomId=room,
    )
    expect.schema("SRV-USER-LEFT-PAYLOAD", "userLeft", got, sent=reply.sent)
    await expect.nothing(
        "SRV-USER-LEFT-RECIPIENTS",
        [alice, outsider],
        "userLeft",
        sent=reply.sent,
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )


@requirement("SRV-USER-LEFT-RECIPIENTS")
async def test_user_left_waits_for_the_users_last_socket_in_the_room(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    alice_too = await chat.member("alice-2", room, user_id=alice.user_id)
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    first = await alice.request("leaveRoom", {"roomId": room})
    await expect.nothing(
        "SRV-USER-LEFT-RECIPIENTS",
        [bob],
        "userLeft",
        sent=first.sent + " (alice still has a socket in the room)",
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )
    last = await alice_too.request("leaveRoom", {"roomId": room})
    await expect.received(
        "SRV-USER-LEFT-RECIPIENTS",
        bob,
        "userLeft",
        sent=last.sent + " (alice's last socket in the room)",
        where=by_alice,
    )


@requirement("SRV-USER-LEFT-ON-DISCONNECT")
async def test_disconnecting_leaves_every_room_the_socket_was_in(chat: Clients, room: str) -> None:
    other_room = f"{room}-b"
    bob = await chat.member("bob", room)
    carol = await chat.member("carol", other_room)
    alice = await chat.member("alice", room)
    reply = await alice.request("joinRoom", {"roomId": other_room})
    expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=other_room, success=True)
    await alice.disconnect()
    sent = "alice (in two rooms) disconnects"
    for member, left_room in ((bob, room), (carol, other_room)):
        await expect.received(
            "SRV-USER-LEFT-ON-DISCONNECT",
            member,
            "userLeft",
            sent=sent,
            where=left(alice.user_id, left_room),
        )


def left(user_id: str, room: str) -> Where:
    return lambda p: bool(p["userId"] == user_id and p["roomId"] == room)


@requirement("SRV-USER-LEFT-ON-DISCONNECT")
async def test_a_disconnect_announces_user_left_only_for_the_users_last_socket(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    alice_too = await chat.member("alice-2", room, user_id=alice.user_id)
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    await alice.disconnect()
    await expect.nothing(
        "SRV-USER-LEFT-ON-DISCONNECT",
        [bob],
        "userLeft",
        sent="alice disconnects one of her two sockets in the room",
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )
    await alice_too.disconnect()
    await expect.received(
        "SRV-USER-LEFT-ON-DISCONNECT",
        bob,
        "userLeft",
        sent="alice disconnects her last socket in the room",
        where=left(alice.user_id, room),
    )
