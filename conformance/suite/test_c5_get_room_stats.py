"""doc: "Client to Server Events › 5. Get Room Statistics" (D6, D16, D19)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-ROOM-STATS-RESPONSE")
async def test_get_room_stats_answers_room_stats_retrieved_with_success(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("getRoomStats", {"roomId": room})
    payload = expect.response("EVT-ROOM-STATS-RESPONSE", reply, "roomStatsRetrieved", success=True)
    expect.schema("EVT-ROOM-STATS-RESPONSE", "roomStatsRetrieved", payload, sent=reply.sent)


@requirement("EVT-ROOM-STATS-NO-MEMBERSHIP")
async def test_room_stats_need_no_membership_and_an_empty_room_has_no_users(
    chat: Clients, room: str
) -> None:
    alice = await chat.connect("alice")
    reply = await alice.request("getRoomStats", {"roomId": room})
    expect.response("EVT-ROOM-STATS-NO-MEMBERSHIP", reply, "roomStatsRetrieved", success=True)
    stats = await expect.received(
        "EVT-ROOM-STATS-NO-MEMBERSHIP",
        alice,
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    expect.fields(
        "EVT-ROOM-STATS-NO-MEMBERSHIP",
        stats,
        sent=reply.sent,
        userCount=0,
        users=[],
        typingUsers=[],
    )
