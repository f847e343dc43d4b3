"""The typing lifecycle (D18) as a unit: state per user and room in the Store, timeouts
scheduled through the Clock and ended by moving a fake clock, no sockets and no waiting.
What others hear over the wire is the conformance suite's (conformance/suite/
test_s6_user_typing.py, test_c4_typing.py), run against this server in CI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from reference_server.auth import Identity
from reference_server.state import MemoryStore
from reference_server.typing_indicator import TypingIndicator
from tests.reference_server.harness import FakeClock

TIMEOUT_S = 5.0
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def indicator() -> tuple[TypingIndicator, MemoryStore, FakeClock, list[tuple[str, str]]]:
    store = MemoryStore()
    for sid, user in (("s1", "alice"), ("s2", "bob")):
        await store.add_socket(sid, Identity(user_id=user, username=user))
        await store.join(sid, "lobby", NOW)
        await store.join(sid, "kitchen", NOW)
    clock = FakeClock()
    ended: list[tuple[str, str]] = []

    async def on_expired(user_id: str, room_id: str) -> None:
        ended.append((user_id, room_id))

    return TypingIndicator(store, clock, TIMEOUT_S, on_expired), store, clock, ended


async def settle() -> None:
    # Expiries run on the loop (call_soon_threadsafe), then announce in a task.
    for _ in range(5):
        await asyncio.sleep(0)


async def test_true_starts_typing_and_a_repeat_changes_nothing() -> None:
    typing, store, _, _ = await indicator()
    assert await typing.update("alice", "lobby", True) is True
    assert await typing.update("alice", "lobby", True) is False
    assert await store.typing_users("lobby") == ["alice"]


async def test_false_ends_typing_once_and_cancels_the_timeout() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    assert await typing.update("alice", "lobby", False) is True
    assert await typing.update("alice", "lobby", False) is False
    clock.advance(TIMEOUT_S * 2)
    await settle()
    assert ended == [] and await store.typing_users("lobby") == []


async def test_typing_ends_by_itself_when_the_clock_passes_the_timeout() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    clock.advance(TIMEOUT_S - 0.001)
    await settle()
    assert ended == [] and await store.typing_users("lobby") == ["alice"]
    clock.advance(0.001)
    await settle()
    assert ended == [("alice", "lobby")] and await store.typing_users("lobby") == []


async def test_a_repeated_true_restarts_the_timeout() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    clock.advance(TIMEOUT_S * 0.8)
    await typing.update("alice", "lobby", True)
    clock.advance(TIMEOUT_S * 0.8)
    await settle()
    assert ended == [] and await store.typing_users("lobby") == ["alice"]
    clock.advance(TIMEOUT_S * 0.2)
    await settle()
    assert ended == [("alice", "lobby")]


async def test_a_message_ends_the_senders_typing_in_that_room_only() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    await typing.update("alice", "kitchen", True)
    assert await typing.stop("alice", "lobby") is True
    assert await typing.stop("alice", "lobby") is False
    assert await store.typing_users("kitchen") == ["alice"]
    clock.advance(TIMEOUT_S)
    await settle()
    assert ended == [("alice", "kitchen")]  # the stopped one has no timer left


async def test_state_and_timers_are_per_user_and_room() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    clock.advance(1)
    await typing.update("bob", "lobby", True)
    clock.advance(TIMEOUT_S - 1)
    await settle()
    assert ended == [("alice", "lobby")] and await store.typing_users("lobby") == ["bob"]
    clock.advance(1)
    await settle()
    assert ended == [("alice", "lobby"), ("bob", "lobby")]


async def test_leaving_the_room_forgets_the_timer() -> None:
    typing, store, clock, ended = await indicator()
    await typing.update("alice", "lobby", True)
    left = await store.leave("s1", "lobby", NOW)
    assert left.was_typing
    typing.forget("alice", "lobby")
    clock.advance(TIMEOUT_S)
    await settle()
    assert ended == []
