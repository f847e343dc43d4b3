"""doc: "Client to Server Events › 1. Join Room" (D6, D14)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients
from conformance.target import Declaration, Target

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


async def room_ids(chat: Clients) -> tuple[set[str], int]:
    """The rooms /websocket/stats lists, and its rooms.totalCreated."""
    stats = await expect.json_endpoint(chat.http, "/websocket/stats")
    rooms = stats.get("rooms") or {}
    return {d.get("roomId") for d in rooms.get("details") or []}, rooms.get("totalCreated", 0)


@requirement("EVT-JOIN-CREATES-ROOM")
async def test_the_first_join_creates_the_room_and_counts_it_once(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    before, created_before = await room_ids(chat)
    alice = await chat.member("alice", room)
    after_first, created_first = await room_ids(chat)
    await chat.member("bob", room)
    _, created_second = await room_ids(chat)
    sent = f"alice, then bob join the fresh room {room}"
    expect.that(
        "EVT-JOIN-CREATES-ROOM",
        room not in before and room in after_first,
        sent=sent,
        expected=f"{room} listed in rooms.details once joined",
        actual=f"listed before: {room in before}, after: {room in after_first}",
    )
    if settings.metrics:
        expect.that(
            "EVT-JOIN-CREATES-ROOM",
            (created_first - created_before, created_second - created_first) == (1, 0),
            sent=sent,
            expected="rooms.totalCreated +1 on the first join, +0 on the next",
            actual=f"+{created_first - created_before}, +{created_second - created_first}",
        )
    del alice
