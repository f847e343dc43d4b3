"""doc: "Client to Server Events › 3. Send Message" (D5, D6, D12, D13, D16, D17); the
membership rule of typing (D16) too, as one per-socket rule."""

from __future__ import annotations

import re

import pytest

from conformance import expect
from conformance.catalogue import case, requirement
from conformance.clients import Clients
from conformance.reading import parse_time

pytestmark = pytest.mark.asyncio

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@requirement("EVT-SEND-RESPONSE")
async def test_send_message_answers_message_sent_with_the_message(chat: Clients, room: str) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": "Hello, world!"})
    payload = expect.response("EVT-SEND-RESPONSE", reply, "messageSent", success=True)
    expect.schema("EVT-SEND-RESPONSE", "messageSent", payload, sent=reply.sent)
    expect.fields(
        "EVT-SEND-RESPONSE",
        payload["message"],
        sent=reply.sent,
        content="Hello, world!",
        roomId=room,
        author={"id": alice.user_id, "username": alice.username},
    )


@requirement()
@pytest.mark.parametrize(
    "message_type",
    [case(None, "EVT-SEND-MESSAGE-TYPE-DEFAULT", id="absent")]
    + [case(t, "EVT-SEND-MESSAGE-TYPE-VALUES", id=t) for t in ("TEXT", "IMAGE", "FILE")],
)
async def test_message_type_defaults_to_text_and_is_echoed(
    chat: Clients, room: str, message_type: str | None
) -> None:
    rid = (
        "EVT-SEND-MESSAGE-TYPE-DEFAULT" if message_type is None else "EVT-SEND-MESSAGE-TYPE-VALUES"
    )
    alice = await chat.member("alice", room)
    payload: dict[str, object] = {"roomId": room, "content": "typed"}
    if message_type is not None:
        payload["messageType"] = message_type
    reply = await alice.request("sendMessage", payload)
    response = expect.response(rid, reply, "messageSent", success=True)
    expect.fields(rid, response["message"], sent=reply.sent, messageType=message_type or "TEXT")


@requirement("EVT-SEND-AUTHOR-FROM-TOKEN")
async def test_the_author_comes_from_the_token_never_from_the_payload(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    forged = {"id": "someone-else", "username": "Someone Else"}
    reply = await alice.request(
        "sendMessage", {"roomId": room, "content": "who am I", "author": forged}
    )
    response = expect.response("EVT-SEND-AUTHOR-FROM-TOKEN", reply, "messageSent", success=True)
    expect.fields(
        "EVT-SEND-AUTHOR-FROM-TOKEN",
        response["message"],
        sent=reply.sent,
        author={"id": alice.user_id, "username": alice.username},
    )


@requirement("EVT-SEND-MESSAGE-ID-UUID")
async def test_each_message_gets_its_own_uuid_v4(chat: Clients, room: str) -> None:
    alice = await chat.member("alice", room)
    ids = []
    for text in ("one", "two"):
        reply = await alice.request("sendMessage", {"roomId": room, "content": text})
        response = expect.response("EVT-SEND-MESSAGE-ID-UUID", reply, "messageSent", success=True)
        message_id = response["message"].get("id")
        expect.that(
            "EVT-SEND-MESSAGE-ID-UUID",
            isinstance(message_id, str) and bool(UUID4.fullmatch(message_id.lower())),
            sent=reply.sent,
            expected="message.id a UUID (version 4)",
            actual=expect.show(message_id),
        )
        ids.append(message_id)
    expect.that(
        "EVT-SEND-MESSAGE-ID-UUID",
        ids[0] != ids[1],
        sent="two messages",
        expected="two different ids",
        actual=expect.show(ids),
    )


@requirement("EVT-SEND-MESSAGE-TIMES-EQUAL")
async def test_a_new_messages_timestamp_created_and_updated_times_are_equal(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": "when"})
    message = expect.response("EVT-SEND-MESSAGE-TIMES-EQUAL", reply, "messageSent", success=True)[
        "message"
    ]
    times = [message.get(k) for k in ("timestamp", "createdAt", "updatedAt")]
    parsed = [parse_time(t) for t in times]
    expect.that(
        "EVT-SEND-MESSAGE-TIMES-EQUAL",
        None not in parsed and len(set(parsed)) == 1,
        sent=reply.sent,
        expected="timestamp == createdAt == updatedAt (date-times)",
        actual=expect.show(times),
    )


@requirement("EVT-PAYLOAD-EXTRA-FIELDS-IGNORED")
async def test_unknown_extra_fields_in_a_payload_are_ignored(chat: Clients, room: str) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request(
        "sendMessage", {"roomId": room, "content": "extra", "mood": "happy", "n": 3}
    )
    expect.response("EVT-PAYLOAD-EXTRA-FIELDS-IGNORED", reply, "messageSent", success=True)


@requirement()
@pytest.mark.parametrize(
    "event",
    [
        case("sendMessage", "EVT-SEND-MEMBERSHIP", id="sendMessage"),
        case("typing", "EVT-TYPING-MEMBERSHIP", id="typing"),
    ],
)
async def test_membership_is_per_socket_not_per_user(chat: Clients, room: str, event: str) -> None:
    # D5, D16 (reference): a socket that has not joined the room is refused with 403 even
    # when another socket of the same user has joined it.
    rid = "EVT-SEND-MEMBERSHIP" if event == "sendMessage" else "EVT-TYPING-MEMBERSHIP"
    alice = await chat.member("alice", room)
    elsewhere = await chat.connect("alice-2", user_id=alice.user_id)
    payload = {"content": "from my other socket"} if event == "sendMessage" else {"isTyping": True}
    reply = await elsewhere.request(event, {"roomId": room, **payload})
    expect.error_reply(rid, reply, 403)
