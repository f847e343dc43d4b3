"""doc: "Server to Client Events › 5. User Offline" (D5, D20)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-USER-OFFLINE-RECIPIENTS", "SRV-USER-OFFLINE-PAYLOAD")
async def test_user_offline_goes_to_others_when_the_users_last_socket_closes(
    chat: Clients,
) -> None:
    bob = await chat.connect("bob")
    alice = await chat.connect("alice")
    alice_too = await chat.connect("alice-2", user_id=alice.user_id)
    by_alice = lambda p: p["userId"] == alice.user_id  # noqa: E731
    await alice.disconnect()
    await expect.nothing(
        "SRV-USER-OFFLINE-RECIPIENTS",
        [bob],
        "userOffline",
        sent="alice closes one of her two sockets",
        where=by_alice,
        within_ms=chat.target.quiet_ms,
    )
    await alice_too.disconnect()
    sent = "alice closes her last socket"
    got = await expect.received(
        "SRV-USER-OFFLINE-RECIPIENTS", bob, "userOffline", sent=sent, where=by_alice
    )
    expect.fields(
        "SRV-USER-OFFLINE-PAYLOAD", got, sent=sent, userId=alice.user_id, username=alice.username
    )
    expect.schema("SRV-USER-OFFLINE-PAYLOAD", "userOffline", got, sent=sent)
