"""doc: "Server to Client Events › 4. User Online" (D5, D20)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-USER-ONLINE-RECIPIENTS", "SRV-USER-ONLINE-PAYLOAD")
async def test_user_online_goes_to_the_sockets_of_others_when_a_user_connects(
    chat: Clients,
) -> None:
    bob = await chat.connect("bob")
    bob_too = await chat.connect("bob-2", user_id=bob.user_id)
    alice = await chat.connect("alice")
    sent = "alice connects (her first socket)"
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    for socket in (bob, bob_too):
        got = await expect.received(
            "SRV-USER-ONLINE-RECIPIENTS", socket, "userOnline", sent=sent, where=by_alice
        )
    expect.fields(
        "SRV-USER-ONLINE-PAYLOAD", got, sent=sent, userId=alice.user_id, username=alice.username
    )
    expect.schema("SRV-USER-ONLINE-PAYLOAD", "userOnline", got, sent=sent)
    await expect.nothing(
        "SRV-USER-ONLINE-RECIPIENTS",
        [alice],
        "userOnline",
        sent=sent,
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )


@requirement("SRV-USER-ONLINE-RECIPIENTS")
async def test_a_users_second_socket_does_not_announce_it_online_again(chat: Clients) -> None:
    bob = await chat.connect("bob")
    alice = await chat.connect("alice")
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    await expect.received(
        "SRV-USER-ONLINE-RECIPIENTS", bob, "userOnline", sent="alice connects", where=by_alice
    )
    await chat.connect("alice-2", user_id=alice.user_id)
    await expect.nothing(
        "SRV-USER-ONLINE-RECIPIENTS",
        [bob],
        "userOnline",
        sent="alice opens a second socket",
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )
