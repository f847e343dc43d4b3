"""Several nodes as one server (D33) and a node lost (D34), with real parts: a real
redis-server, real node processes, stock Socket.IO clients. The suite judges the cluster
requirements over the wire too; these pin what the reference server itself promises:
one allowance per user across nodes under a race, presence counted cluster-wide, the same
figures from every node, pings from each node to its own sockets only, typing timeouts
that a refresh on another node outlives, and a killed node's departures within the
lease."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from chatrooms_fixtures.tokens import mint
from conformance.client import ChatClient
from reference_server.auth import Identity
from reference_server.cluster import LEASE_BOUND_S, Cluster, RedisStore
from reference_server.config import SWEEP_MARGIN_MS, Settings
from reference_server.state import MemoryStore, Store
from reference_server.testing import RedisServer, RunningCluster

SECRET = "cluster-test-secret-of-at-least-32-bytes"
NAMESPACE = "/chat"
QUIET_S = 0.8  # how long "must not receive" listens
# D34 with a short lease, for fast node-loss tests; the bound a loss is judged against
# follows from these timings as config.py derives the documented 10 s from the defaults.
FAST_LEASE = {
    "REFERENCE_LEASE_TTL_MS": "2000",
    "REFERENCE_LEASE_RENEW_MS": "500",
    "REFERENCE_LEASE_CHECK_MS": "250",
}
FAST_LEASE_BOUND_S = (2000 + 250 + SWEEP_MARGIN_MS) / 1000


def fresh(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def cluster(redis_server: RedisServer) -> Iterator[RunningCluster]:
    env = {"NODE_ENV": "production", "JWT_SECRET": SECRET, "WS_ENABLE_HEARTBEAT": "false"}
    with RunningCluster(3, env, redis_url=fresh(redis_server)) as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[list[ChatClient]]:
    made: list[ChatClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def connect(
    made: list[ChatClient], url: str, user_id: str, username: str | None = None
) -> ChatClient:
    client = ChatClient(f"{user_id}@{url[-5:]}", user_id, username or user_id, NAMESPACE)
    await client.connect(url, mint(user_id, username or user_id, secret=SECRET))
    made.append(client)
    return client


def get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=5) as response:
        return json.load(response)


def figures(url: str) -> dict[str, Any]:
    health = get(url, "/websocket/health")["websocket"]
    stats = get(url, "/websocket/stats")
    del stats["timestamp"]
    return {
        "connectedUsers": health["connectedUsers"],
        "activeRooms": health["activeRooms"],
        "totalTypingUsers": health["totalTypingUsers"],
        "stats": stats,
    }


async def joined(client: ChatClient, room: str) -> None:
    reply = await client.request("joinRoom", {"roomId": room})
    assert reply.payload == {"event": "joinedRoom", "roomId": room, "success": True}


# -- D33 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "limit"), [("joinRoom", 10), ("sendMessage", 30)], ids=["joins", "messages"]
)
async def test_a_users_sockets_on_two_nodes_share_one_allowance_under_a_race(
    cluster: RunningCluster, clients: list[ChatClient], event: str, limit: int
) -> None:
    first = await connect(clients, cluster.urls[0], "racer")
    second = await connect(clients, cluster.urls[1], "racer")
    if event == "sendMessage":
        # Joining spends joins, not messages: both sockets in the room first.
        await joined(first, "race")
        await joined(second, "race")

    def payload(n: int) -> dict[str, Any]:
        if event == "joinRoom":
            return {"roomId": f"race-{n}"}
        return {"roomId": "race", "content": f"m{n}"}

    # Twice the allowance from each node at once: the two nodes race on one window.
    sends = [
        client.request(event, payload(2 * n + i), within_ms=10_000)
        for n in range(limit)
        for i, client in enumerate((first, second))
    ]
    replies = await asyncio.gather(*sends)
    admitted = [r for r in replies if r.payload and r.payload.get("success") is True]
    refused = [r for r in replies if r.payload and r.payload.get("statusCode") == 429]
    assert len(admitted) == limit, f"{len(admitted)} admitted across two nodes, limit {limit}"
    assert len(refused) == len(replies) - limit


async def test_a_burst_on_one_node_waits_for_a_redis_connection_instead_of_failing(
    redis_server: RedisServer,
) -> None:
    # More Store calls in flight on one node than its pool has connections (a busy
    # connect+join ramp; every event handler awaits several): each waits for a free
    # connection, none fails (redis-py's default pool raised MaxConnectionsError: 500s).
    settings = Settings.from_env({"JWT_SECRET": SECRET, "REDIS_URL": fresh(redis_server)})
    cluster = Cluster(settings.redis_url or "", settings)
    try:
        await cluster.store.add_socket("s1", Identity("u1", "U"))
        await cluster.store.join("s1", "busy", datetime.now(UTC))
        calls = [cluster.store.room_sockets("busy") for _ in range(1000)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert failed == [], f"{len(failed)} of {len(results)} failed, e.g. {failed[:1]}"
    finally:
        await cluster.redis.aclose()


async def test_presence_is_cluster_wide(cluster: RunningCluster, clients: list[ChatClient]) -> None:
    observer = await connect(clients, cluster.urls[0], "observer")
    first = await connect(clients, cluster.urls[1], "alice", "Alice")
    online = await observer.next("userOnline", where=lambda p: p["userId"] == "alice")
    assert online is not None and online.payload["username"] == "Alice"
    second = await connect(clients, cluster.urls[2], "alice", "Alice (tab 2)")
    await asyncio.sleep(QUIET_S)
    assert len(observer.received("userOnline", lambda p: p["userId"] == "alice")) == 1
    await first.disconnect()
    await asyncio.sleep(QUIET_S)
    assert observer.received("userOffline", lambda p: p["userId"] == "alice") == []
    await second.disconnect()
    offline = await observer.next("userOffline", where=lambda p: p["userId"] == "alice")
    # D3: the name shown is the one of the oldest open socket (the second, at the end).
    assert offline is not None and offline.payload["username"] == "Alice (tab 2)"
    await asyncio.sleep(QUIET_S)
    assert len(observer.received("userOffline", lambda p: p["userId"] == "alice")) == 1


async def test_recipients_and_membership_are_cluster_wide(
    cluster: RunningCluster, clients: list[ChatClient]
) -> None:
    bob = await connect(clients, cluster.urls[0], "bob")
    await joined(bob, "lobby")
    carol = await connect(clients, cluster.urls[1], "carol")
    await joined(carol, "lobby")
    carol_too = await connect(clients, cluster.urls[2], "carol")
    await joined(carol_too, "lobby")
    # D15: bob (another node) heard carol join once; her second socket changed nothing.
    await asyncio.sleep(QUIET_S)
    assert len(bob.received("userJoined", lambda p: p["userId"] == "carol")) == 1
    users = carol_too.received("roomUsers")[-1].payload["users"]
    assert [u["userId"] for u in users] == ["bob", "carol"]
    sent = await bob.request("sendMessage", {"roomId": "lobby", "content": "hi"})
    assert sent.payload["success"] is True
    for client in (bob, carol, carol_too):  # D17: every socket in the room, on any node
        got = await client.next("receiveMessage", where=lambda p: p["content"] == "hi")
        assert got is not None, client.name
    stats = await carol.request("getRoomStats", {"roomId": "lobby"})
    assert stats.payload["success"] is True
    room = await carol.next("roomStats")
    assert room is not None and room.payload["userCount"] == 2


async def test_every_node_reports_the_same_cluster_wide_figures(
    cluster: RunningCluster, clients: list[ChatClient]
) -> None:
    for n, url in enumerate(cluster.urls):
        client = await connect(clients, url, f"user-{n % 2}")
        await joined(client, f"room-{n}")
    typist = clients[0]
    assert (await typist.request("typing", {"roomId": "room-0", "isTyping": True})).payload[
        "success"
    ]
    seen = [figures(url) for url in cluster.urls]
    assert seen[0]["connectedUsers"] == 2 and seen[0]["activeRooms"] == 3
    assert seen[0]["totalTypingUsers"] == 1
    assert seen[0]["stats"]["connections"]["current"] == 3
    assert all(s == seen[0] for s in seen), seen


async def test_each_node_pings_only_its_own_sockets(
    redis_server: RedisServer, clients: list[ChatClient]
) -> None:
    interval_ms = 400
    env = {"JWT_SECRET": SECRET, "WS_HEARTBEAT_INTERVAL": str(interval_ms)}
    with RunningCluster(3, env, redis_url=fresh(redis_server)) as running:
        listeners = [
            await connect(clients, url, f"pinged-{n}") for n, url in enumerate(running.urls)
        ]
        await asyncio.sleep(interval_ms * 4.5 / 1000)
        for listener in listeners:
            arrivals = [entry.at for entry in listener.received("ping")]
            assert len(arrivals) >= 3, listener.name
            # Three nodes' cadences cannot all be half an interval apart: a ping published
            # to every node would arrive within interval/2 of another one.
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
            assert min(gaps) > interval_ms / 2 / 1000, (listener.name, gaps)


async def typist_on_two_nodes(
    clients: list[ChatClient], urls: list[str]
) -> tuple[ChatClient, ChatClient, ChatClient]:
    """A watcher on node 2 and the user "typist" with a socket on nodes 0 and 1, all in
    room "desk"."""
    observer = await connect(clients, urls[2], "watcher")
    await joined(observer, "desk")
    first = await connect(clients, urls[0], "typist")
    second = await connect(clients, urls[1], "typist")
    await joined(first, "desk")
    await joined(second, "desk")
    return observer, first, second


async def test_a_typing_refresh_on_another_node_outlives_the_first_nodes_timeout(
    redis_server: RedisServer, clients: list[ChatClient]
) -> None:
    timeout_ms = 1000
    # FAST_LEASE: the overdue-typing check (D34) runs often and would end typing at the
    # first deadline + 0.25-0.5 s if the refresh had not moved the deadline in Redis too.
    env = {"JWT_SECRET": SECRET, "WS_TYPING_TIMEOUT": str(timeout_ms), **FAST_LEASE}
    with RunningCluster(3, env, redis_url=fresh(redis_server)) as running:
        observer, a, b = await typist_on_two_nodes(clients, running.urls)
        started = time.monotonic()
        await a.request("typing", {"roomId": "desk", "isTyping": True})
        await asyncio.sleep(timeout_ms * 0.6 / 1000)
        await b.request("typing", {"roomId": "desk", "isTyping": True})
        refreshed = time.monotonic()
        # D18: node 0's timeout passes; the refresh on node 1 keeps typing on.
        await asyncio.sleep(max(0.0, started + timeout_ms * 1.3 / 1000 - time.monotonic()))
        ended = lambda p: p["userId"] == "typist" and p["isTyping"] is False  # noqa: E731
        assert observer.received("userTyping", ended) == []
        end = await observer.next("userTyping", where=ended, within_ms=timeout_ms * 3)
        assert end is not None
        assert end.at - refreshed >= timeout_ms / 1000 * 0.95
        await asyncio.sleep(QUIET_S)
        assert len(observer.received("userTyping", ended)) == 1


async def test_the_typing_deadlines_in_redis_follow_the_typing_state(
    redis_server: RedisServer,
) -> None:
    # D18 across nodes: `typing_due` holds exactly the pairs typing, for any characters in
    # the ids, and the overdue check ends each one once.
    client = aioredis.Redis.from_url(fresh(redis_server), decode_responses=True)
    store = RedisStore(client, "t:", "node-1", typing_timeout_ms=0)
    user, room, now = "ü:ser 2", "ro:om:1", datetime.now(UTC)
    due = lambda: client.zcard("t:typing_due")  # noqa: E731
    try:
        await store.add_socket("s1", Identity(user, "U"))
        await store.join("s1", room, now)
        assert await store.set_typing(user, room, True, "tok-1")
        assert await due() == 1
        assert await store.expire_overdue_typing(60_000) == []  # not a minute overdue
        assert await store.expire_overdue_typing(0) == [(user, room)]
        assert await store.expire_overdue_typing(0) == []  # once
        assert await store.typing_pairs() == 0 and await store.typing_users(room) == []
        assert not await store.expire_typing(user, room, "tok-1")  # the old timer: no-op
        assert await due() == 0
        for ends in ("typing false", "timer", "leave"):
            assert await store.set_typing(user, room, True, "tok-2")
            assert await due() == 1
            if ends == "typing false":
                assert await store.set_typing(user, room, False)
            elif ends == "timer":
                assert await store.expire_typing(user, room, "tok-2")
            else:
                assert (await store.leave("s1", room, now)).was_typing
            assert await due() == 0, ends
    finally:
        await client.aclose()


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "redis"])
async def test_the_room_users_come_named_and_the_others_in_the_room_in_one_call(
    redis_server: RedisServer, shared: bool
) -> None:
    # D3 in one call (joinRoom's roomUsers, getRoomStats): each user once, in joining
    # order, named after its oldest open socket, for any characters in the ids.
    client = aioredis.Redis.from_url(fresh(redis_server), decode_responses=True)
    store: Store = RedisStore(client, "t:", "node-1", 1000) if shared else MemoryStore()
    now = datetime.now(UTC)

    async def named_one_by_one(room: str) -> list[tuple[str, str]]:
        return [(u, await store.display_name(u)) for u in await store.room_users(room)]

    try:
        assert await store.named_room_users("r:1") == []
        await store.add_socket("a1", Identity("ü:a", "Alice 1"))
        await store.add_socket("b1", Identity("b", "Bob"))
        await store.add_socket("a2", Identity("ü:a", "Alice 2"))
        for sid in ("b1", "a2", "a1"):
            await store.join(sid, "r:1", now)
        expected = [("b", "Bob"), ("ü:a", "Alice 1")]
        assert await store.named_room_users("r:1") == expected
        assert await named_one_by_one("r:1") == expected
        # Who hears of a user's own doing: the room's sockets but the user's (D15, D18).
        assert await store.others_in_room("r:1", "ü:a") == ["b1"]
        assert await store.others_in_room("r:1", "b") == ["a2", "a1"]
        assert await store.others_in_room("r:1", "nobody") == ["b1", "a2", "a1"]
        assert await store.others_in_room("r:2", "b") == []
        await store.leave("a1", "r:1", now)
        await store.remove_socket("a1")  # the oldest socket closes: the next one names
        expected = [("b", "Bob"), ("ü:a", "Alice 2")]
        assert await store.named_room_users("r:1") == expected
        assert await named_one_by_one("r:1") == expected
    finally:
        await client.aclose()


async def test_a_node_keeps_its_own_sockets_identities_and_forgets_each_one_closed(
    redis_server: RedisServer,
) -> None:
    # A socket's identity never changes and its events reach its own node, so the node
    # answers identity() without Redis; nothing stays behind once its sockets are gone,
    # also those another node removed (a sweep, D34).
    client = aioredis.Redis.from_url(fresh(redis_server), decode_responses=True)
    mine = RedisStore(client, "t:", "node-1", 1000)
    other = RedisStore(client, "t:", "node-2", 1000)
    now = datetime.now(UTC)
    try:
        for round_ in range(3):
            for n in range(100):
                await mine.add_socket(f"s{n}", Identity(f"u{n % 7}", f"U{n}"))
                await mine.join(f"s{n}", "room", now)
            assert len(mine._own) == 100
            assert await mine.identity("s42") == Identity("u0", "U42")
            assert await other.identity("s42") == Identity("u0", "U42")  # from Redis
            for n in range(100):
                if not await mine.has_socket(f"s{n}"):
                    continue
                await mine.leave(f"s{n}", "room", now)
                # Chat.disconnect's path; a third of them removed by the other node.
                await (other if n % 3 == round_ else mine).remove_socket(f"s{n}")
                assert not await mine.has_socket(f"s{n}")
            assert mine._own == {}, round_
        await mine.add_socket("late", Identity("u", "U"))
        mine.forget_own()  # this node was swept
        assert mine._own == {}
        assert await mine.identity("late") == Identity("u", "U")  # still answered
    finally:
        await client.aclose()


# -- D34 ------------------------------------------------------------------------------------


async def test_a_killed_nodes_users_depart_within_the_lease_and_a_new_node_joins(
    cluster: RunningCluster, clients: list[ChatClient]
) -> None:
    observer = await connect(clients, cluster.urls[0], "observer")
    await joined(observer, "hall")
    other = await connect(clients, cluster.urls[1], "other")
    await joined(other, "hall")
    victim = await connect(clients, cluster.urls[2], "victim")
    await joined(victim, "hall")
    assert (await victim.request("typing", {"roomId": "hall", "isTyping": True})).payload["success"]
    assert await observer.next("userTyping", where=lambda p: p["isTyping"] is True)
    before = figures(cluster.urls[0])
    assert before["connectedUsers"] == 3 and before["totalTypingUsers"] == 1

    cluster.nodes[2].kill()  # SIGKILL: no disconnect, no clean-up
    killed = time.monotonic()
    mine = lambda p: p["userId"] == "victim"  # noqa: E731
    for event in ("userLeft", "userTyping", "userOffline"):
        remaining_ms = int((killed + LEASE_BOUND_S - time.monotonic()) * 1000)
        got = await observer.next(event, where=mine, within_ms=max(1, remaining_ms))
        assert got is not None, f"no {event} for the killed node's user within the lease"
        if event == "userTyping":
            assert got.payload["isTyping"] is False
    assert await other.next("userOffline", where=mine, within_ms=2000)
    await asyncio.sleep(2.5)  # more than two sweeps: the departures came exactly once
    for event in ("userLeft", "userOffline"):
        assert len(observer.received(event, mine)) == 1, event
    after = [figures(url) for url in cluster.urls[:2]]
    assert after[0] == after[1]
    assert after[0]["connectedUsers"] == 2 and after[0]["totalTypingUsers"] == 0
    assert after[0]["stats"]["connections"]["current"] == 2
    details = after[0]["stats"]["rooms"]["details"]
    assert [(d["roomId"], d["userCount"]) for d in details] == [("hall", 2)]

    # A node started again rejoins: its users are seen everywhere.
    rejoined = cluster.add_node()
    back = await connect(clients, rejoined.url, "victim")
    await joined(back, "hall")
    assert await observer.next("userOnline", where=mine)
    assert await observer.next("userJoined", where=mine)
    assert figures(cluster.urls[0])["connectedUsers"] == 3


async def test_typing_held_by_a_killed_node_ends_once_though_the_user_stays_in_the_room(
    redis_server: RedisServer, clients: list[ChatClient]
) -> None:
    # D18 + D34: the typing timeout's timer lived on the killed node; the user is still in
    # the room through a socket on another node, so no departure ends the typing either.
    timeout_ms = 1000
    env = {"JWT_SECRET": SECRET, "WS_TYPING_TIMEOUT": str(timeout_ms), **FAST_LEASE}
    with RunningCluster(3, env, redis_url=fresh(redis_server)) as running:
        observer, doomed, stays = await typist_on_two_nodes(clients, running.urls)
        mine = lambda p: p["userId"] == "typist"  # noqa: E731
        ended = lambda p: mine(p) and p["isTyping"] is False  # noqa: E731
        sent = time.monotonic()
        typed = await doomed.request("typing", {"roomId": "desk", "isTyping": True})
        assert typed.payload["success"] is True
        replied = time.monotonic()
        assert await observer.next("userTyping", where=lambda p: mine(p) and p["isTyping"])
        running.nodes[0].kill()  # SIGKILL: the timer dies with the node
        killed = time.monotonic()

        within_s = timeout_ms / 1000 + FAST_LEASE_BOUND_S
        end = await observer.next(
            "userTyping", where=ended, within_ms=int((replied + within_s - time.monotonic()) * 1000)
        )
        assert end is not None, "typing held by the killed node never ended"
        assert end.at - sent >= timeout_ms / 1000 * 0.95, "ended before WS_TYPING_TIMEOUT"
        seen = [figures(url) for url in running.urls[1:]]
        assert all(s["totalTypingUsers"] == 0 for s in seen), seen

        # Past the lease: the killed node's socket is swept, the typing end came once, and
        # the user never left the room (its other socket is still in it).
        await asyncio.sleep(max(0.0, killed + FAST_LEASE_BOUND_S - time.monotonic()) + QUIET_S)
        assert len(observer.received("userTyping", ended)) == 1
        assert observer.received("userLeft", mine) == []
        assert observer.received("userOffline", mine) == []
        after = [figures(url) for url in running.urls[1:]]
        assert after[0] == after[1], after
        assert after[0]["totalTypingUsers"] == 0
        assert after[0]["stats"]["connections"]["current"] == 2  # the lease in FAST_LEASE
        assert (await stays.request("getRoomStats", {"roomId": "desk"})).payload["success"]
        room = await stays.next("roomStats")
        assert room is not None
        assert room.payload["typingUsers"] == [] and room.payload["userCount"] == 2


def test_a_node_refuses_lease_timings_beyond_the_documented_bound() -> None:
    # D34: a node whose TTL + check interval leave no room for the sweep within 10 s would
    # break the documented bound: it stops at start-up with one line, as for other values.
    env = {**os.environ, "REFERENCE_LEASE_TTL_MS": "9000", "REDIS_URL": "redis://127.0.0.1:1"}
    run = subprocess.run(
        [sys.executable, "-m", "reference_server", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "chatrooms-server: error: REFERENCE_LEASE_TTL_MS + REFERENCE_LEASE_CHECK_MS must be "
        "at most 8000 ms, so that a lost node's sockets are removed within the documented "
        "10 s (D34), got 9000 + 1000"
    )


# -- chatrooms-server --nodes ---------------------------------------------------------------


def test_nodes_without_a_redis_server_says_how_to_get_one() -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    env.pop("REDIS_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "reference_server", "--nodes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert "apt-get install redis-server" in run.stderr and "brew install redis" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_nodes_starts_a_cluster_prints_its_urls_and_stops_it_on_sigterm(
    redis_server: RedisServer,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    with subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--nodes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        urls = [line.strip() for line in lines[1:]]
        assert all(url.startswith("http://127.0.0.1:") for url in urls), lines
        assert all(figures(url)["connectedUsers"] == 0 for url in urls)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    for url in urls:
        with pytest.raises(OSError):
            get(url, "/websocket/health")
