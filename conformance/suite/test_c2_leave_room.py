"""doc: "Client to Server Events › 2. Leave Room" (D6, D14)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients
from conformance.target import Target

pytestmark = pytest.mark.asyncio


@requirement("EVT-LEAVE-RESPONSE")
async def test_leave_room_answers_left_room_with_the_room_and_success(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("leaveRoom", {"roomId": room})
    payload = expect.response("EVT-LEAVE-RESPONSE", reply, "leftRoom", roomId=room, success=True)
    expect.schema("EVT-LEAVE-RESPONSE", "leftRoom", payload, sent=reply.sent)


@requirement("EVT-LEAVE-IDEMPOTENT")
async def test_leaving_a_room_the_socket_is_not_in_succeeds_without_a_broadcast(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.connect("alice")
    reply = await alice.request("leaveRoom", {"roomId": room})
    expect.response("EVT-LEAVE-IDEMPOTENT", reply, "leftRoom", roomId=room, success=True)
    await expect.nothing(
        "EVT-LEAVE-IDEMPOTENT",
        [bob],
        "userLeft",
        sent=reply.sent,
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )


@requirement("EVT-LEAVE-STOPS-DELIVERY")
async def test_after_leaving_a_socket_no_longer_receives_the_rooms_messages(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    bob = await chat.member("bob", room)
    await alice.request("leaveRoom", {"roomId": room})
    reply = await bob.request("sendMessage", {"roomId": room, "content": "after alice left"})
    await expect.received(
        "EVT-LEAVE-STOPS-DELIVERY",
        bob,
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "after alice left",
    )
    await expect.nothing(
        "EVT-LEAVE-STOPS-DELIVERY",
        [alice],
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "after alice left",
        within_ms=chat.target.quiet_ms,
    )


async def listed(chat: Clients, room: str) -> bool:
    stats = await expect.json_endpoint(chat.http, "/websocket/stats")
    return room in {d.get("roomId") for d in (stats.get("rooms") or {}).get("details") or []}


@requirement("EVT-LEAVE-REMOVES-ROOM")
@pytest.mark.parametrize("how", ["leave", "disconnect"])
async def test_the_last_leave_or_disconnect_removes_the_room(
    chat: Clients, room: str, target: Target, how: str
) -> None:
    alice = await chat.member("alice", room)
    bob = await chat.member("bob", room)
    await alice.request("leaveRoom", {"roomId": room})
    sent = f"alice leaves {room}; bob, the last one in it, then does: {how}"
    expect.that(
        "EVT-LEAVE-REMOVES-ROOM",
        await listed(chat, room),
        sent=sent,
        expected=f"{room} still listed while bob is in it",
        actual="not listed",
    )
    if how == "leave":
        await bob.request("leaveRoom", {"roomId": room})
    else:
        await bob.disconnect()
    removed = await _eventually(lambda: gone(chat, room), chat.target.timeout_ms)
    expect.that(
        "EVT-LEAVE-REMOVES-ROOM",
        removed,
        sent=sent,
        expected=f"{room} no longer in rooms.details",
        actual="still listed",
    )


async def gone(chat: Clients, room: str) -> bool:
    return not await listed(chat, room)


async def _eventually(check: Callable[[], Awaitable[bool]], within_ms: int) -> bool:
    """A disconnect is handled after the client's side of it: poll briefly."""
    for _ in range(max(1, within_ms // 50)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


@requirement("EVT-SEND-MEMBERSHIP")
async def test_after_leaving_messages_to_the_room_are_refused_with_403(
    chat: Clients, room: str
) -> None:
    alice = await chat.member("alice", room)
    left = await alice.request("leaveRoom", {"roomId": room})
    expect.response("EVT-LEAVE-RESPONSE", left, "leftRoom", roomId=room, success=True)
    reply = await alice.request("sendMessage", {"roomId": room, "content": "still here?"})
    expect.error_reply("EVT-SEND-MEMBERSHIP", reply, 403)
