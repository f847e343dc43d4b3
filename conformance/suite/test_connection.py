"""doc: "Connection" (Endpoint, Authentication) and "Error Codes" 401 (D1-D5)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from chatrooms_fixtures.tokens import BAD_KINDS, bad_token, mint
from conformance import expect
from conformance.catalogue import case, requirement
from conformance.client import ChatClient, Refused, TokenChannel
from conformance.clients import Clients
from conformance.target import Target

pytestmark = pytest.mark.asyncio

CHANNELS: tuple[TokenChannel, ...] = ("auth", "header", "query")
# Kinds a bad token can be made of without the target's secret (the rest need --secret).
WITHOUT_SECRET = {"wrong_signature", "alg_none", "malformed", "garbage_segments", "empty"}


async def attempt(
    client: ChatClient,
    target: Target,
    token: str | None,
    via: TokenChannel,
    headers: dict[str, str] | None = None,
) -> tuple[str, Any]:
    """Connect and say what happened: ("refused", connect_error data), ("dropped", None)
    when the server accepted and then closed the socket at once, or ("accepted", None)."""
    try:
        await client.connect(
            target.url, token, via=via, transport=target.transport, headers=headers
        )
    except Refused as refused:
        return "refused", refused.data
    try:
        await asyncio.wait_for(client.disconnected.wait(), target.quiet_ms / 1000)
    except TimeoutError:
        return "accepted", None
    return "dropped", None


@requirement("CONN-ENDPOINT-NAMESPACE", "CONN-HTTP-SAME-PORT")
async def test_the_namespace_and_the_http_endpoints_share_one_port(
    chat: Clients, target: Target
) -> None:
    alice = await chat.connect("alice")
    reply = await alice.request("heartbeat")
    expect.response("CONN-ENDPOINT-NAMESPACE", reply, "heartbeatResponse", success=True)
    health = await chat.http.get("/websocket/health")
    expect.that(
        "CONN-HTTP-SAME-PORT",
        health.status == 200,
        sent=f"GET {target.url}/websocket/health (the Socket.IO port)",
        expected="HTTP 200",
        actual=f"HTTP {health.status}",
    )


@requirement()
@pytest.mark.parametrize(
    "transport",
    [case(t, f"CONN-TRANSPORT-{t.upper()}", id=t) for t in ("websocket", "polling")],
)
async def test_both_socket_io_transports_are_served(
    chat: Clients, target: Target, transport: str
) -> None:
    rid = f"CONN-TRANSPORT-{transport.upper()}"
    alice = chat.client("alice")
    token = target.token(alice.user_id, alice.username)
    try:
        await alice.connect(target.url, token, transport=transport)
    except Refused as refused:
        expect.that(
            rid,
            False,
            sent=f"connect over {transport}",
            expected="a connection",
            actual=f"refused: {refused.reason} {refused.data}",
        )
    reply = await alice.request("heartbeat")
    expect.response(rid, reply, "heartbeatResponse", success=True)


CHANNEL_REQUIREMENTS = {
    "auth": "AUTH-CONNECT-PAYLOAD-TOKEN",
    "header": "AUTH-HEADER-TOKEN",
    "query": "AUTH-QUERY-TOKEN",
}


@requirement()
@pytest.mark.parametrize(
    "via",
    [
        case(via, rid, "AUTH-VALID-TOKEN-ACCEPTED", id=via)
        for via, rid in CHANNEL_REQUIREMENTS.items()
    ],
)
async def test_a_valid_token_is_accepted_on_each_channel(chat: Clients, via: TokenChannel) -> None:
    client = chat.client("alice")
    outcome, data = await attempt(
        client, chat.target, chat.target.token(client.user_id, client.username), via
    )
    for rid in (CHANNEL_REQUIREMENTS[via], "AUTH-VALID-TOKEN-ACCEPTED"):
        expect.that(
            rid,
            outcome == "accepted",
            sent=f"connect with a valid token via {via}",
            expected="the connection is accepted and kept",
            actual=f"{outcome} {expect.show(data)}",
        )


@requirement(
    "SEC-AUTHENTICATION-REQUIRED",
    "AUTH-REFUSAL-CONNECT-ERROR",
    "ERR-401-UNAUTHORIZED",
    "AUTH-REFUSAL-DATA",
)
async def test_a_connection_without_a_token_is_refused_with_the_401_payload(
    chat: Clients, target: Target
) -> None:
    client = chat.client("anonymous")
    outcome, data = await attempt(client, target, None, "auth")
    sent = "connect with no token on any channel"
    expect.that(
        "SEC-AUTHENTICATION-REQUIRED",
        outcome != "accepted",
        sent=sent,
        expected="the connection is not kept",
        actual="accepted and kept",
    )
    expect.that(
        "AUTH-REFUSAL-CONNECT-ERROR",
        outcome == "refused",
        sent=sent,
        expected="refused at CONNECT with connect_error",
        actual="accepted, then disconnected",
    )
    # doc "Error Codes": 401 "Unauthorized - Invalid or missing token", as the
    # connect_error data or as an `error` event before the socket is dropped.
    # The status: statusCode when present, else the `error` phrase (doc "10. Error").
    statuses = [expect.status_of_error(data.get("data")) if isinstance(data, dict) else None]
    statuses += [expect.status_of_error(e.payload) for e in client.received("error")]
    expect.that(
        "ERR-401-UNAUTHORIZED",
        401 in statuses,
        sent=sent,
        expected="statusCode 401 in the refusal",
        actual=expect.show(data),
    )
    check_refusal_payload(data, sent)


def check_refusal_payload(data: Any, sent: str) -> None:
    """D4: connect_error with message `Unauthorized` and the D7 object with 401 as data."""
    expect.that(
        "AUTH-REFUSAL-DATA",
        isinstance(data, dict),
        sent=sent,
        expected="a connect_error carrying {message, data}",
        actual=expect.show(data),
    )
    expect.fields("AUTH-REFUSAL-DATA", data, sent=sent, message="Unauthorized")
    expect.fields(
        "AUTH-REFUSAL-DATA",
        data.get("data"),
        sent=sent,
        success=False,
        error="Unauthorized",
        statusCode=401,
    )
    expect.schema(
        "AUTH-REFUSAL-DATA", "connectRefusal", data.get("data"), sent=sent, level="reference"
    )


# Which requirement each bad kind of token (fixtures/tokens.py BAD_KINDS) tests.
BAD_KIND_REQUIREMENTS = {
    "expired": "AUTH-EXPIRED-TOKEN-REFUSED",
    "not_yet_valid": "AUTH-EXP-NBF-NO-LEEWAY",
    "wrong_signature": "AUTH-UNVERIFIED-TOKEN-REFUSED",
    "alg_none": "AUTH-UNVERIFIED-TOKEN-REFUSED",
    "truncated": "AUTH-UNVERIFIED-TOKEN-REFUSED",
    "hs512": "AUTH-OTHER-ALGORITHM-REFUSED",
    "missing_sub": "AUTH-CLAIMS-REQUIRED",
    "missing_username": "AUTH-CLAIMS-REQUIRED",
    "empty_sub": "AUTH-CLAIMS-REQUIRED",
    "empty_username": "AUTH-CLAIMS-REQUIRED",
    "malformed": "AUTH-MALFORMED-TOKEN-REFUSED",
    "garbage_segments": "AUTH-MALFORMED-TOKEN-REFUSED",
    "empty": "AUTH-MALFORMED-TOKEN-REFUSED",
}


@requirement()
@pytest.mark.parametrize("via", CHANNELS)
@pytest.mark.parametrize(
    "kind",
    [
        case(k, BAD_KIND_REQUIREMENTS.get(k, "AUTH-MALFORMED-TOKEN-REFUSED"), id=k)
        for k in BAD_KINDS
    ],
)
async def test_a_bad_token_is_refused_on_every_channel(
    chat: Clients, target: Target, kind: str, via: TokenChannel
) -> None:
    if target.secret is None and kind not in WITHOUT_SECRET:
        pytest.skip(f"a {kind} token needs the target's secret (--secret)")
    # A kind the token factory gains later is at least a malformed token (D3, documented).
    rid = BAD_KIND_REQUIREMENTS.get(kind, "AUTH-MALFORMED-TOKEN-REFUSED")
    client = chat.client("mallory")
    token = bad_token(kind, client.user_id, secret=target.secret or "not-the-secret")
    outcome, data = await attempt(client, target, token, via)
    sent = f"connect via {via} with a token that is {BAD_KINDS[kind]}"
    expect.that(
        rid,
        outcome != "accepted",
        sent=sent,
        expected="the connection is refused",
        actual="accepted and kept",
    )


@requirement("AUTH-SOURCE-PRECEDENCE")
@pytest.mark.parametrize(("first", "second"), [("auth", "header"), ("header", "query")])
async def test_the_first_token_source_present_is_the_one_judged(
    chat: Clients, target: Target, first: TokenChannel, second: TokenChannel
) -> None:
    client = chat.client("alice")
    good = target.token(client.user_id, client.username)
    bad = "not-a-jwt"
    outcome, data = await attempt_two(client, target, {first: good, second: bad})
    expect.that(
        "AUTH-SOURCE-PRECEDENCE",
        outcome == "accepted",
        sent=f"a valid token via {first} and a bad one via {second}",
        expected=f"accepted ({first} comes first in D2's order)",
        actual=f"{outcome} {expect.show(data)}",
    )


@requirement("AUTH-SOURCE-PRECEDENCE")
@pytest.mark.parametrize(("first", "second"), [("auth", "header"), ("header", "query")])
async def test_a_bad_first_token_is_refused_even_with_a_good_later_one(
    chat: Clients, target: Target, first: TokenChannel, second: TokenChannel
) -> None:
    client = chat.client("alice")
    good = target.token(client.user_id, client.username)
    outcome, data = await attempt_two(client, target, {first: "not-a-jwt", second: good})
    expect.that(
        "AUTH-SOURCE-PRECEDENCE",
        outcome != "accepted",
        sent=f"a bad token via {first} and a valid one via {second}",
        expected=f"refused: {first} is present, so it is judged and never skipped",
        actual=outcome,
    )


async def attempt_two(
    client: ChatClient, target: Target, tokens: dict[TokenChannel, str]
) -> tuple[str, Any]:
    """Connect with tokens on two channels at once."""
    headers = {"Authorization": f"Bearer {tokens['header']}"} if "header" in tokens else None
    if "auth" in tokens:
        return await attempt(client, target, tokens["auth"], "auth", headers)
    # header + query: put the query token in the URL by hand, the header as above.
    from urllib.parse import quote

    query_target = target.at(f"{target.url}/?token={quote(tokens['query'])}")
    return await attempt(client, query_target, None, "auth", headers)


@requirement("AUTH-BEARER-PREFIX-IN-AUTH")
async def test_a_bearer_prefix_inside_auth_token_is_accepted(chat: Clients, target: Target) -> None:
    client = chat.client("alice")
    token = "Bearer " + target.token(client.user_id, client.username)
    outcome, data = await attempt(client, target, token, "auth")
    expect.that(
        "AUTH-BEARER-PREFIX-IN-AUTH",
        outcome == "accepted",
        sent="auth: {token: 'Bearer <valid jwt>'}",
        expected="accepted",
        actual=f"{outcome} {expect.show(data)}",
    )


@requirement("AUTH-REFUSAL-NO-EFFECT", "SEC-AUTHENTICATION-REQUIRED")
async def test_no_event_is_processed_for_an_unauthenticated_socket(
    chat: Clients, target: Target, room: str
) -> None:
    """Speak Engine.IO/Socket.IO by hand: a refused CONNECT followed by events anyway."""
    if target.transport != "websocket":
        pytest.skip("this check speaks the websocket transport by hand")
    ws_url = target.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    ns = target.namespace
    frames: list[str] = []
    sent = (
        f"CONNECT {ns} with a malformed token, then joinRoom and sendMessage for "
        f"{room} on the same socket anyway"
    )
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        await _read_frames(ws, frames, 0.5, until=lambda f: f.startswith("0"))
        await ws.send_str(f"40{ns}," + json.dumps({"token": "not-a-jwt"}))
        await _read_frames(ws, frames, 0.5, until=lambda f: f.startswith(("44", "41")))
        for event in (
            ["joinRoom", {"roomId": room}],
            ["sendMessage", {"roomId": room, "content": "smuggled"}],
        ):
            try:
                await ws.send_str(f"42{ns},1" + json.dumps(event))
            except (ConnectionError, RuntimeError):
                break  # the server closed the socket: nothing can be processed
        await _read_frames(ws, frames, target.quiet_ms / 1000, until=lambda f: False)
    answered = [f for f in frames if f.startswith((f"43{ns}", f"42{ns}"))]
    for rid in ("AUTH-REFUSAL-NO-EFFECT", "SEC-AUTHENTICATION-REQUIRED"):
        expect.that(
            rid,
            not answered,
            sent=sent,
            expected="no answer to the events of a socket whose CONNECT was refused",
            actual=f"frames {answered[:3]}",
        )
    observer = await chat.connect("observer")
    reply = await observer.request("getRoomStats", {"roomId": room})
    asked = f"{sent}; then a valid client asks getRoomStats for {room}"
    refused = reply.event == "error" or (
        isinstance(reply.payload, dict) and reply.payload.get("success") is False
    )
    # A refusal because the room does not exist shows the smuggled join had no effect, as
    # do statistics with nobody in the room; silence shows nothing.
    stats: Any = None
    if not refused:
        stats = await expect.received(
            "SRV-ROOM-STATS-RECIPIENTS",
            observer,
            "roomStats",
            sent=asked,
            where=lambda p: p["roomId"] == room,
        )
    expect.that(
        "AUTH-REFUSAL-NO-EFFECT",
        refused or (isinstance(stats, dict) and stats.get("userCount") == 0),
        sent=asked,
        expected=f"room {room} has no users (userCount 0, or no such room)",
        actual=reply.describe() if refused else f"roomStats {expect.show(stats)}",
    )


async def _read_frames(ws: Any, frames: list[str], timeout_s: float, until: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await ws.receive(timeout=remaining)
        except TimeoutError:
            return
        if message.type != aiohttp.WSMsgType.TEXT:
            return
        frames.append(message.data)
        if message.data == "2":  # Engine.IO ping
            await ws.send_str("3")
        if until(message.data):
            return


@requirement("AUTH-USERNAME-FIRST-SOCKET")
async def test_others_see_the_username_of_the_users_first_socket(
    chat: Clients, room: str, target: Target
) -> None:
    user_id, _ = chat.user("alice")
    bob = await chat.member("bob", room)
    first = await chat.member("alice-1", room, user_id=user_id, username="Alice One")
    await expect.received(
        "AUTH-USERNAME-FIRST-SOCKET",
        bob,
        "userJoined",
        sent="alice joins",
        where=lambda p: p["userId"] == user_id,
    )
    second = await chat.connect("alice-2", user_id=user_id, username="Alice Two")
    await second.request("joinRoom", {"roomId": room})
    reply = await second.request("sendMessage", {"roomId": room, "content": "from two"})
    got = await expect.received(
        "AUTH-USERNAME-FIRST-SOCKET",
        bob,
        "receiveMessage",
        sent=reply.sent,
        where=lambda p: p["content"] == "from two",
    )
    expect.fields(
        "AUTH-USERNAME-FIRST-SOCKET",
        got["author"],
        sent=reply.sent,
        id=user_id,
        username="Alice One",
    )
    del first


@requirement("AUTH-EXTRA-CLAIMS-IGNORED")
async def test_aud_iss_and_jti_claims_are_not_judged(chat: Clients, target: Target) -> None:
    # D32 (reference): a token carrying aud, iss and jti is a valid token all the same.
    if target.secret is None:
        pytest.skip("minting a token with extra claims needs the target's secret (--secret)")
    client = chat.client("alice")
    extra = {"aud": "some-other-service", "iss": "https://issuer.invalid", "jti": 12345}
    token = mint(client.user_id, client.username, secret=target.secret, extra=extra)
    outcome, data = await attempt(client, target, token, "auth")
    expect.that(
        "AUTH-EXTRA-CLAIMS-IGNORED",
        outcome == "accepted",
        sent=f"connect with a valid token that also carries {expect.show(extra)}",
        expected="accepted",
        actual=f"{outcome} {expect.show(data)}",
    )


# D3 (reference) at its edges: exp and nbf with no leeway, in whole seconds as JWTs count
# them; iat is not judged. (edge, requirement, claims from `now`, accepted?)
TIME_EDGES: dict[str, tuple[str, Callable[[int], dict[str, int]], bool]] = {
    "exp-now": ("AUTH-EXP-NBF-NO-LEEWAY", lambda now: {"exp": now}, False),
    "exp-1s-ago": ("AUTH-EXP-NBF-NO-LEEWAY", lambda now: {"exp": now - 1}, False),
    "exp-in-2s": ("AUTH-EXP-NBF-NO-LEEWAY", lambda now: {"exp": now + 2}, True),
    "nbf-now": ("AUTH-EXP-NBF-NO-LEEWAY", lambda now: {"nbf": now}, True),
    "nbf-in-2s": ("AUTH-EXP-NBF-NO-LEEWAY", lambda now: {"nbf": now + 2}, False),
    "iat-in-an-hour": ("AUTH-EXTRA-CLAIMS-IGNORED", lambda now: {"iat": now + 3600}, True),
}


@requirement()
@pytest.mark.parametrize(
    "edge", [case(name, rid, id=name) for name, (rid, _, _) in TIME_EDGES.items()]
)
async def test_token_times_are_judged_to_the_second_without_leeway(
    chat: Clients, target: Target, edge: str
) -> None:
    if target.secret is None:
        pytest.skip("minting tokens with chosen times needs the target's secret (--secret)")
    rid, claims, accepted = TIME_EDGES[edge]
    client = chat.client("alice")
    # Whole seconds, as in a JWT: `now` is at most a second behind the server's clock, so
    # "exp: now" has passed, "nbf: now" has begun, and "+2" is more than a second ahead.
    now = int(time.time())
    extra = claims(now)
    token = mint(client.user_id, client.username, secret=target.secret, extra=extra)
    outcome, data = await attempt(client, target, token, "auth")
    if time.time() >= now + 2 and edge in ("exp-in-2s", "nbf-in-2s"):
        raise expect.Inconclusive(f"connecting took until {time.time() - now:.1f} s after `now`")
    expect.that(
        rid,
        (outcome == "accepted") == accepted,
        sent=f"connect with a valid token whose {expect.show(extra)} (now = {now})",
        expected="accepted" if accepted else "refused (no leeway)",
        actual=f"{outcome} {expect.show(data)}",
    )


@requirement("AUTH-REFUSAL-NO-EFFECT")
async def test_a_refused_connection_announces_nobody_online(chat: Clients, target: Target) -> None:
    bob = await chat.connect("bob")
    mallory = chat.client("mallory")
    outcome, data = await attempt(mallory, target, "not-a-jwt", "auth")
    sent = f"connect as {mallory.user_id} with a malformed token"
    expect.that(
        "AUTH-REFUSAL-NO-EFFECT",
        outcome != "accepted",
        sent=sent,
        expected="the connection is not kept",
        actual=f"{outcome} {expect.show(data)}",
    )
    await expect.nothing(
        "AUTH-REFUSAL-NO-EFFECT",
        [bob],
        "userOnline",
        sent=sent,
        where=lambda p: p["userId"] == mallory.user_id,
        within_ms=target.quiet_ms,
    )


@requirement("CONN-INVALID-NAMESPACE")
async def test_another_namespace_is_refused_with_invalid_namespace(
    chat: Clients, target: Target
) -> None:
    # D1: Socket.IO's usual refusal, a connect_error whose message is "Invalid namespace".
    other = "/not-" + target.namespace.strip("/") + "-" + chat.tag
    intruder = chat.client("intruder", namespace=other)
    outcome, data = await attempt(intruder, target, target.token(intruder.user_id, "x"), "auth")
    expect.that(
        "CONN-INVALID-NAMESPACE",
        outcome == "refused"
        and isinstance(data, dict)
        and data.get("message") == "Invalid namespace",
        sent=f"connect to namespace {other} with a valid token",
        expected='refused with connect_error {message: "Invalid namespace"}',
        actual=f"{outcome} {expect.show(data)}",
    )


# D3 at the ends of the calendar: a time claim no date can hold is still a time, and is
# judged (never a crash): (claims, requirement).
CALENDAR_EDGES = {
    "nbf-beyond-year-9999": ({"nbf": 1e20}, "AUTH-EXP-NBF-NO-LEEWAY"),
    "exp-before-year-1": ({"exp": -1e20}, "AUTH-EXPIRED-TOKEN-REFUSED"),
}


@requirement()
@pytest.mark.parametrize(
    "edge", [case(name, rid, id=name) for name, (_, rid) in CALENDAR_EDGES.items()]
)
async def test_a_token_with_a_time_beyond_the_calendar_is_refused(
    chat: Clients, target: Target, edge: str
) -> None:
    if target.secret is None:
        pytest.skip("minting a token with chosen times needs the target's secret (--secret)")
    extra, rid = CALENDAR_EDGES[edge]
    client = chat.client("alice")
    token = mint(client.user_id, client.username, secret=target.secret, extra=extra)
    outcome, data = await attempt(client, target, token, "auth")
    expect.that(
        rid,
        outcome != "accepted",
        sent=f"connect with a valid token whose {expect.show(extra)}",
        expected="refused",
        actual=f"{outcome} {expect.show(data)}",
    )


async def open_connections(chat: Clients) -> Any:
    stats = await expect.json_endpoint(chat.http, "/websocket/stats")
    connections = stats.get("connections")
    return connections.get("current") if isinstance(connections, dict) else None


@requirement("AUTH-USERNAME-FIRST-SOCKET")
async def test_when_the_first_socket_closes_the_oldest_open_one_names_the_user(
    chat: Clients, room: str
) -> None:
    user_id, _ = chat.user("alice")
    bob = await chat.member("bob", room)
    first = await chat.member("alice-1", room, user_id=user_id, username="Alice One")
    second = await chat.member("alice-2", room, user_id=user_id, username="Alice Two")
    before = await open_connections(chat)
    await first.disconnect()
    # The close is the server's to process (on another node, perhaps): wait until its
    # live figures show it, so that the message below is judged after it.
    deadline = time.monotonic() + chat.target.timeout_ms / 1000
    while await open_connections(chat) != before - 1:
        if time.monotonic() > deadline:
            raise expect.Inconclusive(
                "the server's connections.current never showed alice's first socket closed"
            )
        await asyncio.sleep(0.02)
    reply = await second.request("sendMessage", {"roomId": room, "content": "now the only one"})
    sent = f"alice closes her first socket; {reply.sent}"
    got = await expect.received(
        "AUTH-USERNAME-FIRST-SOCKET",
        bob,
        "receiveMessage",
        sent=sent,
        where=lambda p: p["content"] == "now the only one",
    )
    expect.fields(
        "AUTH-USERNAME-FIRST-SOCKET", got["author"], sent=sent, id=user_id, username="Alice Two"
    )
