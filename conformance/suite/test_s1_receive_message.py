"""doc: "Server to Client Events › 1. Receive Message" (D5, D15, D17)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement(
    "SRV-RECEIVE-MESSAGE-RECIPIENTS", "SRV-ROOM-ONLY-DELIVERY", "SRV-ROOM-EVENTS-PER-SOCKET"
)
async def test_receive_message_goes_to_every_socket_in_the_room_and_nobody_else(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    alice_too = await chat.member("alice-2", room, user_id=alice.user_id)
    bob = await chat.member("bob", room)
    alice_away = await chat.connect("alice-3", user_id=alice.user_id)  # same user, not joined
    outsider = await chat.member("carol", f"{room}-elsewhere")
    reply = await alice.request("sendMessage", {"roomId": room, "content": "to the room"})
    is_it = lambda p: p["content"] == "to the room"  # noqa: E731
    # D17: every socket in the room, the sender's included.
    for member in (alice, alice_too, bob):
        await expect.received(
            "SRV-RECEIVE-MESSAGE-RECIPIENTS", member, "receiveMessage", sent=reply.sent, where=is_it
        )
    await expect.nothing(
        "SRV-ROOM-ONLY-DELIVERY",
        [outsider],
        "receiveMessage",
        sent=reply.sent,
        where=is_it,
        within_ms=chat.target.quiet_ms,
    )
    # D5: membership is per socket, so the sender's socket outside the room hears nothing.
    await expect.nothing(
        "SRV-ROOM-EVENTS-PER-SOCKET",
        [alice_away],
        "receiveMessage",
        sent=reply.sent,
        where=is_it,
        within_ms=0,
    )


@requirement("SRV-RECEIVE-MESSAGE-PAYLOAD", "EVT-SEND-SAME-MESSAGE")
async def test_receive_message_carries_the_same_message_as_message_sent(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    bob = await chat.member("bob", room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": "same message"})
    sent_message = expect.response(
        "SRV-RECEIVE-MESSAGE-PAYLOAD", reply, "messageSent", success=True
    )["message"]
    got = await expect.received(
        "SRV-RECEIVE-MESSAGE-PAYLOAD",
        bob,
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "same message",
    )
    expect.schema("SRV-RECEIVE-MESSAGE-PAYLOAD", "receiveMessage", got, sent=reply.sent)
    expect.that(
        "EVT-SEND-SAME-MESSAGE",
        got == sent_message,
        sent=reply.sent,
        expected=f"receiveMessage equal to messageSent.message {expect.show(sent_message)}",
        actual=expect.show(got),
    )
