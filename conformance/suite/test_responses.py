"""D6: each client event's "Response" object, through either channel, for all six events."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import RESPONSE_EVENTS
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


def payload_for(event: str, room: str) -> tuple[Any, ...]:
    """A valid payload for each client event, for a socket that has joined `room`."""
    return {
        "joinRoom": ({"roomId": room},),
        "leaveRoom": ({"roomId": room},),
        "sendMessage": ({"roomId": room, "content": "hello"},),
        "typing": ({"roomId": room, "isTyping": True},),
        "getRoomStats": ({"roomId": room},),
        "heartbeat": (),
    }[event]


@requirement("EVT-RESPONSE-EMITTED")
@pytest.mark.parametrize("event", list(RESPONSE_EVENTS))
async def test_without_an_ack_the_response_is_emitted_under_its_event_name(
    chat: Clients, room: str, event: str
) -> None:
    alice = await chat.member("alice", room)
    sent = await alice.emit(event, *payload_for(event, room))
    name = RESPONSE_EVENTS[event]
    got = await expect.received(
        "EVT-RESPONSE-EMITTED", alice, name, sent=sent, expected=f"the response emitted as {name!r}"
    )
    # D6 (reference): the whole object, its `event` field included, is the payload.
    expect.fields("EVT-RESPONSE-EMITTED", got, sent=sent, event=name, success=True)


@requirement("EVT-RESPONSE-ACK")
@pytest.mark.parametrize("event", list(RESPONSE_EVENTS))
async def test_with_an_ack_the_response_is_the_ack_and_is_not_also_emitted(
    chat: Clients, room: str, event: str
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request(event, *payload_for(event, room))
    name = RESPONSE_EVENTS[event]
    expect.that(
        "EVT-RESPONSE-ACK",
        reply.channel == "ack",
        sent=reply.sent,
        expected=f"the {name} object as the acknowledgement",
        actual=reply.describe(),
    )
    expect.fields("EVT-RESPONSE-ACK", reply.payload, sent=reply.sent, event=name, success=True)
    await expect.nothing(
        "EVT-RESPONSE-ACK", [alice], name, sent=reply.sent, within_ms=chat.target.quiet_ms
    )
