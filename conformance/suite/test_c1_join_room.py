"""doc: "Client to Server Events › 1. Join Room" (D6, D14)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.suite.conftest import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-JOIN-RESPONSE")
async def test_join_room_answers_joined_room_with_the_room_and_success(
    chat: Clients, room: str
) -> None:
    alice = await chat.connect("alice")
    reply = await alice.request("joinRoom", {"roomId": room})
    payload = expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=room, success=True)
    expect.schema("EVT-JOIN-RESPONSE", "joinedRoom", payload, sent=reply.sent)


@requirement("EVT-JOIN-IDEMPOTENT")
async def test_joining_a_room_again_succeeds_without_a_second_user_joined(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    await expect.received(
        "EVT-JOIN-IDEMPOTENT",
        bob,
        "userJoined",
        sent="alice joins",
        where=lambda p: p["userId"] == alice.user_id,
    )
    await expect.received(
        "EVT-JOIN-IDEMPOTENT",
        alice,
        "roomUsers",
        sent="alice joins",
        where=lambda p: p["roomId"] == room,
    )
    reply = await alice.request("joinRoom", {"roomId": room})
    expect.response("EVT-JOIN-IDEMPOTENT", reply, "joinedRoom", roomId=room, success=True)
    # D14: "joining a room the socket is in answers success and roomUsers again".
    await expect.received(
        "EVT-JOIN-IDEMPOTENT",
        alice,
        "roomUsers",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    await expect.nothing(
        "EVT-JOIN-IDEMPOTENT",
        [bob],
        "userJoined",
        sent=reply.sent,
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )
