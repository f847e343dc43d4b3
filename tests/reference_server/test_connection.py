"""Connecting: token sources and precedence (D2), token rules (D3), the refusal payload
(D4), the namespace (D1) and the handshake's Origin (D26)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatrooms_fixtures.tokens import BAD_KINDS, bad_token, mint
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import (
    ISO_8601_MS_Z,
    ConnectRefused,
    LiveServer,
    assert_silent,
    engineio_websocket,
    frames,
    packet_data,
)


def by_auth(token: str) -> dict[str, Any]:
    return {"auth": {"token": token}}


def by_header(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def by_query(token: str) -> dict[str, Any]:
    return {"query": f"token={token}"}


# D2: "the Socket.IO CONNECT auth payload ..., the `Authorization: Bearer <jwt>` header, or
# the `token` query parameter".
CHANNELS = {"auth.token": by_auth, "Authorization header": by_header, "query": by_query}


def assert_d4_refusal(data: Any) -> dict[str, Any]:
    """D4: connect_error message `Unauthorized`, data the D7 object with statusCode 401."""
    assert isinstance(data, dict), data
    assert data["message"] == "Unauthorized", data
    detail: dict[str, Any] = data["data"]
    assert set(detail) == {"success", "error", "message", "statusCode", "timestamp"}, detail
    assert detail["success"] is False
    assert detail["error"] == "Unauthorized"
    assert detail["statusCode"] == 401
    assert isinstance(detail["message"], str) and detail["message"]
    assert ISO_8601_MS_Z.fullmatch(detail["timestamp"])
    return detail


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", BAD_KINDS)
async def test_bad_tokens_are_refused_at_connect_with_the_401_payload(
    server: LiveServer, channel: str, kind: str
) -> None:
    token = bad_token(kind, "mallory", secret=server.settings.jwt_secret.reveal())
    data = await server.refusal(**CHANNELS[channel](token))
    assert_d4_refusal(data)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_valid_token_is_accepted_from_each_source(server: LiveServer, channel: str) -> None:
    alice = await server.connect("alice", **CHANNELS[channel](server.token("alice", "Alice")))
    bob = await server.connect("bob")
    await alice.join("lobby")
    await bob.join("lobby")
    joined = await alice.next("userJoined")
    assert joined["userId"] == "bob"
    reply = await alice.call("sendMessage", {"roomId": "lobby", "content": "hi"})
    assert reply["message"]["author"] == {"id": "alice", "username": "Alice"}


async def test_an_unexpected_failure_at_connect_refuses_with_500_and_no_internals(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals /srv/app.py")

    monkeypatch.setattr("reference_server.events.decode_token", broken)
    data = await server.refusal(auth={"token": server.token("alice", "Alice")})
    assert data["message"] == "Internal Server Error"
    assert data["data"]["statusCode"] == 500
    assert "internals" not in str(data) and ".py" not in str(data)
    monkeypatch.undo()
    await server.connect("bob")  # and the server goes on accepting


async def test_a_connection_with_no_token_anywhere_is_refused(server: LiveServer) -> None:
    detail = assert_d4_refusal(await server.refusal(auth={}))
    assert detail["message"].startswith("missing token")


@pytest.mark.parametrize(
    ("how", "accepted"),
    [
        pytest.param(lambda good, bad: {**by_auth(good), **by_header(bad)}, True,
                     id="valid auth.token, invalid header"),
        pytest.param(lambda good, bad: {**by_auth(bad), **by_header(good)}, False,
                     id="invalid auth.token, valid header"),
        pytest.param(lambda good, bad: {**by_auth(bad), **by_query(good)}, False,
                     id="invalid auth.token, valid query"),
        pytest.param(lambda good, bad: {**by_header(bad), **by_query(good)}, False,
                     id="invalid header, valid query"),
        pytest.param(lambda good, bad: {**by_header(good), **by_query(bad)}, True,
                     id="valid header, invalid query"),
        pytest.param(lambda good, bad: by_auth(f"Bearer {good}"), True,
                     id="Bearer prefix inside auth.token"),
    ],
)  # fmt: skip
async def test_the_first_source_present_is_judged_and_never_skipped(
    server: LiveServer, how: Any, accepted: bool
) -> None:
    good = server.token("alice")
    bad = bad_token("wrong_signature", "alice")
    if accepted:
        alice = await server.connect("alice", **how(good, bad))
        assert (await alice.call("heartbeat"))["success"] is True
    else:
        assert_d4_refusal(await server.refusal(**how(good, bad)))


async def test_a_development_token_is_refused_by_a_server_with_its_own_secret(
    start_server: StartServer,
) -> None:
    live = await start_server(NODE_ENV="production", JWT_SECRET="the-production-secret-0123456789")
    detail = assert_d4_refusal(await live.refusal(auth={"token": mint("alice")}))
    assert "signature" in detail["message"]
    await live.connect("alice")  # minted with the server's own secret


async def test_a_token_with_a_time_beyond_the_calendar_is_refused_promptly(
    server: LiveServer,
) -> None:
    token = mint("alice", secret=server.settings.jwt_secret.reveal(), extra={"nbf": 1e20})
    detail = assert_d4_refusal(await server.refusal(auth={"token": token}))
    assert "not valid before" in detail["message"]


async def test_refused_connections_announce_nothing_and_are_not_counted(
    server: LiveServer,
) -> None:
    bob = await server.connect("bob")
    await server.refusal(auth={"token": bad_token("expired", "mallory")})
    await assert_silent((bob, "userOnline"))
    stats = await server.stats()
    assert stats["connections"] == {"current": 1, "total": 1, "totalDisconnections": 0}
    assert (await server.health())["websocket"]["connectedUsers"] == 1


async def test_no_event_is_processed_for_a_socket_whose_connect_was_refused(
    server: LiveServer,
) -> None:
    """Speaks Engine.IO/Socket.IO by hand, because a stock client stops after a refusal."""
    async with engineio_websocket(server) as ws:
        # Events before any CONNECT, then a refused CONNECT, then events again.
        await ws.send('42/chat,1["joinRoom",{"roomId":"sneaky"}]')
        await ws.send('40/chat,{"token":"not-a-jwt"}')
        refusal = str(await asyncio.wait_for(ws.recv(), 5))
        assert_d4_refusal(packet_data(refusal, "44/chat,"))  # CONNECT_ERROR
        await ws.send('42/chat,2["joinRoom",{"roomId":"sneaky"}]')
        await ws.send('42/chat,3["sendMessage",{"roomId":"sneaky","content":"hi"}]')
        await ws.send('42/chat,4["heartbeat"]')
        assert await frames(ws) == []
    stats = await server.stats()
    assert stats["rooms"] == {"active": 0, "totalCreated": 0, "details": []}
    assert stats["connections"]["total"] == 0
    assert stats["messages"]["totalProcessed"] == 0


@pytest.mark.parametrize("namespace", ["/other", "/", "/chat/rooms", "/Chat"])
async def test_other_namespaces_are_refused(server: LiveServer, namespace: str) -> None:
    data = await server.refusal(namespace=namespace, auth={"token": server.token("alice")})
    assert data == {"message": "Invalid namespace"}


async def test_a_configured_namespace_replaces_chat(start_server: StartServer) -> None:
    live = await start_server(WS_NAMESPACE="/rooms")
    alice = await live.connect("alice", namespace="/rooms")
    await alice.join("lobby")
    data = await live.refusal(namespace="/chat", auth={"token": live.token("bob")})
    assert data == {"message": "Invalid namespace"}


ALLOWED = "https://chat.example.com"
ALSO_ALLOWED = "http://localhost:5173"


@pytest.fixture
async def cors_server(start_server: StartServer) -> LiveServer:
    return await start_server(FRONTEND_URL=f"{ALLOWED}, {ALSO_ALLOWED}")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("origin", [ALLOWED, ALSO_ALLOWED])
async def test_a_handshake_from_an_allowed_origin_is_accepted(
    cors_server: LiveServer, origin: str, transport: str
) -> None:
    alice = await cors_server.connect(
        "alice",
        auth={"token": cors_server.token("alice")},
        headers={"Origin": origin},
        transport=transport,
    )
    assert (await alice.call("heartbeat"))["success"] is True


# Over polling, python-engineio's client trips over the 400's text body, so the polling
# handshake is checked over plain HTTP below.
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://chat.example.com.evil.example", "null"]
)
async def test_a_handshake_from_another_origin_is_refused(
    cors_server: LiveServer, origin: str
) -> None:
    with pytest.raises(ConnectRefused):
        await cors_server.connect(
            "alice", auth={"token": cors_server.token("alice")}, headers={"Origin": origin}
        )
    assert (await cors_server.stats())["connections"]["total"] == 0


async def test_the_polling_handshake_from_another_origin_gets_a_4xx(
    cors_server: LiveServer,
) -> None:
    response = await cors_server.get(
        "/socket.io/?EIO=4&transport=polling", headers={"Origin": "https://evil.example"}
    )
    assert 400 <= response.status_code < 500
    assert "access-control-allow-origin" not in response.headers
    allowed = await cors_server.get(
        "/socket.io/?EIO=4&transport=polling", headers={"Origin": ALLOWED}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED


async def test_frontend_url_star_lets_any_origin_connect(start_server: StartServer) -> None:
    live = await start_server(FRONTEND_URL="*")
    alice = await live.connect(
        "alice", auth={"token": live.token("alice")}, headers={"Origin": "https://any.example"}
    )
    assert (await alice.call("heartbeat"))["success"] is True
