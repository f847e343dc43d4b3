"""Several nodes behave as one server (D33), and a lost node's users leave (D34).

Judged when the target is several nodes of one logical server (`--target URL1,URL2,...`,
or the managed `--nodes N`); with one node every check here is not applicable. Each check
places its clients on chosen nodes, so that the actor and the observer never share one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import Reply
from conformance.clients import Clients
from conformance.expect import show
from conformance.reading import field
from conformance.target import Target

pytestmark = pytest.mark.asyncio

# D34: the reference server's lease is 10 s; a departure may take the lease plus one
# check of the survivors and the trip to the client.
NODE_LOSS_WITHIN_MS = 16_000
# The figures the health and stats endpoints of every node must agree on (D33).
CLUSTER_FIGURES = (
    ("/websocket/health", ("websocket", "connectedUsers")),
    ("/websocket/health", ("websocket", "activeRooms")),
    ("/websocket/health", ("websocket", "totalTypingUsers")),
    ("/websocket/stats", ("connections", "current")),
    ("/websocket/stats", ("connections", "total")),
    ("/websocket/stats", ("connections", "totalDisconnections")),
    ("/websocket/stats", ("rooms", "active")),
    ("/websocket/stats", ("rooms", "totalCreated")),
    ("/websocket/stats", ("messages", "totalProcessed")),
)


def several_nodes(target: Target) -> int:
    """The number of nodes; a target of one node makes the check not applicable."""
    if not target.several_nodes:
        expect.not_applicable("the target is one node; D33 and D34 are about several")
    return len(target.urls)


def other_node(target: Target, *taken: int) -> int:
    """A node none of `taken` is on, else the first one not the last taken."""
    free = [n for n in range(len(target.urls)) if n not in taken]
    return free[0] if free else (taken[-1] + 1) % len(target.urls)


def by(user_id: str) -> Callable[[Any], bool]:
    return lambda p: p["userId"] == user_id


@requirement("RL-CLUSTER-SHARED-ALLOWANCE")
async def test_a_users_sockets_on_two_nodes_share_one_allowance(
    chat: Clients, room: str, target: Target
) -> None:
    several_nodes(target)
    limit = target.limits["joinRoom"]  # the smallest allowance: the cheapest race
    user_id, _ = chat.user("alice")
    first = await chat.connect("alice-0", user_id=user_id, node=0)
    second = await chat.connect("alice-1", user_id=user_id, node=1)
    sockets = (first, second)
    started = time.monotonic()
    # Race twice the allowance at both nodes at once: one shared allowance admits exactly
    # `limit`; one allowance per node admits up to twice that.
    replies = await asyncio.gather(
        *(sockets[n % 2].request("joinRoom", {"roomId": f"{room}-{n}"}) for n in range(2 * limit))
    )
    elapsed_ms = (time.monotonic() - started) * 1000
    if elapsed_ms > 0.8 * target.declared.window_ms:
        raise expect.Inconclusive(
            f"the race took {elapsed_ms:.0f} ms of a {target.declared.window_ms} ms window"
        )
    admitted = sum(r.accepted for r in replies)
    expect.that(
        "RL-CLUSTER-SHARED-ALLOWANCE",
        admitted == limit,
        sent=f"{2 * limit} joinRoom events of one user, raced over its sockets on nodes 0 and 1",
        expected=f"exactly {limit} admitted: one allowance for the user across nodes",
        actual=f"{admitted} admitted",
    )


@requirement("SRV-CLUSTER-PRESENCE")
async def test_user_online_once_at_the_first_socket_anywhere_and_offline_at_the_last(
    chat: Clients, target: Target
) -> None:
    several_nodes(target)
    bob = await chat.connect("bob", node=0)
    user_id, _ = chat.user("alice")
    first = await chat.connect("alice-0", user_id=user_id, node=1)
    sent = "alice opens a socket on node 1"
    await expect.received("SRV-CLUSTER-PRESENCE", bob, "userOnline", sent=sent, where=by(user_id))
    second = await chat.connect("alice-1", user_id=user_id, node=other_node(target, 1))
    await expect.nothing(
        "SRV-CLUSTER-PRESENCE",
        [bob],
        "userOnline",
        sent="alice opens a second socket on another node",
        where=by(user_id),
        within_ms=target.quiet_ms,
    )
    await first.disconnect()
    await expect.nothing(
        "SRV-CLUSTER-PRESENCE",
        [bob],
        "userOffline",
        sent="alice closes her first socket; the other, on another node, stays open",
        where=by(user_id),
        within_ms=target.quiet_ms,
    )
    await second.disconnect()
    await expect.received(
        "SRV-CLUSTER-PRESENCE",
        bob,
        "userOffline",
        sent="alice closes her last socket",
        where=by(user_id),
    )


@requirement("SRV-CLUSTER-TYPING-TIMEOUT")
async def test_a_typing_refresh_on_another_node_restarts_the_timeout(
    chat: Clients, room: str, target: Target
) -> None:
    several_nodes(target)
    timeout_ms = target.declared.typing_timeout_ms
    if 2 * timeout_ms > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(f"needs two typing timeouts ({timeout_ms} ms each); pass --run-slow")
    bob = await chat.member("bob", room, node=0)
    user_id, _ = chat.user("alice")
    first = await chat.member("alice-0", room, user_id=user_id, node=1)
    second = await chat.member("alice-1", room, user_id=user_id, node=other_node(target, 0, 1))
    started = time.monotonic()
    await first.request("typing", {"roomId": room, "isTyping": True})
    await expect.received(
        "SRV-CLUSTER-TYPING-TIMEOUT",
        bob,
        "userTyping",
        sent="alice starts typing from node 1",
        where=lambda p: p["userId"] == user_id and p["isTyping"] is True,
    )
    await asyncio.sleep(max(0.0, started + timeout_ms / 2000 - time.monotonic()))
    refreshed = time.monotonic()
    await second.request("typing", {"roomId": room, "isTyping": True})
    # The first node's timeout would end typing at started + timeout: it must not.
    quiet_until = started + timeout_ms / 1000 * 1.2
    await expect.nothing(
        "SRV-CLUSTER-TYPING-TIMEOUT",
        [bob],
        "userTyping",
        sent=f"alice types again from another node {timeout_ms // 2} ms later",
        where=lambda p: p["userId"] == user_id and p["isTyping"] is False,
        within_ms=int(max(0.0, quiet_until - time.monotonic()) * 1000),
    )
    ended = await expect.received(
        "SRV-CLUSTER-TYPING-TIMEOUT",
        bob,
        "userTyping",
        sent="nothing more from alice",
        where=lambda p: p["userId"] == user_id and p["isTyping"] is False,
        within_ms=int(timeout_ms * 1.5),
    )
    expect.that(
        "SRV-CLUSTER-TYPING-TIMEOUT",
        time.monotonic() - refreshed >= timeout_ms / 1000 * 0.8,
        sent="nothing more from alice",
        expected=f"typing ends once, {timeout_ms} ms after the last `typing: true`",
        actual=f"ended {1000 * (time.monotonic() - refreshed):.0f} ms after it: {show(ended)}",
    )


@requirement("SRV-CLUSTER-RECIPIENTS")
async def test_every_room_event_reaches_its_recipients_on_other_nodes(
    chat: Clients, room: str, target: Target
) -> None:
    several_nodes(target)
    bob = await chat.member("bob", room, node=1)
    alice = await chat.connect("alice", node=0)
    steps: list[tuple[str, Callable[[], Awaitable[Reply]], str, Callable[[Any], bool]]] = [
        (
            "alice (node 0) joins",
            lambda: alice.request("joinRoom", {"roomId": room}),
            "userJoined",
            by(alice.user_id),
        ),
        (
            "alice sends a message",
            lambda: alice.request("sendMessage", {"roomId": room, "content": "across"}),
            "receiveMessage",
            lambda p: p["content"] == "across",
        ),
        (
            "alice starts typing",
            lambda: alice.request("typing", {"roomId": room, "isTyping": True}),
            "userTyping",
            by(alice.user_id),
        ),
        (
            "alice leaves",
            lambda: alice.request("leaveRoom", {"roomId": room}),
            "userLeft",
            by(alice.user_id),
        ),
    ]
    for sent, action, event, where in steps:
        await action()
        await expect.received(
            "SRV-CLUSTER-RECIPIENTS", bob, event, sent=f"{sent}; bob is on node 1", where=where
        )
    # D19 across nodes: roomStats only to the asking socket.
    reply = await bob.request("getRoomStats", {"roomId": room})
    await expect.received(
        "SRV-CLUSTER-RECIPIENTS",
        bob,
        "roomStats",
        sent=reply.sent,
        where=lambda p: p["roomId"] == room,
    )
    await expect.nothing(
        "SRV-CLUSTER-RECIPIENTS",
        [alice],
        "roomStats",
        sent=f"{reply.sent}, on node 1",
        within_ms=target.quiet_ms,
    )


async def figures_of(chat: Clients, node: int) -> dict[str, Any]:
    bodies = {
        path: await expect.json_endpoint(chat.http, path, node=node)
        for path in ("/websocket/health", "/websocket/stats")
    }
    return {".".join(keys): field(bodies[path], *keys) for path, keys in CLUSTER_FIGURES}


@requirement("HEALTH-CLUSTER-FIGURES")
async def test_every_node_reports_the_same_cluster_wide_figures(
    chat: Clients, room: str, target: Target
) -> None:
    count = several_nodes(target)
    # Something to count on each node, and a different number on each (node n holds n + 1
    # members), so that a node counting only its own sockets cannot agree by chance.
    members = [
        await chat.member(f"user{n}-{k}", room, node=n) for n in range(count) for k in range(n + 1)
    ]
    await members[0].request("typing", {"roomId": room, "isTyping": True})
    deadline = time.monotonic() + target.timeout_ms / 1000
    while True:
        # Read every node at once, so that other clients' traffic rarely falls between.
        views = await asyncio.gather(*(figures_of(chat, n) for n in range(count)))
        if all(v == views[0] for v in views) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    differing = sorted({k for v in views for k in v if v[k] != views[0][k]})
    expect.that(
        "HEALTH-CLUSTER-FIGURES",
        not differing,
        sent=f"GET /websocket/health and /websocket/stats of each of {count} nodes",
        expected="the same cluster-wide figures from every node",
        actual="; ".join(
            f"{k}: " + ", ".join(f"node {n} {show(v[k])}" for n, v in enumerate(views))
            for k in differing
        )
        or "the same",
    )


@requirement("HB-CLUSTER-OWN-SOCKETS")
async def test_a_socket_gets_one_ping_per_interval_however_many_nodes(
    chat: Clients, target: Target
) -> None:
    several_nodes(target)
    declared = target.declared
    if not declared.heartbeat_enabled:
        expect.not_applicable("the target is declared with the heartbeat off")
    listen_ms = int(3.5 * declared.heartbeat_interval_ms)
    if listen_ms > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(f"listening {listen_ms} ms is longer than --slow-threshold-ms")
    alice = await chat.connect("alice", node=1)
    await asyncio.sleep(listen_ms / 1000)
    pings = len(alice.received("ping"))
    expect.that(
        "HB-CLUSTER-OWN-SOCKETS",
        2 <= pings <= 4,
        sent=f"a socket on node 1 listens {listen_ms} ms "
        f"({declared.heartbeat_interval_ms} ms interval, {len(target.urls)} nodes)",
        expected="3 pings (one node pings it, not every node)",
        actual=f"{pings} pings",
    )


@requirement("SRV-CLUSTER-NODE-LOSS")
async def test_the_users_of_a_lost_node_leave_within_the_lease(
    chat: Clients, room: str, target: Target, kill_node: Callable[[int], None] | None
) -> None:
    # Runs last (conformance.plugin orders it so): the node it kills stays dead.
    count = several_nodes(target)
    if kill_node is None:
        pytest.skip("cannot kill a node: pass --kill-node-cmd (a managed --nodes run can)")
    lost = count - 1
    bob = await chat.member("bob", room, node=0)
    alice = await chat.member("alice", room, node=lost)
    # D18 + D33: carol types through the lost node but stays in the room through a socket
    # on another one: no departure ends her typing, her timeout still must.
    carol_id, _ = chat.user("carol")
    carol = await chat.member("carol-0", room, user_id=carol_id, node=lost)
    await chat.member("carol-1", room, user_id=carol_id, node=other_node(target, lost))
    await alice.request("typing", {"roomId": room, "isTyping": True})
    await expect.received(
        "SRV-CLUSTER-NODE-LOSS", bob, "userTyping", sent="alice types", where=by(alice.user_id)
    )
    before = await figures_of(chat, 0)
    # Just before the kill, so that the lost node's own timer has no time to end it.
    carol_typed = time.monotonic()
    await carol.request("typing", {"roomId": room, "isTyping": True})
    kill_node(lost)
    sent = f"node {lost}, where alice and carol's first socket are, is killed without closing"
    for event in ("userLeft", "userOffline"):
        await expect.received(
            "SRV-CLUSTER-NODE-LOSS",
            bob,
            event,
            sent=sent,
            where=by(alice.user_id),
            within_ms=NODE_LOSS_WITHIN_MS,
            expected=f"bob (node 0) receives {event} for alice within the lease",
        )
    timeout_ms = target.declared.typing_timeout_ms
    carol_sent = (
        f"carol types through node {lost}, which is then killed; her socket on another node "
        "stays in the room"
    )
    carol_stops = lambda p: p["userId"] == carol_id and p["isTyping"] is False  # noqa: E731
    remaining_s = carol_typed + (timeout_ms + NODE_LOSS_WITHIN_MS) / 1000 - time.monotonic()
    await expect.received(
        "SRV-CLUSTER-NODE-LOSS",
        bob,
        "userTyping",
        sent=carol_sent,
        where=carol_stops,
        within_ms=max(1, int(remaining_s * 1000)),
        expected="bob receives userTyping isTyping false for carol within her typing "
        f"timeout ({timeout_ms} ms) and the lease",
    )

    def dropped(after: dict[str, Any]) -> bool:
        return bool(
            after["websocket.connectedUsers"] == before["websocket.connectedUsers"] - 1
            and after["connections.current"] == before["connections.current"] - 2
            and after["websocket.totalTypingUsers"] == before["websocket.totalTypingUsers"] - 1
        )

    # The sweep may still be removing carol's lost socket after alice's departures.
    deadline = time.monotonic() + target.timeout_ms / 1000
    while not dropped(after := await figures_of(chat, 0)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    expect.that(
        "SRV-CLUSTER-NODE-LOSS",
        dropped(after),
        sent=sent,
        expected="node 0's health and stats count alice (user, socket, typing) and carol's "
        "lost socket no more; carol's typing has ended",
        actual=f"before {show(before)}; after {show(after)}",
    )
    # "Once" listens the whole quiet window: a second node's end would come a check later.
    await asyncio.sleep(target.quiet_ms / 1000)
    ends = len(bob.received("userTyping", carol_stops))
    expect.that(
        "SRV-CLUSTER-NODE-LOSS",
        ends == 1,
        sent=carol_sent,
        expected="carol's typing ends once",
        actual=f"{ends} userTyping isTyping false for carol",
    )
