"""doc: "Server to Client Events › 8. Room Statistics" (D5, D18, D19)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("SRV-ROOM-STATS-PAYLOAD", "SRV-ROOM-STATS-CONTENT")
async def test_room_stats_count_the_users_and_list_typing_user_ids(
    chat: Clients, room: str
) -> None:
    # One socket per user: how a user with several sockets is counted is D5's (below).
    alice = await chat.member("alice", room)
    bob = await chat.member("bob", room)
    typing = await bob.request("typing", {"roomId": room, "isTyping": True})
    expect.response("EVT-TYPING-RESPONSE", typing, "typingUpdated", success=True)
    reply = await alice.request("getRoomStats", {"roomId": room})
    got = await expect.received(
        "SRV-ROOM-STATS-PAYLOAD",
        alice,
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    expect.schema("SRV-ROOM-STATS-PAYLOAD", "roomStats", got, sent=reply.sent)
    expect.fields(
        "SRV-ROOM-STATS-CONTENT",
        got,
        sent=reply.sent,
        roomId=room,
        userCount=2,
        typingUsers=[bob.user_id],
    )
    listed = sorted(u.get("userId") for u in got["users"])
    expect.that(
        "SRV-ROOM-STATS-CONTENT",
        listed == sorted([alice.user_id, bob.user_id]),
        sent=reply.sent,
        expected="users: alice and bob, once each",
        actual=expect.show(got["users"]),
    )


@requirement("SRV-ROOM-STATS-USERS-ONCE")
async def test_a_user_with_two_sockets_in_the_room_counts_once(chat: Clients, room: str) -> None:
    # D5 (reference): "the room's user list shows each user once", in roomStats and in
    # the room's rooms.details entry of /websocket/stats.
    alice = await chat.member("alice", room)
    await chat.member("alice-2", room, user_id=alice.user_id)
    bob = await chat.member("bob", room)
    reply = await bob.request("getRoomStats", {"roomId": room})
    got = await expect.received(
        "SRV-ROOM-STATS-USERS-ONCE",
        bob,
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    sent = f"alice joins {room} from two sockets, bob from one; {reply.sent}"
    listed = sorted(str(u.get("userId")) for u in got.get("users") or [] if isinstance(u, dict))
    expect.that(
        "SRV-ROOM-STATS-USERS-ONCE",
        got.get("userCount") == 2 and listed == sorted([alice.user_id, bob.user_id]),
        sent=sent,
        expected="userCount 2, users alice and bob once each",
        actual=expect.show(got),
    )
    stats = await expect.json_endpoint(chat.http, "/websocket/stats")
    details = (stats.get("rooms") or {}).get("details") or []
    entry = next((d for d in details if isinstance(d, dict) and d.get("roomId") == room), None)
    expect.that(
        "SRV-ROOM-STATS-USERS-ONCE",
        entry is not None and entry.get("userCount") == 2,
        sent=f"{sent}; GET /websocket/stats",
        expected=f"rooms.details entry of {room} with userCount 2",
        actual=expect.show(entry),
    )


@requirement("SRV-ROOM-STATS-RECIPIENTS")
async def test_room_stats_go_to_the_asking_socket_only(chat: Clients, room: str) -> None:
    alice = await chat.member("alice", room)
    alice_too = await chat.member("alice-2", room, user_id=alice.user_id)
    bob = await chat.member("bob", room)
    reply = await alice.request("getRoomStats", {"roomId": room})
    await expect.received(
        "SRV-ROOM-STATS-RECIPIENTS",
        alice,
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    await expect.nothing(
        "SRV-ROOM-STATS-RECIPIENTS",
        [alice_too, bob],
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
        within_ms=chat.target.quiet_ms,
    )
