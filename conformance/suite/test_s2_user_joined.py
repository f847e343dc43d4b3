"""doc: "Server to Client Events › 2. User Joined Room" (D5, D15)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-USER-JOINED-RECIPIENTS", "SRV-USER-JOINED-PAYLOAD")
async def test_user_joined_goes_to_others_in_the_room_only(chat: Clients, room: str) -> None:
    bob = await chat.member("bob", room)
    outsider = await chat.member("carol", f"{room}-elsewhere")
    alice = await chat.connect("alice")
    reply = await alice.request("joinRoom", {"roomId": room})
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    got = await expect.received(
        "SRV-USER-JOINED-RECIPIENTS", bob, "userJoined", sent=reply.sent, where=by_alice
    )
    expect.fields(
        "SRV-USER-JOINED-PAYLOAD",
        got,
        sent=reply.sent,
        userId=alice.user_id,
        username=alice.username,
        roomId=room,
    )
    expect.schema("SRV-USER-JOINED-PAYLOAD", "userJoined", got, sent=reply.sent)
    await expect.nothing(
        "SRV-USER-JOINED-RECIPIENTS",
        [alice, outsider],
        "userJoined",
        sent=reply.sent,
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )


@requirement("SRV-USER-JOINED-NOT-REPEATED")
async def test_a_second_socket_of_a_user_already_in_the_room_is_not_announced(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    await expect.received(
        "SRV-USER-JOINED-NOT-REPEATED", bob, "userJoined", sent="alice joins", where=by_alice
    )
    second = await chat.connect("alice-2", user_id=alice.user_id)
    reply = await second.request("joinRoom", {"roomId": room})
    await expect.nothing(
        "SRV-USER-JOINED-NOT-REPEATED",
        [bob],
        "userJoined",
        sent=reply.sent + " (alice's second socket)",
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )
