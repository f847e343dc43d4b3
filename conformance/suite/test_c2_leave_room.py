"""doc: "Client to Server Events › 2. Leave Room" (D6, D14)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.suite.conftest import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-LEAVE-RESPONSE")
async def test_leave_room_answers_left_room_with_the_room_and_success(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("leaveRoom", {"roomId": room})
    payload = expect.response("EVT-LEAVE-RESPONSE", reply, "leftRoom", roomId=room, success=True)
    expect.schema("EVT-LEAVE-RESPONSE", "leftRoom", payload, sent=reply.sent)


@requirement("EVT-LEAVE-IDEMPOTENT")
async def test_leaving_a_room_the_socket_is_not_in_succeeds_without_a_broadcast(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.connect("alice")
    reply = await alice.request("leaveRoom", {"roomId": room})
    expect.response("EVT-LEAVE-IDEMPOTENT", reply, "leftRoom", roomId=room, success=True)
    await expect.nothing(
        "EVT-LEAVE-IDEMPOTENT",
        [bob],
        "userLeft",
        sent=reply.sent,
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )


@requirement("EVT-LEAVE-STOPS-DELIVERY")
async def test_after_leaving_a_socket_no_longer_receives_the_rooms_messages(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    bob = await chat.member("bob", room)
    await alice.request("leaveRoom", {"roomId": room})
    reply = await bob.request("sendMessage", {"roomId": room, "content": "after alice left"})
    await expect.received(
        "EVT-LEAVE-STOPS-DELIVERY",
        bob,
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "after alice left",
    )
    await expect.nothing(
        "EVT-LEAVE-STOPS-DELIVERY",
        [alice],
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "after alice left",
        within_ms=chat.target.quiet_ms,
    )
