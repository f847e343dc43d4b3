"""doc: "Server to Client Events › 10. Error" and "Error Codes" (D7)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio

PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@requirement("SRV-ERROR-EMITTED", "SRV-ERROR-PAYLOAD", "ERR-STATUS-PHRASE", "SRV-ERROR-FULL-OBJECT")
@pytest.mark.parametrize("ack", [False, True], ids=["no-ack", "ack"])
async def test_a_failed_event_emits_the_error_object(chat: Clients, room: str, ack: bool) -> None:
    alice = await chat.member("alice", room)
    bad = {"roomId": room, "content": ""}
    if ack:
        reply = await alice.request("sendMessage", bad)
        sent = reply.sent
    else:
        sent = await alice.emit("sendMessage", bad)
    got = await expect.received(
        "SRV-ERROR-EMITTED",
        alice,
        "error",
        sent=sent,
        expected="an `error` event for the failed sendMessage",
    )
    # The specific rules first, so that a failure names the one that broke; the schema
    # (which also pins the phrase to the statusCode) then judges the rest of the shape.
    expect.fields("SRV-ERROR-PAYLOAD", got, sent=sent, success=False)
    expect.fields("ERR-STATUS-PHRASE", got, sent=sent, error=PHRASES[400])
    expect.schema("SRV-ERROR-PAYLOAD", "error", got, sent=sent)
    # D7 (reference): message and statusCode always present.
    expect.fields("SRV-ERROR-FULL-OBJECT", got, sent=sent, statusCode=400)
    expect.that(
        "SRV-ERROR-FULL-OBJECT",
        isinstance(got.get("message"), str) and bool(got["message"]),
        sent=sent,
        expected="a message saying what was wrong",
        actual=expect.show(got),
    )
    expect.schema("SRV-ERROR-FULL-OBJECT", "error", got, sent=sent, level="reference")


@requirement("ERR-ACK-CARRIES-ERROR")
async def test_with_an_ack_the_ack_carries_the_same_error_object(chat: Clients, room: str) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": ""})
    expect.that(
        "ERR-ACK-CARRIES-ERROR",
        reply.channel == "ack",
        sent=reply.sent,
        expected="the error object as the acknowledgement",
        actual=reply.describe(),
    )
    event = await expect.received("SRV-ERROR-EMITTED", alice, "error", sent=reply.sent)
    expect.that(
        "ERR-ACK-CARRIES-ERROR",
        reply.payload == event,
        sent=reply.sent,
        expected=f"the ack equal to the `error` event {expect.show(event)}",
        actual=expect.show(reply.payload),
    )
