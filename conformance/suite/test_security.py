"""doc: "Security Considerations" (D13, D26): HTML escaping of message content and of
usernames wherever they are delivered, and CORS on the Socket.IO handshake and the HTTP
endpoints. (Authentication, D4, is checked in test_connection.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from chatrooms_fixtures.escaping import escape, has_raw_markup, is_escaped_once
from conformance import expect
from conformance.catalogue import requirement
from conformance.client import ChatClient, Refused
from conformance.clients import Clients
from conformance.expect import show
from conformance.http import Http
from conformance.target import Target

pytestmark = pytest.mark.asyncio

HEALTH = "/websocket/health"
STATS = "/websocket/stats"
TRANSPORTS = ("websocket", "polling")
FOREIGN_ORIGIN = "http://foreign-origin.invalid"


def judge_escaping(
    requirement_raw: str, requirement_once: str, raw: str, delivered: Any, where: str
) -> None:
    """`delivered` shows no raw `< > " '` (requirement_raw) and is `raw` escaped exactly
    once (requirement_once)."""
    expect.that(
        requirement_raw,
        isinstance(delivered, str) and not has_raw_markup(delivered),
        sent=f"{raw!r} ({where})",
        expected="no raw < > \" ' characters (HTML escaped)",
        actual=show(delivered),
    )
    assert isinstance(delivered, str)
    expect.that(
        requirement_once,
        is_escaped_once(raw, delivered),
        sent=f"{raw!r} ({where})",
        expected=f"escaped once on the raw input (any entity for a quote): {escape(raw)!r}",
        actual=show(delivered),
    )


# -- D13: content --------------------------------------------------------------------------

CONTENT = "<script>alert(\"x\")</script> & 'quoted' &amp; &lt;b&gt; <img src=x onerror=1>"


@requirement("SEC-XSS-CONTENT-ESCAPED", "SEC-XSS-ESCAPED-ONCE")
async def test_message_content_is_html_escaped_once_in_message_sent_and_receive_message(
    chat: Clients, room: str
) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": CONTENT})
    response = expect.response("EVT-SEND-RESPONSE", reply, "messageSent", success=True)
    message = response.get("message")
    expect.that(
        "EVT-SEND-RESPONSE",
        isinstance(message, Mapping),
        sent=reply.sent,
        expected="messageSent.message, an object",
        actual=reply.describe(),
    )
    assert isinstance(message, Mapping)
    judge_escaping(
        "SEC-XSS-CONTENT-ESCAPED",
        "SEC-XSS-ESCAPED-ONCE",
        CONTENT,
        message.get("content"),
        "messageSent.message.content",
    )
    for client in (bob, alice):
        received = await expect.received(
            "SRV-RECEIVE-MESSAGE-RECIPIENTS",
            client,
            "receiveMessage",
            sent=reply.sent,
            where=lambda p: p["id"] == message.get("id"),
        )
        judge_escaping(
            "SEC-XSS-CONTENT-ESCAPED",
            "SEC-XSS-ESCAPED-ONCE",
            CONTENT,
            received.get("content"),
            f"receiveMessage.content at {client.name}",
        )


# -- D13: usernames -------------------------------------------------------------------------


def usernames_in(event: str, payload: Any) -> list[Any]:
    """Where each server event carries a username (doc "Server to Client Events")."""
    if not isinstance(payload, Mapping):
        return [None]
    if event == "receiveMessage":
        author = payload.get("author")
        return [author.get("username") if isinstance(author, Mapping) else None]
    if event in ("roomUsers", "roomStats"):
        users = payload.get("users")
        return (
            [u.get("username") for u in users if isinstance(u, Mapping)]
            if isinstance(users, list)
            else [None]
        )
    return [payload.get("username")]


@requirement("SEC-XSS-USERNAME-ESCAPED")
async def test_a_username_from_the_token_is_escaped_in_every_event_that_carries_it(
    chat: Clients, room: str, target: Target, http: Http
) -> None:
    raw = f"<b>&\"'x</b>-{chat.tag}"
    bob = await chat.member("bob", room)
    alice = await chat.connect("alice", username=raw)
    me = alice.user_id
    await alice.request("joinRoom", {"roomId": room})
    await bob.request("getRoomStats", {"roomId": room})
    sent_message = await alice.request("sendMessage", {"roomId": room, "content": "hello"})
    await alice.request("typing", {"roomId": room, "isTyping": True})
    await alice.request("leaveRoom", {"roomId": room})
    await alice.disconnect()

    def in_room(p: Any) -> bool:
        return bool(p["roomId"] == room)

    def about_alice(p: Any) -> bool:
        return bool(p["userId"] == me)

    deliveries: list[tuple[ChatClient, str, Any]] = [
        (bob, "userOnline", about_alice),
        (bob, "userJoined", about_alice),
        (alice, "roomUsers", in_room),
        (bob, "roomStats", lambda p: in_room(p) and p["userCount"] >= 2),
        (bob, "receiveMessage", lambda p: p["author"]["id"] == me),
        (bob, "userTyping", about_alice),
        (bob, "userLeft", about_alice),
        (bob, "userOffline", about_alice),
    ]
    seen = 0
    for client, event, where in deliveries:
        got = await client.next(event, where=where)
        if got is None:
            continue  # a missing event is judged by its own requirement, not here
        seen += 1
        names = usernames_in(event, got.payload)
        if event in ("roomUsers", "roomStats"):
            names = [n for n in names if n != bob.username]
        for name in names:
            judge_escaping(
                "SEC-XSS-USERNAME-ESCAPED",
                "SEC-XSS-USERNAME-ESCAPED",
                raw,
                name,
                f"{event} to {client.name}",
            )
    response = sent_message.payload if isinstance(sent_message.payload, Mapping) else {}
    author = response.get("message", {}).get("author") if response else None
    if isinstance(author, Mapping):
        seen += 1
        judge_escaping(
            "SEC-XSS-USERNAME-ESCAPED",
            "SEC-XSS-USERNAME-ESCAPED",
            raw,
            author.get("username"),
            "messageSent.message.author.username",
        )
    if not seen:
        raise expect.Inconclusive("no event carrying alice's username arrived")


# -- D26: CORS -------------------------------------------------------------------------------


def configured_origins(target: Target) -> list[str]:
    """The allowed origins the user declared (--allowed-origins; the document's default
    http://localhost:5173 when silent), never what the target reports (D26)."""
    return list(target.declared.allowed_origins)


def allowed_origin(target: Target) -> str:
    origins = [o for o in configured_origins(target) if o != "*"]
    if not origins:
        expect.not_applicable("the target is declared to allow any origin (--allowed-origins=*)")
    return origins[0]


def foreign_origins_refused(target: Target) -> None:
    if "*" in configured_origins(target):
        expect.not_applicable("the target is declared to allow any origin (--allowed-origins=*)")


async def handshake(
    chat: Clients, name: str, target: Target, transport: str, origin: str | None
) -> tuple[bool, str]:
    """Connect a fresh user with a valid token and this Origin; (accepted, detail)."""
    client = chat.client(name)
    headers = {"Origin": origin} if origin else None
    try:
        await client.connect(
            target.url,
            target.token(client.user_id, client.username),
            transport=transport,
            headers=headers,
        )
    except Refused as refused:
        return False, f"refused: {refused.reason} {show(refused.data)}"
    accepted = client.connected
    await client.disconnect()
    return accepted, "accepted" if accepted else "not connected"


@requirement("SEC-CORS-HANDSHAKE-REFUSED", "CFG-FRONTEND-URL")
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_handshake_from_a_foreign_origin_is_refused_and_from_the_allowed_one_accepted(
    chat: Clients, target: Target, http: Http, transport: str
) -> None:
    allowed = allowed_origin(target)
    # Concurrently: closing a polling client takes a while.
    (ok, detail), (foreign_ok, foreign_detail) = await asyncio.gather(
        handshake(chat, "alice", target, transport, allowed),
        handshake(chat, "mallory", target, transport, FOREIGN_ORIGIN),
    )
    expect.that(
        "CFG-FRONTEND-URL",
        ok,
        sent=f"Socket.IO handshake over {transport} with Origin: {allowed}",
        expected="accepted (the configured FRONTEND_URL)",
        actual=detail,
    )
    expect.that(
        "SEC-CORS-HANDSHAKE-REFUSED",
        not foreign_ok,
        sent=f"Socket.IO handshake over {transport} with Origin: {FOREIGN_ORIGIN}",
        expected="refused (a 4xx or a connect error)",
        actual=foreign_detail,
    )


@requirement("SEC-CORS-HTTP-ALLOW-ORIGIN")
@pytest.mark.parametrize("path", (HEALTH, STATS))
async def test_http_endpoints_allow_the_configured_origin_only(
    target: Target, http: Http, path: str
) -> None:
    allowed = allowed_origin(target)
    reply = await http.get(path, {"Origin": allowed})
    acao = reply.headers.get("access-control-allow-origin")
    expect.that(
        "SEC-CORS-HTTP-ALLOW-ORIGIN",
        reply.status == 200 and acao in (allowed, "*"),
        sent=f"GET {path} with Origin: {allowed}",
        expected=f"200 with Access-Control-Allow-Origin: {allowed}",
        actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
    )
    reply = await http.get(path, {"Origin": FOREIGN_ORIGIN})
    acao = reply.headers.get("access-control-allow-origin")
    expect.that(
        "SEC-CORS-HTTP-ALLOW-ORIGIN",
        acao is None or (acao.strip() not in (FOREIGN_ORIGIN, "*", "null")),
        sent=f"GET {path} with Origin: {FOREIGN_ORIGIN}",
        expected="no Access-Control-Allow-Origin that admits the foreign origin",
        actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
    )


@requirement("SEC-CORS-PREFLIGHT-REFUSED")
@pytest.mark.parametrize("path", (HEALTH, STATS))
async def test_a_preflight_from_a_foreign_origin_is_refused(
    target: Target, http: Http, path: str
) -> None:
    headers = {
        "Origin": FOREIGN_ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "content-type",
    }
    foreign_origins_refused(target)
    reply = await http.request("OPTIONS", path, headers)
    acao = reply.headers.get("access-control-allow-origin")
    admits = acao is not None and acao.strip() in (FOREIGN_ORIGIN, "*")
    expect.that(
        "SEC-CORS-PREFLIGHT-REFUSED",
        not (200 <= reply.status < 300 and admits),
        sent=f"OPTIONS {path} (preflight) with Origin: {FOREIGN_ORIGIN}",
        expected="refused: a non-2xx status or no Access-Control-Allow-Origin for it",
        actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
    )


@requirement("SEC-CORS-NO-ORIGIN-SERVED")
async def test_requests_without_an_origin_are_served(
    chat: Clients, target: Target, http: Http
) -> None:
    for path in (HEALTH, STATS):
        reply = await http.get(path, {})
        expect.that(
            "SEC-CORS-NO-ORIGIN-SERVED",
            reply.status == 200,
            sent=f"GET {path} with no Origin header",
            expected="200",
            actual=f"{reply.status} {reply.body[:200]!r}",
        )
    outcomes = await asyncio.gather(
        *(handshake(chat, f"cli-{t}", target, t, None) for t in TRANSPORTS)
    )
    for transport, (ok, detail) in zip(TRANSPORTS, outcomes, strict=True):
        expect.that(
            "SEC-CORS-NO-ORIGIN-SERVED",
            ok,
            sent=f"Socket.IO handshake over {transport} with no Origin header",
            expected="accepted (a non-browser client)",
            actual=detail,
        )


@requirement("SEC-CORS-ORIGIN-LIST")
async def test_every_origin_of_a_comma_separated_frontend_url_is_allowed(
    chat: Clients, target: Target, http: Http
) -> None:
    origins = [o for o in configured_origins(target) if o != "*"]
    if len(origins) < 2:
        expect.not_applicable(
            f"the target is declared with one allowed origin ({', '.join(origins) or 'none'})"
        )
    outcomes = await asyncio.gather(
        *(handshake(chat, f"alice{n}", target, "websocket", o) for n, o in enumerate(origins))
    )
    for origin, (ok, detail) in zip(origins, outcomes, strict=True):
        reply = await http.get(HEALTH, {"Origin": origin})
        acao = reply.headers.get("access-control-allow-origin")
        expect.that(
            "SEC-CORS-ORIGIN-LIST",
            acao in (origin, "*"),
            sent=f"GET {HEALTH} with Origin: {origin}",
            expected=f"Access-Control-Allow-Origin: {origin}",
            actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
        )
        expect.that(
            "SEC-CORS-ORIGIN-LIST",
            ok,
            sent=f"Socket.IO handshake over websocket with Origin: {origin}",
            expected="accepted",
            actual=detail,
        )
