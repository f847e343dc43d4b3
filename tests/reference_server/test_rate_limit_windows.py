"""Rate limits over the wire (D21, D22): per user and kind, both environments, the event
over the limit refused with 429 and no effect, violations counted, the window's reset.

Most tests drive the window with a FakeClock passed to create_app, so that nothing here
depends on how fast a shared machine answers; one test uses a short real window."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reference_server.config import Settings
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import (
    EVENT_TIMEOUT_S,
    ChatClient,
    FakeClock,
    assert_silent,
)

ROOM = "lobby"
WINDOW_MS = 60_000
SECRET = "a-production-secret-for-the-rate-limit-tests"
ENVIRONMENTS = {
    "production": {"NODE_ENV": "production", "JWT_SECRET": SECRET},
    "development": {"NODE_ENV": "development"},
}
# doc: "Rate Limiting" table.
LIMITS = {
    ("production", "sendMessage"): 30,
    ("production", "joinRoom"): 10,
    ("production", "typing"): 60,
    ("development", "sendMessage"): 60,
    ("development", "joinRoom"): 20,
    ("development", "typing"): 120,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def assert_429(reply: dict[str, Any], kind: str, limit: int, window_ms: int) -> None:
    assert (reply["statusCode"], reply["error"]) == (429, "Too Many Requests"), reply
    assert reply["message"] == (
        f"rate limit exceeded: at most {limit} {kind} events per {window_ms} ms; "
        "wait for the window to end"
    )


async def fill(alice: ChatClient, kind: str, count: int) -> None:
    """`count` events of `kind` that each succeed."""
    for n in range(count):
        if kind == "sendMessage":
            reply = await alice.call("sendMessage", {"roomId": ROOM, "content": f"m{n}"})
        elif kind == "joinRoom":
            reply = await alice.call("joinRoom", {"roomId": f"room-{n}"})
        else:
            reply = await alice.call("typing", {"roomId": ROOM, "isTyping": True})
        assert reply["success"] is True, (n, reply)


@pytest.mark.parametrize(("env", "kind"), LIMITS, ids=[f"{e}-{k}" for e, k in LIMITS])
async def test_the_limit_passes_and_the_next_event_gets_429_with_no_effect(
    start_server: StartServer, clock: FakeClock, env: str, kind: str
) -> None:
    limit = LIMITS[env, kind]
    live = await start_server(clock=clock, **ENVIRONMENTS[env])
    alice = await live.connect("alice")
    bob = await live.connect("bob")
    await bob.join(ROOM)
    await bob.join("one-too-many")
    if kind != "joinRoom":
        await alice.join(ROOM)
    await fill(alice, kind, limit)
    for client, event in [(bob, "receiveMessage"), (bob, "userTyping"), (bob, "userJoined")]:
        client.received(event)
    alice.received("roomUsers")
    stats_before = await live.stats()

    over = {
        "sendMessage": {"roomId": ROOM, "content": "one too many"},
        "joinRoom": {"roomId": "one-too-many"},
        "typing": {"roomId": ROOM, "isTyping": False},  # would end the typing state
    }[kind]
    reply = await alice.call(kind, over)
    await assert_429(reply, kind, limit, WINDOW_MS)
    assert await alice.next("error") == reply
    # D21: "has no effect; it adds one to `rateLimiting.violations`".
    await assert_silent(
        (bob, "receiveMessage"), (bob, "userJoined"), (bob, "userTyping"), (alice, "roomUsers")
    )
    stats = await live.stats()
    assert stats["rateLimiting"]["violations"] == 1
    assert stats["messages"] == stats_before["messages"]
    assert stats["rooms"]["totalCreated"] == stats_before["rooms"]["totalCreated"]
    if kind == "typing":
        await alice.call("getRoomStats", {"roomId": ROOM})
        assert (await alice.next("roomStats"))["typingUsers"] == ["alice"]

    await alice.emit(kind, over)  # without an ack: the error event only
    assert (await alice.next("error"))["statusCode"] == 429
    assert (await live.stats())["rateLimiting"]["violations"] == 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
async def test_the_full_allowance_returns_when_the_window_ends(
    start_server: StartServer, clock: FakeClock, env: str
) -> None:
    limit = LIMITS[env, "joinRoom"]
    live = await start_server(clock=clock, **ENVIRONMENTS[env])
    alice = await live.connect("alice")
    await fill(alice, "joinRoom", limit)
    assert (await alice.call("joinRoom", {"roomId": "late"}))["statusCode"] == 429
    clock.advance(WINDOW_MS / 1000 - 0.001)
    assert (await alice.call("joinRoom", {"roomId": "late"}))["statusCode"] == 429
    clock.advance(0.001)
    await fill(alice, "joinRoom", limit)
    assert (await alice.call("joinRoom", {"roomId": "late"}))["statusCode"] == 429


async def test_kinds_and_users_have_separate_allowances(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(clock=clock, **ENVIRONMENTS["production"])
    alice = await live.connect("alice")
    bob = await live.connect("bob")
    await fill(alice, "joinRoom", 10)
    assert (await alice.call("joinRoom", {"roomId": "x"}))["statusCode"] == 429
    # Joins are spent (alice is in room-0 ... room-9); messages and typing are not.
    reply = await alice.call("sendMessage", {"roomId": "room-0", "content": "still allowed"})
    assert reply["success"] is True
    reply = await alice.call("typing", {"roomId": "room-0", "isTyping": True})
    assert reply["success"] is True
    await fill(bob, "joinRoom", 10)


async def test_one_user_on_two_sockets_shares_one_allowance(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(clock=clock, **ENVIRONMENTS["production"])
    alice = await live.connect("alice")
    alice_too = await live.connect("alice")
    await alice.join(ROOM)
    await alice_too.join(ROOM)
    await fill(alice, "sendMessage", 15)
    await fill(alice_too, "sendMessage", 15)
    for client in (alice, alice_too):
        reply = await client.call("sendMessage", {"roomId": ROOM, "content": "x"})
        assert reply["statusCode"] == 429


async def test_reconnecting_does_not_reset_the_allowance(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(clock=clock, **ENVIRONMENTS["production"])
    alice = await live.connect("alice")
    await fill(alice, "joinRoom", 10)
    await alice.disconnect()
    alice = await live.connect("alice")
    assert (await alice.call("joinRoom", {"roomId": ROOM}))["statusCode"] == 429


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("heartbeat", ()),
        ("getRoomStats", ({"roomId": ROOM},)),
        ("leaveRoom", ({"roomId": ROOM},)),
    ],
)
async def test_other_events_are_not_limited(
    start_server: StartServer, clock: FakeClock, event: str, payload: tuple[Any, ...]
) -> None:
    live = await start_server(clock=clock, **ENVIRONMENTS["production"])
    alice = await live.connect("alice")
    for _ in range(130):  # more than any limit
        assert (await alice.call(event, *payload))["success"] is True
    assert (await live.stats())["rateLimiting"]["violations"] == 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
async def test_health_reports_the_limits_and_the_window_in_force(
    start_server: StartServer, env: str
) -> None:
    live = await start_server(WS_RATE_LIMIT_WINDOW_MS=1234, **ENVIRONMENTS[env])
    assert (await live.health())["rateLimits"] == {
        "windowMs": 1234,
        "maxMessagesPerWindow": LIMITS[env, "sendMessage"],
        "maxJoinsPerWindow": LIMITS[env, "joinRoom"],
        "maxTypingEventsPerWindow": LIMITS[env, "typing"],
    }


async def test_a_short_real_window_resets_after_its_length(start_server: StartServer) -> None:
    window_ms = 800
    live = await start_server(WS_RATE_LIMIT_WINDOW_MS=window_ms, **ENVIRONMENTS["production"])
    settings: Settings = live.settings
    assert settings.rate_limit_window_ms == window_ms
    alice = await live.connect("alice")
    started = time.monotonic()
    # One burst, so that the window cannot end in the middle of it on a slow machine.
    replies = await asyncio.gather(
        *(alice.call("joinRoom", {"roomId": f"room-{n}"}) for n in range(11))
    )
    assert sorted(r.get("statusCode", 200) for r in replies) == [200] * 10 + [429]
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while (await alice.call("joinRoom", {"roomId": "again"})).get("success") is not True:
            await asyncio.sleep(window_ms / 1000 / 8)
    assert time.monotonic() - started >= window_ms / 1000 * 0.9
