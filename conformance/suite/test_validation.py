"""The payload corpora (fixtures/corpora/*.yaml): every invalid payload of every client
event gets the status it names, every valid one succeeds (doc: each event's "Payload";
D10, D12, D13, D16; "Error Codes" 400)."""

from __future__ import annotations

import pytest

from chatrooms_fixtures.corpora import Case, events, load_corpus
from chatrooms_fixtures.escaping import same_escaped
from conformance import expect
from conformance.catalogue import case as catalogue_case
from conformance.catalogue import requirement
from conformance.client import RESPONSE_EVENTS
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio

CASES = [case for event in events() for case in load_corpus(event).cases]
VALIDATION = {
    "joinRoom": "EVT-JOIN-VALIDATION",
    "leaveRoom": "EVT-LEAVE-VALIDATION",
    "sendMessage": "EVT-SEND-VALIDATION-FIELDS",
    "typing": "EVT-TYPING-VALIDATION",
    "getRoomStats": "EVT-ROOM-STATS-VALIDATION",
    "heartbeat": "EVT-HEARTBEAT-RESPONSE",
}
# Events sent from a socket that has joined the room first, so that no documented verdict
# rests on what a reference decision says of non-members (D16: sendMessage and typing need
# membership, getRoomStats does not; D14: leaving a room not joined succeeds); the cases
# named "...-not-joined" judge those decisions themselves.
NEEDS_MEMBERSHIP = {"sendMessage", "typing", "leaveRoom", "getRoomStats"}


def requirement_of(case: Case) -> str:
    """The catalogue requirement a corpus case checks."""
    name = case.name
    if case.status == 403:
        return "EVT-SEND-MEMBERSHIP"
    if name == "two-arguments":
        return "EVT-HEARTBEAT-PAYLOAD-IGNORED" if case.valid else "EVT-PAYLOAD-SINGLE-ARGUMENT"
    if case.event == "heartbeat" and case.level == "reference":
        return "EVT-HEARTBEAT-PAYLOAD-IGNORED"
    if name.startswith("room-id") and case.level == "reference":
        return "EVT-ROOM-ID-FORMAT"
    if name.endswith("not-joined"):
        return {"leaveRoom": "EVT-LEAVE-IDEMPOTENT"}.get(case.event, "EVT-ROOM-STATS-NO-MEMBERSHIP")
    if name.startswith(("payload-", "no-argument")):
        return "SEC-INPUT-VALIDATION"
    if name == "extra-fields-ignored":
        return "EVT-PAYLOAD-EXTRA-FIELDS-IGNORED"
    if case.event == "sendMessage":
        if name == "content-surrounded-by-whitespace":
            return "EVT-SEND-CONTENT-NOT-TRIMMED"
        if name.startswith("content-") and case.expected_content and "&" in case.expected_content:
            return "SEC-XSS-CONTENT-ESCAPED"
        if name.startswith("message-type"):
            return "EVT-SEND-MESSAGE-TYPE-VALUES"
        if "whitespace" in name or name.startswith("content-only"):
            return "EVT-SEND-VALIDATION-CONTENT-WHITESPACE"
        if name.startswith("content-") and ("characters" in name or name == "content-empty"):
            return "EVT-SEND-VALIDATION-CONTENT-LENGTH"
    return VALIDATION[case.event]


def checks_of(case: Case) -> tuple[str, ...]:
    """Every requirement an invalid case checks: its own rule, the 400 code, the error
    response shape, and no effect for a refused message."""
    ids = [requirement_of(case)]
    if case.status == 400:
        ids.append("ERR-400-INVALID-PAYLOAD")
    if case.event == "joinRoom":
        ids.append("EVT-JOIN-ERROR-RESPONSE")
    if case.event == "sendMessage":
        ids.append("ERR-FAILED-EVENT-NO-EFFECT")
    return tuple(dict.fromkeys(ids))


@requirement()
@pytest.mark.parametrize(
    "case", [catalogue_case(c, *checks_of(c), id=str(c)) for c in CASES if not c.valid]
)
async def test_an_invalid_payload_is_refused_with_its_status(
    chat: Clients, room: str, case: Case
) -> None:
    rid = requirement_of(case)
    alice = (
        await chat.member("alice", room)
        if case.event in NEEDS_MEMBERSHIP and case.status != 403
        else await chat.connect("alice")
    )
    reply = await alice.request(case.event, *case.args(room))
    if case.status == 400 and expect.status_of_error(reply.payload) == 403:
        # An invalid payload naming a room the socket is not in: the document does not
        # order the two refusals, D10 (reference) puts validation first.
        expect.error_reply("ERR-CHECK-ORDER", reply, 400)
    error = expect.error_reply(rid, reply, case.status or 400)
    if case.status == 400:
        expect.fields("ERR-400-INVALID-PAYLOAD", error, sent=reply.sent, error="Bad Request")
        # doc "1. Join Room" shows the Error Response; D7 makes it every event's shape.
        shape = "EVT-JOIN-ERROR-RESPONSE" if case.event == "joinRoom" else "SRV-ERROR-PAYLOAD"
        expect.schema(shape, "errorResponse", error, sent=reply.sent)
    if case.event == "sendMessage":
        # D7: nothing is broadcast; the sender is in the room, so it would have heard it.
        stray = alice.received("receiveMessage", untaken=True)
        expect.that(
            "ERR-FAILED-EVENT-NO-EFFECT",
            not stray,
            sent=reply.sent,
            expected="no receiveMessage for a refused message",
            actual=expect.show([e.payload for e in stray]),
        )


@requirement()
@pytest.mark.parametrize(
    "case", [catalogue_case(c, requirement_of(c), id=str(c)) for c in CASES if c.valid]
)
async def test_a_valid_payload_succeeds(chat: Clients, room: str, case: Case) -> None:
    rid = requirement_of(case)
    joined = case.event in NEEDS_MEMBERSHIP and not case.name.endswith("not-joined")
    alice = await chat.member("alice", room) if joined else await chat.connect("alice")
    args = case.args(room)
    reply = await alice.request(case.event, *args)
    name = RESPONSE_EVENTS[case.event]
    response = expect.response(rid, reply, name, success=True)
    if case.event != "sendMessage":
        return
    message = response.get("message") or {}
    if case.expected_content is not None:
        expect.that(
            rid,
            same_escaped(case.expected_content, str(message.get("content"))),
            sent=reply.sent,
            expected=f"content {expect.show(case.expected_content)}",
            actual=f"content {expect.show(message.get('content'))}",
        )
    if case.expected_message_type is not None:
        expect.fields(rid, message, sent=reply.sent, messageType=case.expected_message_type)
