"""doc: "Rate Limiting" (D5, D10, D14, D21, D22): the documented allowance per kind in the
declared environment, 429 with no effect beyond it, the violation counter, and the reset.

The allowance is judged against the document's table for the environment the target
declares (`--env`), never against the values the target reports. A burst that takes most
of a window cannot be judged fairly (the window may have ended on its own): that is
reported as inconclusive, never as a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from chatrooms_fixtures.configuration import HEALTH_LIMIT_FIELDS
from conformance import expect
from conformance.catalogue import requirement
from conformance.client import ChatClient, Reply
from conformance.clients import Clients
from conformance.expect import show
from conformance.http import Http
from conformance.reading import field
from conformance.target import DOCUMENTED_WINDOW_MS, Declaration, Target

pytestmark = pytest.mark.asyncio

ENVIRONMENTS = ("production", "development")
# doc: "Rate Limiting" table rows, by the client event each one counts (D21).
KINDS = ("sendMessage", "joinRoom", "typing")
CELLS = {
    ("production", "sendMessage"): "RL-PROD-MESSAGES",
    ("production", "joinRoom"): "RL-PROD-JOINS",
    ("production", "typing"): "RL-PROD-TYPING",
    ("development", "sendMessage"): "RL-DEV-MESSAGES",
    ("development", "joinRoom"): "RL-DEV-JOINS",
    ("development", "typing"): "RL-DEV-TYPING",
}
# doc: "Health Check Endpoints" rateLimits fields, by kind.
HEALTH_FIELDS = HEALTH_LIMIT_FIELDS
# A burst that needs more than this share of the window is not judged (the machine, not
# the server, would decide the verdict).
FAIR_SHARE = 0.8


def cell_params() -> list[Any]:
    """One test per (environment, kind) cell of the table; each names its own id."""
    return [
        pytest.param(env, kind, id=f"{env}-{kind}", marks=pytest.mark.requirement(CELLS[env, kind]))
        for env in ENVIRONMENTS
        for kind in KINDS
    ]


def require_environment(target: Target, environment: str) -> None:
    # `python -m conformance` runs both environments and merges: each cell is judged once.
    if target.environment != environment:
        expect.not_applicable(
            f"the target is declared with NODE_ENV={target.declared.node_env} "
            f"({target.environment} limits)"
        )


def refused(reply: Reply) -> bool:
    payload = reply.payload
    return reply.arrived and (
        reply.event == "error" or (isinstance(payload, Mapping) and payload.get("success") is False)
    )


def status_of(reply: Reply) -> Any:
    # statusCode when present, else the document's required `error` phrase (doc "10. Error").
    return expect.status_of_error(reply.payload)


class Counted:
    """A fresh user whose `kind` events count against its allowance; event i has payload(i)."""

    def __init__(self, client: ChatClient, kind: str, payload: Callable[[int], dict[str, Any]]):
        self.client = client
        self.kind = kind
        self.payload = payload
        self.sent = 0
        self.first_sent_at = 0.0
        self.first_answered_at = 0.0

    async def send(self) -> Reply:
        index = self.sent
        self.sent += 1
        if index == 0:
            self.first_sent_at = time.monotonic()
        reply = await self.client.request(self.kind, self.payload(index))
        if index == 0:
            self.first_answered_at = time.monotonic()
        return reply


def shared_allowance(reply: Reply, what: str) -> None:
    """A fresh user's first event of a kind refused with 429: the allowance it used up was
    not its own (shared with other users, or with other kinds)."""
    if refused(reply) and status_of(reply) == 429:
        expect.that(
            "RL-PER-USER-AND-KIND",
            False,
            sent=reply.sent,
            expected=f"success: {what} (limits are per user and per kind)",
            actual=reply.describe(),
        )


async def member(chat: Clients, name: str, room: str, **connect: Any) -> ChatClient:
    """A fresh user that has joined `room`: its first join, so a 429 here means the join
    allowance is not per user."""
    client = await chat.connect(name, **connect)
    reply = await client.request("joinRoom", {"roomId": room})
    shared_allowance(reply, f"the first joinRoom of the fresh user {name}")
    expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=room, success=True)
    return client


async def counted(chat: Clients, kind: str, name: str, room: str, **connect: Any) -> Counted:
    """A user ready to send counted `kind` events: joins go to distinct fresh rooms (D14),
    messages and typing go to `room`, which the user has joined (D16)."""
    if kind == "joinRoom":
        client = await chat.connect(name, **connect)
        return Counted(client, kind, lambda i: {"roomId": f"{room}-j{i}"})
    client = await member(chat, name, room, **connect)
    if kind == "sendMessage":
        return Counted(client, kind, lambda i: {"roomId": room, "content": f"{name} says {i}"})
    # Alternating states, so that every counted typing event is a change (D18).
    return Counted(client, kind, lambda i: {"roomId": room, "isTyping": i % 2 == 0})


async def spend(
    user: Counted, count: int, requirement_id: str, limit: int, *, spent: int = 0
) -> None:
    """Send `count` more counted events, `spent` of this window's allowance being used
    already; each must succeed (they are within the allowance)."""
    for n in range(spent + 1, spent + count + 1):
        reply = await user.send()
        if n == 1:
            shared_allowance(reply, f"the first {user.kind} of a fresh user")
        expect.that(
            requirement_id,
            reply.accepted,
            sent=reply.sent,
            expected=f"success: {user.kind} number {n} of the {limit} allowed per window",
            actual=reply.describe(),
        )


def judge_fairly(started: float, window_ms: int, what: str) -> None:
    elapsed_ms = (time.monotonic() - started) * 1000
    if elapsed_ms > FAIR_SHARE * window_ms:
        raise expect.Inconclusive(
            f"{what} took {elapsed_ms:.0f} ms, more than {FAIR_SHARE:.0%} of the "
            f"{window_ms} ms window: the window may have ended on its own"
        )


async def over_limit(
    send: Callable[[], Any], requirement_id: str, started: float, window_ms: int, limit: int
) -> Reply:
    """Send the event over the allowance; it must be refused (unless the burst took so long
    that the window may have ended, which is inconclusive)."""
    reply: Reply = await send()
    if not refused(reply):
        judge_fairly(started, window_ms, f"the burst of {limit}")
        expect.that(
            requirement_id,
            False,
            sent=reply.sent,
            expected=f"refused: the event after {limit} in one window (statusCode 429)",
            actual=reply.describe(),
        )
    return reply


# -- the table: exact allowance per kind and environment ----------------------------------


@requirement("RL-OVER-LIMIT-429", "ERR-429-RATE-LIMITED", "SEC-RATE-LIMITING")
@pytest.mark.parametrize(("environment", "kind"), cell_params())
async def test_the_documented_allowance_passes_and_the_next_event_gets_429_with_no_effect(
    chat: Clients, room: str, target: Target, settings: Declaration, environment: str, kind: str
) -> None:
    require_environment(target, environment)
    cell = CELLS[environment, kind]
    limit = target.limits[kind]
    window = settings.window_ms
    over_room = f"{room}-over"
    # A witness in the room the refused event names: it must hear nothing of it.
    bob = await member(chat, "bob", over_room if kind == "joinRoom" else room)
    if kind == "typing":
        await bob.request("joinRoom", {"roomId": over_room})
    alice = await counted(chat, kind, "alice", room)
    if kind == "typing":
        await alice.client.request("joinRoom", {"roomId": over_room})
    over_payloads: dict[str, dict[str, Any]] = {
        "sendMessage": {"roomId": room, "content": f"over the limit {room}"},
        "joinRoom": {"roomId": over_room},
        "typing": {"roomId": over_room, "isTyping": True},
    }
    over_payload = over_payloads[kind]

    started = time.monotonic()
    await spend(alice, limit, cell, limit)
    reply = await over_limit(
        lambda: alice.client.request(kind, over_payload), cell, started, window, limit
    )
    # D21/D7: "refused with statusCode 429", as the error object.
    expect.that(
        "RL-OVER-LIMIT-429",
        status_of(reply) == 429,
        sent=reply.sent,
        expected="the error object with statusCode 429",
        actual=reply.describe(),
    )
    # doc "Security Considerations": rate limiting is in force, by the documented table.
    expect.that(
        "SEC-RATE-LIMITING",
        status_of(reply) == 429,
        sent=reply.sent,
        expected=f"the event after the documented allowance of {limit} is refused",
        actual=reply.describe(),
    )
    expect.schema("ERR-429-RATE-LIMITED", "error", reply.payload, sent=reply.sent)
    phrase = reply.payload.get("error")
    expect.that(
        "ERR-429-RATE-LIMITED",
        isinstance(phrase, str) and "too many requests" in phrase.lower(),
        sent=reply.sent,
        expected='error: "Too Many Requests" (doc: "429 | Too Many Requests")',
        actual=reply.describe(),
    )

    # "... and has no effect" (D21): nothing is delivered, joined or broadcast.
    me = alice.client.user_id
    if kind == "sendMessage":
        content = over_payload["content"]
        await expect.nothing(
            "RL-OVER-LIMIT-429",
            [bob, alice.client],
            "receiveMessage",
            sent=reply.sent,
            where=lambda p: p["content"] == content,
            within_ms=target.quiet_ms,
        )
    elif kind == "joinRoom":
        await expect.nothing(
            "RL-OVER-LIMIT-429",
            [bob],
            "userJoined",
            sent=reply.sent,
            where=lambda p: p["userId"] == me and p.get("roomId", over_room) == over_room,
            within_ms=target.quiet_ms,
        )
        await expect.nothing(
            "RL-OVER-LIMIT-429",
            [alice.client],
            "roomUsers",
            sent=reply.sent,
            where=lambda p: p["roomId"] == over_room,
            within_ms=0,
        )
        stats_reply = await bob.request("getRoomStats", {"roomId": over_room})
        room_stats = await expect.received(
            "SRV-ROOM-STATS-RECIPIENTS",
            bob,
            "roomStats",
            sent=stats_reply.sent,
            where=lambda p: p["roomId"] == over_room,
        )
        users = room_stats.get("users") if isinstance(room_stats, Mapping) else None
        expect.that(
            "RL-OVER-LIMIT-429",
            isinstance(users, list)
            and all(isinstance(u, Mapping) and u.get("userId") != me for u in users),
            sent=f"{reply.sent}; then bob asks getRoomStats for {over_room}",
            expected=f"{me} is not among the users of {over_room} after the refused join",
            actual=f"roomStats {show(room_stats)}",
        )
    else:
        await expect.nothing(
            "RL-OVER-LIMIT-429",
            [bob],
            "userTyping",
            sent=reply.sent,
            where=lambda p: p["userId"] == me and p["roomId"] == over_room,
            within_ms=target.quiet_ms,
        )


@requirement("RL-REPEAT-JOIN-COUNTED")
async def test_joining_the_same_room_again_counts_against_the_join_allowance(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    limit = target.limits["joinRoom"]
    alice = await chat.connect("alice")
    user = Counted(alice, "joinRoom", lambda i: {"roomId": room})
    started = time.monotonic()
    await spend(user, limit, "RL-REPEAT-JOIN-COUNTED", limit)
    await over_limit(user.send, "RL-REPEAT-JOIN-COUNTED", started, settings.window_ms, limit)


# -- the violation counter --------------------------------------------------------------


@requirement("RL-VIOLATIONS-COUNTED")
async def test_each_refusal_adds_exactly_one_to_rate_limiting_violations(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    if not settings.metrics:
        expect.not_applicable("the target is declared with metrics off (D24: counters stay 0)")
    kind = "joinRoom"  # the smallest allowance, so the cheapest burst
    limit = target.limits[kind]
    cell = CELLS[target.environment, kind]
    refusals = 3
    for attempt in (1, 2):  # a foreign target's other clients may move the counter: retry once
        user = await counted(chat, kind, f"alice{attempt}", f"{room}-{attempt}")
        before = await expect.json_endpoint(chat.http, "/websocket/stats")
        started = time.monotonic()
        await spend(user, limit, cell, limit)
        for _ in range(refusals):
            await over_limit(user.send, cell, started, settings.window_ms, limit)
        after = await expect.json_endpoint(chat.http, "/websocket/stats")
        grew = (field(after, "rateLimiting", "violations") or 0) - (
            field(before, "rateLimiting", "violations") or 0
        )
        if grew == refusals or attempt == 2:
            expect.that(
                "RL-VIOLATIONS-COUNTED",
                grew == refusals,
                sent=f"{refusals} joinRoom events over the allowance of {limit} (twice)",
                expected=f"rateLimiting.violations grows by exactly {refusals}",
                actual=f"it grew by {grew}: {show(field(before, 'rateLimiting'))} -> "
                f"{show(field(after, 'rateLimiting'))}",
            )
            return


@requirement("RL-OVER-LIMIT-429")
async def test_a_message_refused_with_429_is_not_counted_as_processed(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    # D21 "has no effect", D7 "nothing is counted as processed".
    if not settings.metrics:
        expect.not_applicable("the target is declared with metrics off (D24: counters stay 0)")
    limit = target.limits["sendMessage"]
    cell = CELLS[target.environment, "sendMessage"]
    for attempt in (1, 2):  # a foreign target's other clients may move the counter: retry once
        user = await counted(chat, "sendMessage", f"alice{attempt}", f"{room}-{attempt}")
        before = await expect.json_endpoint(chat.http, "/websocket/stats")
        started = time.monotonic()
        await spend(user, limit, cell, limit)
        reply = await over_limit(user.send, cell, started, settings.window_ms, limit)
        after = await expect.json_endpoint(chat.http, "/websocket/stats")
        grew = (field(after, "messages", "totalProcessed") or 0) - (
            field(before, "messages", "totalProcessed") or 0
        )
        if grew == limit or attempt == 2:
            expect.that(
                "RL-OVER-LIMIT-429",
                grew == limit,
                sent=f"{limit} messages, then {reply.sent} (refused: {reply.describe()})",
                expected=f"messages.totalProcessed grows by {limit}: the refused message is "
                "not processed",
                actual=f"it grew by {grew}",
            )
            return


# -- what the limits apply to -----------------------------------------------------------


@requirement("RL-PER-USER-AND-KIND")
async def test_an_exhausted_join_allowance_limits_neither_other_kinds_nor_other_users(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    # Joins first: the one kind that needs no earlier event, so that a server sharing one
    # allowance across kinds refuses alice's first message below.
    limit = target.limits["joinRoom"]
    alice = Counted(
        await chat.connect("alice"),
        "joinRoom",
        lambda i: {"roomId": room if i == 0 else f"{room}-j{i}"},
    )
    bob = await chat.connect("bob")
    started = time.monotonic()
    await spend(alice, limit, CELLS[target.environment, "joinRoom"], limit)
    reply = await alice.send()
    if not refused(reply):
        judge_fairly(started, settings.window_ms, f"the burst of {limit}")
        raise expect.Inconclusive(f"alice was not limited after {limit} joins")
    # Her whole message allowance is still hers.
    messages = target.limits["sendMessage"]
    writer = Counted(alice.client, "sendMessage", lambda i: {"roomId": room, "content": f"m{i}"})
    await spend(writer, messages, "RL-PER-USER-AND-KIND", messages)
    checks = [
        (alice.client, "typing", {"roomId": room, "isTyping": True}, "her typing"),
        (bob, "joinRoom", {"roomId": room}, "bob's joins (another user)"),
        (bob, "sendMessage", {"roomId": room, "content": "not limited"}, "bob's messages"),
    ]
    for client, event, payload, what in checks:
        answer = await client.request(event, payload)
        expect.that(
            "RL-PER-USER-AND-KIND",
            answer.accepted,
            sent=answer.sent,
            expected=f"success: alice's exhausted join allowance does not limit {what}",
            actual=answer.describe(),
        )


@requirement("RL-PER-USER-ACROSS-SOCKETS")
async def test_one_user_on_two_sockets_shares_one_allowance(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    # D5 (reference): rate limits are per user, not per socket.
    limit = target.limits["joinRoom"]
    first = await counted(chat, "joinRoom", "alice", room)
    second = await chat.connect(
        "alice-2", user_id=first.client.user_id, username=first.client.username
    )
    started = time.monotonic()
    await spend(first, limit, CELLS[target.environment, "joinRoom"], limit)
    reply = await first.send()
    if not refused(reply):
        judge_fairly(started, settings.window_ms, f"the burst of {limit}")
        raise expect.Inconclusive(f"alice was not limited after {limit} joins")
    answer = await second.request("joinRoom", {"roomId": f"{room}-second"})
    if not refused(answer):
        judge_fairly(started, settings.window_ms, f"the burst of {limit}")
    expect.that(
        "RL-PER-USER-ACROSS-SOCKETS",
        refused(answer),
        sent=answer.sent,
        expected=f"429: alice used her {limit} joins on her first socket (limits are per user)",
        actual=answer.describe(),
    )


@requirement("RL-OTHER-EVENTS-UNLIMITED")
async def test_leave_room_get_room_stats_and_heartbeat_are_not_limited(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    count = max(target.limits.values()) + 1  # more than any documented allowance
    joins = target.limits["joinRoom"]
    alice = await counted(chat, "joinRoom", "alice", room)
    started = time.monotonic()
    # First exhaust a limited kind: being limited there must not limit the others.
    for _ in range(joins + 1):
        await alice.send()
    sockets = [alice.client] + [
        await chat.connect(f"alice-{n}", user_id=alice.client.user_id) for n in (2, 3)
    ]
    plans: list[tuple[ChatClient, str, Callable[[int], Any]]] = [
        (sockets[0], "leaveRoom", lambda i: {"roomId": f"{room}-j{i % joins}"}),
        (sockets[1], "getRoomStats", lambda i: {"roomId": room}),
        (sockets[2], "heartbeat", lambda i: None),
    ]

    async def one(client: ChatClient, event: str, data: Any, number: int) -> None:
        reply = await (client.request(event, data) if data is not None else client.request(event))
        expect.that(
            "RL-OTHER-EVENTS-UNLIMITED",
            not (refused(reply) and status_of(reply) == 429),
            sent=reply.sent,
            expected=f"{event} number {number} is not rate limited (only messages, joins "
            "and typing are)",
            actual=reply.describe(),
        )

    async def run(client: ChatClient, event: str, payload: Callable[[int], Any]) -> None:
        # A few in flight at a time, so that the burst stays well inside one window; only
        # a 429 is judged, so a reply taken by a neighbouring request does not matter.
        for first in range(0, count, 8):
            numbers = range(first, min(first + 8, count))
            await asyncio.gather(*(one(client, event, payload(i), i + 1) for i in numbers))

    await asyncio.gather(*(run(*plan) for plan in plans))
    judge_fairly(started, settings.window_ms, f"{count} events of each unlimited kind")


@requirement("RL-INVALID-NOT-COUNTED")
@pytest.mark.parametrize("kind", KINDS)
async def test_refused_invalid_and_non_member_events_do_not_use_up_the_allowance(
    chat: Clients, room: str, target: Target, kind: str
) -> None:
    # D10 (reference): only events that pass validation and membership count.
    limit = target.limits[kind]
    outside = f"{room}-not-joined"
    refusals: dict[str, list[tuple[Any, int]]] = {
        "sendMessage": [
            ({"roomId": room, "content": ""}, 400),
            ({"roomId": room}, 400),
            ({"roomId": outside, "content": "not a member"}, 403),
        ],
        "joinRoom": [({}, 400), ({"roomId": 7}, 400), ({"roomId": ""}, 400)],
        "typing": [
            ({"roomId": room, "isTyping": "yes"}, 400),
            ({"roomId": room}, 400),
            ({"roomId": outside, "isTyping": True}, 403),
        ],
    }
    invalid = refusals[kind]
    user = await counted(chat, kind, "alice", room)
    # The set-up's refusals are judged by their own requirements: a 403 is D16's.
    membership = {"sendMessage": "EVT-SEND-MEMBERSHIP", "typing": "EVT-TYPING-MEMBERSHIP"}
    for payload, status in invalid:
        reply = await user.client.request(kind, payload)
        expect.error_reply(
            membership[kind] if status == 403 else "ERR-400-INVALID-PAYLOAD", reply, status
        )
    for _ in range(limit):
        reply = await user.send()
        expect.that(
            "RL-INVALID-NOT-COUNTED",
            reply.accepted,
            sent=reply.sent,
            expected=f"success: {kind} number {user.sent} of {limit}, after {len(invalid)} "
            "refused (400/403) events that must not count",
            actual=reply.describe(),
        )


# -- the window ------------------------------------------------------------------------


@requirement("RL-WINDOW-RESET", "RL-FIXED-WINDOW")
async def test_the_full_allowance_returns_when_the_window_that_began_with_the_first_event_ends(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    window = settings.window_ms
    if window > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(
            f"the window is {window} ms, longer than --slow-threshold-ms "
            f"{target.slow_threshold_ms}; pass --run-slow to wait for it"
        )
    margin_s = max(0.25, window / 1000 * 0.05)

    async def one_kind(kind: str) -> None:
        limit = target.limits[kind]
        cell = CELLS[target.environment, kind]
        user = await counted(chat, kind, f"{kind}-user", f"{room}-{kind}")
        # The window starts at the first counted event (D21); the rest of the allowance is
        # spent later in the window, so a sliding window would still refuse at its end.
        await spend(user, 1, cell, limit)
        start = user.first_sent_at
        await asyncio.sleep(max(0.0, start + 0.3 * window / 1000 - time.monotonic()))
        await spend(user, limit - 1, cell, limit, spent=1)
        await over_limit(user.send, cell, start, window, limit)
        burst_ended = time.monotonic()

        await asyncio.sleep(
            max(0.0, user.first_answered_at + window / 1000 + margin_s - time.monotonic())
        )
        reply = await user.send()
        if not reply.accepted:
            # Sliding or restarted window, or no reset at all? Wait a window after the
            # burst to tell them apart.
            await asyncio.sleep(max(0.0, burst_ended + window / 1000 + margin_s - time.monotonic()))
            again = await user.send()
            expect.that(
                "RL-WINDOW-RESET",
                again.accepted,
                sent=again.sent,
                expected=f"success: a {window} ms window has ended since the first counted "
                f"{kind} (and since the last)",
                actual=f"{again.describe()}; at the end of the first window: {reply.describe()}",
            )
        expect.that(
            "RL-FIXED-WINDOW",
            reply.accepted,
            sent=reply.sent,
            expected=f"success: the window began with the first counted {kind} "
            f"{(time.monotonic() - start) * 1000:.0f} ms ago and lasts {window} ms",
            actual=f"{reply.describe()} (accepted only a window after the last event)",
        )
        restarted = time.monotonic()
        await spend(user, limit - 1, "RL-WINDOW-RESET", limit, spent=1)
        again = await user.send()
        if not refused(again):
            judge_fairly(restarted, window, f"the second burst of {limit}")
        expect.that(
            "RL-WINDOW-RESET",
            refused(again),
            sent=again.sent,
            expected=f"429: the new window allows {limit} {kind} events, no more",
            actual=again.describe(),
        )

    await asyncio.gather(*(one_kind(kind) for kind in KINDS))


# -- what the health endpoint reports --------------------------------------------------------


@requirement("HEALTH-RATE-LIMITS", "RL-WINDOW-REPORTED")
async def test_health_reports_the_documented_limits_of_the_declared_environment(
    target: Target, http: Http
) -> None:
    body = await expect.json_endpoint(http, "/websocket/health")
    limits = body.get("rateLimits")
    expected = {HEALTH_FIELDS[kind]: target.limits[kind] for kind in KINDS}
    reported = {name: field(body, "rateLimits", name) for name in expected}
    expect.that(
        "HEALTH-RATE-LIMITS",
        reported == expected,
        sent="GET /websocket/health",
        expected=f"rateLimits of NODE_ENV={target.environment} (doc table): {show(expected)}",
        actual=f"rateLimits {show(limits)}",
    )
    window = field(body, "rateLimits", "windowMs")
    declared = target.declared.window_ms
    if declared == DOCUMENTED_WINDOW_MS:
        # doc: "Rate limits reset every 60 seconds."
        expect.that(
            "HEALTH-RATE-LIMITS",
            window == DOCUMENTED_WINDOW_MS,
            sent="GET /websocket/health",
            expected=f"rateLimits.windowMs == {DOCUMENTED_WINDOW_MS} (the document's window)",
            actual=f"rateLimits {show(limits)}",
        )
    # D22 (reference): the window in force, as the user declared it.
    expect.that(
        "RL-WINDOW-REPORTED",
        window == declared,
        sent="GET /websocket/health",
        expected=f"rateLimits.windowMs == {declared} (the declared window)",
        actual=f"rateLimits {show(limits)}",
    )


@requirement("RL-PER-USER-ACROSS-SOCKETS")
async def test_reconnecting_does_not_restore_the_allowance(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    # D5 (reference): the allowance is the user's, so a new socket inherits what is spent.
    limit = target.limits["joinRoom"]
    first = await counted(chat, "joinRoom", "alice", room)
    started = time.monotonic()
    await spend(first, limit, CELLS[target.environment, "joinRoom"], limit)
    await first.client.disconnect()
    again = await chat.connect(
        "alice-again", user_id=first.client.user_id, username=first.client.username
    )
    answer = await again.request("joinRoom", {"roomId": f"{room}-again"})
    if not refused(answer):
        judge_fairly(started, settings.window_ms, f"the burst of {limit} and a reconnect")
    expect.that(
        "RL-PER-USER-ACROSS-SOCKETS",
        refused(answer),
        sent=f"alice joins {limit} rooms, disconnects, reconnects; {answer.sent}",
        expected=f"429: alice used her {limit} joins before reconnecting (limits are per user)",
        actual=answer.describe(),
    )
