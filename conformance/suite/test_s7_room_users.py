"""doc: "Server to Client Events › 7. Room Users List" (D5, D15)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-ROOM-USERS-RECIPIENTS", "SRV-ROOM-USERS-PAYLOAD")
async def test_the_joiner_gets_room_users_with_everyone_once_itself_included(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    await chat.member("bob-2", room, user_id=bob.user_id)  # bob twice: listed once (D5)
    alice = await chat.connect("alice")
    reply = await alice.request("joinRoom", {"roomId": room})
    got = await expect.received(
        "SRV-ROOM-USERS-RECIPIENTS",
        alice,
        "roomUsers",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    expect.schema("SRV-ROOM-USERS-PAYLOAD", "roomUsers", got, sent=reply.sent)
    listed = sorted((u.get("userId"), u.get("username")) for u in got["users"])
    wanted = sorted([(alice.user_id, alice.username), (bob.user_id, bob.username)])
    expect.that(
        "SRV-ROOM-USERS-RECIPIENTS",
        listed == wanted,
        sent=reply.sent,
        expected=f"users {wanted} (each user once, the joiner included)",
        actual=expect.show(got["users"]),
    )


@requirement("SRV-ROOM-USERS-RECIPIENTS")
async def test_room_users_goes_to_the_joiner_only(chat: Clients, room: str) -> None:
    bob = await chat.member("bob", room)
    await expect.received(
        "SRV-ROOM-USERS-RECIPIENTS",
        bob,
        "roomUsers",
        sent="bob joins",
        where=lambda p: p["roomId"] == room,
    )
    alice = await chat.connect("alice")
    reply = await alice.request("joinRoom", {"roomId": room})
    await expect.received(
        "SRV-ROOM-USERS-RECIPIENTS",
        alice,
        "roomUsers",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    await expect.nothing(
        "SRV-ROOM-USERS-RECIPIENTS",
        [bob],
        "roomUsers",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
        within_ms=chat.target.quiet_ms,
    )
