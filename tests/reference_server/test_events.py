"""Every client event's response, by ack and by emitted event (D6), and the error channel
(D7), over both Engine.IO transports (D1: "Both `websocket` and `polling` ... are served")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from reference_server.clock import iso_timestamp
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import (
    ISO_8601_MS_Z,
    UUID_V4,
    ChatClient,
    FakeClock,
    LiveServer,
    assert_silent,
)

ROOM = "lobby"


@pytest.fixture(params=["websocket", "polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(start_server: StartServer, clock: FakeClock) -> LiveServer:
    return await start_server(clock=clock)


@dataclass(frozen=True)
class Case:
    event: str
    payload: tuple[Any, ...]
    joined: bool  # the socket joins ROOM first
    expected: Callable[[FakeClock], dict[str, Any]]


def message(clock: FakeClock, content: str = "hello", message_type: str = "TEXT") -> dict[str, Any]:
    stamp = iso_timestamp(clock.now())
    return {
        "content": content,
        "author": {"id": "alice", "username": "Alice"},
        "roomId": ROOM,
        "messageType": message_type,
        "timestamp": stamp,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


# doc: "Client to Server Events" 1-6, each with its documented "Response".
CASES = [
    Case(
        "joinRoom",
        ({"roomId": ROOM},),
        False,
        lambda _: {"event": "joinedRoom", "roomId": ROOM, "success": True},
    ),
    Case(
        "leaveRoom",
        ({"roomId": ROOM},),
        True,
        lambda _: {"event": "leftRoom", "roomId": ROOM, "success": True},
    ),
    Case(
        "sendMessage",
        ({"roomId": ROOM, "content": "hello"},),
        True,
        lambda clock: {"event": "messageSent", "message": message(clock), "success": True},
    ),
    Case(
        "typing",
        ({"roomId": ROOM, "isTyping": True},),
        True,
        lambda _: {"event": "typingUpdated", "success": True},
    ),
    Case(
        "getRoomStats",
        ({"roomId": ROOM},),
        False,
        lambda _: {"event": "roomStatsRetrieved", "success": True},
    ),
    Case(
        "heartbeat",
        (),
        False,
        lambda clock: {
            "event": "heartbeatResponse",
            "timestamp": iso_timestamp(clock.now()),
            "success": True,
        },
    ),
]


def without_id(response: dict[str, Any]) -> dict[str, Any]:
    """A messageSent response with the message id checked and removed."""
    if "message" in response:
        inner = dict(response["message"])
        assert UUID_V4.fullmatch(inner.pop("id")), response
        return {**response, "message": inner}
    return response


async def alice(server: LiveServer, case: Case) -> ChatClient:
    client = await server.connect("alice", "Alice")
    if case.joined:
        await client.join(ROOM)
    return client


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.event)
async def test_each_event_is_answered_once_by_ack_when_the_client_asks_for_one(
    server: LiveServer, clock: FakeClock, case: Case
) -> None:
    client = await alice(server, case)
    reply = await client.call(case.event, *case.payload)
    assert without_id(reply) == case.expected(clock)
    # D6: "exactly once": the ack, and not also the emitted event.
    await assert_silent((client, reply["event"]), (client, "error"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.event)
async def test_each_event_is_answered_once_by_an_event_named_by_the_response_otherwise(
    server: LiveServer, clock: FakeClock, case: Case
) -> None:
    client = await alice(server, case)
    expected = case.expected(clock)
    await client.emit(case.event, *case.payload)
    # D6: "as an emitted event named by the object's `event` field, with the whole object
    # (its `event` field included) as payload".
    assert without_id(await client.next(expected["event"])) == expected
    await assert_silent((client, expected["event"]), (client, "error"))


async def test_heartbeat_ignores_whatever_payload_comes_with_it(
    server: LiveServer, clock: FakeClock
) -> None:
    client = await server.connect("alice")
    for payload in [(), ({"any": "thing"},), ("text",), (1, 2)]:
        reply = await client.call("heartbeat", *payload)
        assert reply == {
            "event": "heartbeatResponse",
            "timestamp": iso_timestamp(clock.now()),
            "success": True,
        }


async def test_timestamps_follow_the_server_clock(server: LiveServer, clock: FakeClock) -> None:
    client = await server.connect("alice")
    first = await client.call("heartbeat")
    clock.advance(61.5)
    second = await client.call("heartbeat")
    assert ISO_8601_MS_Z.fullmatch(first["timestamp"])
    assert second["timestamp"] == iso_timestamp(clock.now()) != first["timestamp"]


@dataclass(frozen=True)
class Failure:
    name: str
    event: str
    payload: tuple[Any, ...]
    status: int
    phrase: str
    words: str


# D7: one of each refusal a single socket can provoke (429 and 500 have their own modules).
FAILURES = [
    Failure("invalid payload", "joinRoom", ({"roomId": ""},), 400, "Bad Request", "roomId"),
    Failure("not a member", "sendMessage", ({"roomId": ROOM, "content": "x"},), 403,
            "Forbidden", f"join room '{ROOM}' before you send messages to it"),
    Failure("unknown event", "shout", ({"roomId": ROOM},), 400, "Bad Request", "`shout`"),
]  # fmt: skip


def assert_error(payload: dict[str, Any], failure: Failure) -> None:
    assert payload["success"] is False
    assert payload["error"] == failure.phrase
    assert payload["statusCode"] == failure.status
    assert failure.words in payload["message"]
    assert ISO_8601_MS_Z.fullmatch(payload["timestamp"])
    assert set(payload) == {"success", "error", "message", "statusCode", "timestamp"}


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f.name)
async def test_a_failed_event_with_an_ack_gets_the_error_in_the_ack_and_as_error_event(
    server: LiveServer, failure: Failure
) -> None:
    client = await server.connect("alice")
    reply = await client.call(failure.event, *failure.payload)
    assert_error(reply, failure)
    # D7: "It is always emitted as the `error` event; when the client asked for an
    # acknowledgement, the acknowledgement carries the same object too".
    assert await client.next("error") == reply
    await assert_silent((client, "error"))


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f.name)
async def test_a_failed_event_without_an_ack_gets_only_the_error_event(
    server: LiveServer, failure: Failure
) -> None:
    client = await server.connect("alice")
    await client.emit(failure.event, *failure.payload)
    assert_error(await client.next("error"), failure)
    await assert_silent(
        (client, "error"), (client, "joinedRoom"), (client, "messageSent"), (client, "roomUsers")
    )


async def test_the_sender_gets_message_sent_and_receive_message_with_the_same_message(
    server: LiveServer, clock: FakeClock
) -> None:
    client = await server.connect("alice", "Alice")
    await client.join(ROOM)
    reply = await client.call(
        "sendMessage", {"roomId": ROOM, "content": "a <b>pic</b>", "messageType": "IMAGE"}
    )
    received = await client.next("receiveMessage")
    # D17: "the sender also gets `messageSent` with the same message".
    assert reply["message"] == received
    assert without_id(reply)["message"] == message(clock, "a &lt;b&gt;pic&lt;/b&gt;", "IMAGE")


async def test_binary_payloads_are_refused_with_400(server: LiveServer) -> None:
    client = await server.connect("alice")
    reply = await client.call("joinRoom", b"\x00roomId")
    assert reply["statusCode"] == 400
    assert reply["message"] == "payload must be a JSON object, got binary"
