"""doc: "Error Codes" 403, 500 and the order of checks (D7, D9, D10, D11, D16)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import ChatClient, Refused
from conformance.clients import Clients
from conformance.target import Declaration, Target

pytestmark = pytest.mark.asyncio

# Signs of internals leaking into a 500 (D9): tracebacks, exception names, source paths.
LEAKS = re.compile(r"Traceback|File \"|\.py\b|\.js:\d|\bat \w+ \(|\b[A-Z]\w*(?:Error|Exception)\b")


@requirement("ERR-FAILED-EVENT-NO-EFFECT")
@pytest.mark.parametrize(
    ("event", "payload"),
    [
        pytest.param(
            "sendMessage",
            {"content": "not a member"},
            id="sendMessage",
            marks=pytest.mark.requirement("EVT-SEND-MEMBERSHIP"),
        ),
        pytest.param(
            "typing",
            {"isTyping": True},
            id="typing",
            marks=pytest.mark.requirement("EVT-TYPING-MEMBERSHIP"),
        ),
    ],
)
async def test_messages_and_typing_for_a_room_not_joined_are_refused_with_403(
    chat: Clients, room: str, event: str, payload: dict[str, object]
) -> None:
    rid = "EVT-SEND-MEMBERSHIP" if event == "sendMessage" else "EVT-TYPING-MEMBERSHIP"
    bob = await chat.member("bob", room)
    alice = await chat.connect("alice")
    reply = await alice.request(event, {"roomId": room, **payload})
    expect.error_reply(rid, reply, 403)
    # D7: a refused event has no effect.
    await expect.nothing(
        "ERR-FAILED-EVENT-NO-EFFECT",
        [bob],
        "receiveMessage" if event == "sendMessage" else "userTyping",
        sent=reply.sent,
        where=lambda p: alice.user_id in (p.get("userId"), (p.get("author") or {}).get("id")),
        within_ms=chat.target.quiet_ms,
    )


@requirement("ERR-500-NO-INTERNALS", "ERR-500-INTERNAL")
@pytest.mark.parametrize(
    "event",
    [
        "joinRoom",
        # Sent without joining the fault room (no socket can join it): a server that checks
        # membership before the fault switch answers 403 (D10, D16, reference only).
        pytest.param("sendMessage", marks=pytest.mark.requirement("ERR-CHECK-ORDER")),
        pytest.param("getRoomStats", marks=pytest.mark.requirement("ERR-CHECK-ORDER")),
    ],
)
async def test_an_unexpected_failure_answers_500_without_internals(
    chat: Clients, target: Target, event: str
) -> None:
    if target.fault_room is None:
        pytest.skip("no --fault-room: cannot make the target fail unexpectedly")
    alice = await chat.connect("alice")
    payload: dict[str, object] = {"roomId": target.fault_room}
    if event == "sendMessage":
        payload["content"] = "trigger"
    reply = await alice.request(event, payload)
    if event != "joinRoom":
        expect.error_reply("ERR-CHECK-ORDER", reply, 500)
    error = expect.error_reply("ERR-500-NO-INTERNALS", reply, 500)
    text = " ".join(str(v) for v in error.values())
    expect.that(
        "ERR-500-NO-INTERNALS",
        not LEAKS.search(text),
        sent=reply.sent,
        expected="no traceback, exception text or source path in the payload",
        actual=expect.show(error),
    )
    after = await alice.request("heartbeat")
    expect.response("ERR-500-INTERNAL", after, "heartbeatResponse", success=True)
    health = await chat.http.get("/websocket/health")
    expect.that(
        "ERR-500-INTERNAL",
        health.status == 200,
        sent=reply.sent,
        expected="the server still answers GET /websocket/health",
        actual=f"HTTP {health.status}",
    )


@requirement("ERR-UNKNOWN-EVENT")
async def test_an_undefined_event_is_refused_with_400_naming_it(chat: Clients) -> None:
    alice = await chat.connect("alice")
    name = f"noSuchEvent{chat.tag}"
    reply = await alice.request(name, {"roomId": "x"})
    error = expect.error_reply("ERR-UNKNOWN-EVENT", reply, 400)
    expect.that(
        "ERR-UNKNOWN-EVENT",
        name in str(error.get("message")),
        sent=reply.sent,
        expected=f"a message naming {name!r}",
        actual=expect.show(error),
    )


# D10 (reference), every pair of refusals: validation (400), the fault switch (500),
# membership (403), the rate limit (429). An event that two checks would refuse gets the
# status of the earlier one.
ORDER_PAIRS = [
    "400-before-500",
    "400-before-403",
    "400-before-429",
    "500-before-403",
    "500-before-429",
    "403-before-429",
]


async def limited(
    client: ChatClient, event: str, payload: Mapping[str, object], started: float, window_ms: int
) -> None:
    """`client`'s allowance for `event` is used up: a valid `payload` gets 429 (else the
    order cannot be judged: no limit in force, or the window ended on its own)."""
    reply = await client.request(event, payload)
    if expect.status_of_error(reply.payload) != 429:
        elapsed = (time.monotonic() - started) * 1000
        raise expect.Inconclusive(
            f"{reply.sent} was not refused with 429 {elapsed:.0f} ms into a {window_ms} ms "
            f"window ({reply.describe()}), so the order of the checks cannot be judged"
        )


@requirement("ERR-CHECK-ORDER")
@pytest.mark.parametrize("pair", ORDER_PAIRS)
async def test_of_two_refusals_the_earlier_check_decides(
    chat: Clients, room: str, target: Target, settings: Declaration, pair: str
) -> None:
    first, second = (int(code) for code in pair.split("-before-"))
    fault = target.fault_room
    if 500 in (first, second) and fault is None:
        pytest.skip("no --fault-room: cannot make the target fail unexpectedly")
    alice = await chat.connect("alice")
    window = settings.window_ms
    # (event, payload): each refused by both checks of the pair.
    both: list[tuple[str, dict[str, object]]] = []
    if second == 429:
        # Use up a kind's allowance first; the event of the pair is then over it.
        started = time.monotonic()
        if first == 403:
            await alice.request("joinRoom", {"roomId": room})
            limit = target.limits["sendMessage"]
            for n in range(limit):
                await alice.request("sendMessage", {"roomId": room, "content": f"m{n}"})
            probe = ("sendMessage", {"roomId": room, "content": "over"})
            both = [("sendMessage", {"roomId": f"{room}-not-joined", "content": "x"})]
        else:
            limit = target.limits["joinRoom"]
            for n in range(limit):
                await alice.request("joinRoom", {"roomId": f"{room}-{n}"})
            probe = ("joinRoom", {"roomId": f"{room}-over"})
            both = [("joinRoom", {"roomId": 7} if first == 400 else {"roomId": fault})]
        await limited(alice, *probe, started, window)
    elif pair == "400-before-500":
        both = [("sendMessage", {"roomId": fault, "content": ""})]
    elif pair == "400-before-403":
        both = [
            ("sendMessage", {"roomId": room, "content": 42}),
            ("typing", {"roomId": room, "isTyping": "yes"}),
        ]
    else:  # 500 before 403: the fault room, which no socket can have joined
        both = [
            ("sendMessage", {"roomId": fault, "content": "x"}),
            ("typing", {"roomId": fault, "isTyping": True}),
        ]
    for event, payload in both:
        reply = await alice.request(event, payload)
        expect.error_reply("ERR-CHECK-ORDER", reply, first)
    if second == 429:
        # Still inside the window that refused the probe: the pair was judged fairly.
        await limited(alice, *probe, started, window)


@requirement("CONN-FAILURE-REFUSED-500")
async def test_a_failure_while_accepting_a_connection_refuses_it_with_500(
    chat: Clients, target: Target
) -> None:
    # D31 (reference): the fault room's name as the token's `sub` makes accepting fail.
    if target.fault_room is None:
        pytest.skip("no --fault-room: cannot make the target fail while accepting")
    client = chat.client("faulty", user_id=target.fault_room)
    token = target.token(client.user_id, client.username)
    refusal: Refused | None = None
    try:
        await client.connect(target.url, token, transport=target.transport)
    except Refused as refused:
        refusal = refused
    error = refusal.data if refusal is not None and isinstance(refusal.data, dict) else {}
    data = error.get("data")
    expect.that(
        "CONN-FAILURE-REFUSED-500",
        error.get("message") == "Internal Server Error"
        and isinstance(data, dict)
        and data.get("statusCode") == 500
        and data.get("success") is False
        and not LEAKS.search(" ".join(str(v) for v in data.values())),
        sent=f"connect with a valid token whose sub is the fault room {target.fault_room!r}",
        expected='refused: message "Internal Server Error", data {success: false, '
        "statusCode: 500, ...} with no internals",
        actual=f"refused: {expect.show(error)}" if refusal else "accepted",
    )


@requirement("ERR-UNKNOWN-EVENT")
@pytest.mark.parametrize("name", ["connect", "disconnect", "*"])
async def test_reserved_and_wildcard_event_names_are_unknown_events(
    chat: Clients, room: str, target: Target, name: str
) -> None:
    # D11: an EVENT packet named like a lifecycle event, or "*", is an event the API does
    # not define; it must not re-run the connection's handlers (alice stays connected, in
    # the room, as herself).
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    reply = await alice.request(name, {"roomId": room})
    error = expect.error_reply("ERR-UNKNOWN-EVENT", reply, 400)
    expect.that(
        "ERR-UNKNOWN-EVENT",
        name in str(error.get("message", "")),
        sent=reply.sent,
        expected=f"a message naming the event {name!r}",
        actual=expect.show(error),
    )
    sent = await alice.request("sendMessage", {"roomId": room, "content": f"after {name}"})
    got = await expect.received(
        "ERR-UNKNOWN-EVENT",
        bob,
        "receiveMessage",
        sent=f"{reply.sent}; then {sent.sent}",
        where=lambda p: p["content"] == f"after {name}",
        expected="alice is still in the room, as herself",
    )
    expect.fields("ERR-UNKNOWN-EVENT", got["author"], sent=sent.sent, id=alice.user_id)
    for event in ("userLeft", "userOffline"):
        await expect.nothing(
            "ERR-UNKNOWN-EVENT",
            [bob],
            event,
            sent=reply.sent,
            where=lambda p: p["userId"] == alice.user_id,
            within_ms=target.quiet_ms,
        )


@requirement("ERR-UNKNOWN-EVENT")
async def test_an_unknown_event_name_is_html_escaped_in_the_message(chat: Clients) -> None:
    alice = await chat.connect("alice")
    reply = await alice.request("<img src=x>", {"roomId": "anything"})
    error = expect.error_reply("ERR-UNKNOWN-EVENT", reply, 400)
    message = str(error.get("message", ""))
    expect.that(
        "ERR-UNKNOWN-EVENT",
        "&lt;img src=x&gt;" in message and "<img" not in message,
        sent=reply.sent,
        expected="a message naming the event HTML-escaped (&lt;img src=x&gt;)",
        actual=expect.show(error),
    )


@requirement("ERR-CHECK-ORDER")
async def test_joins_failing_with_500_use_up_no_join_allowance(
    chat: Clients, target: Target, settings: Declaration, room: str
) -> None:
    # D10 (reference): the fault switch (500) comes before the rate limit, so an event it
    # refuses never reaches the limit and is not counted.
    if target.fault_room is None:
        pytest.skip("no --fault-room: cannot make the target fail unexpectedly")
    limit = target.limits["joinRoom"]
    alice = await chat.connect("alice")
    started = time.monotonic()
    for _ in range(limit + 1):
        reply = await alice.request("joinRoom", {"roomId": target.fault_room})
        expect.error_reply("ERR-CHECK-ORDER", reply, 500)
    replies = [await alice.request("joinRoom", {"roomId": f"{room}-{n}"}) for n in range(limit)]
    elapsed_ms = (time.monotonic() - started) * 1000
    if elapsed_ms > 0.8 * settings.window_ms:
        raise expect.Inconclusive(
            f"{2 * limit + 1} joins took {elapsed_ms:.0f} ms of a {settings.window_ms} ms "
            "window: the window may have ended on its own"
        )
    for reply in replies:
        expect.response("ERR-CHECK-ORDER", reply, "joinedRoom", success=True)
