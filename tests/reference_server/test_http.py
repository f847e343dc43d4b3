"""GET /websocket/health and /websocket/stats (D24, D25) and their CORS (D26)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatrooms_fixtures.tokens import bad_token
from reference_server.clock import iso_timestamp
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import ISO_8601_MS_Z, FakeClock, LiveServer

PATHS = ["/websocket/health", "/websocket/stats"]


async def test_health_with_the_documented_defaults(server: LiveServer) -> None:
    response = await server.get("/websocket/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert ISO_8601_MS_Z.fullmatch(body.pop("timestamp"))
    assert body == {
        "status": "healthy",
        "websocket": {
            "namespace": "/chat",
            "corsOrigin": "http://localhost:5173",
            "connectedUsers": 0,
            "activeRooms": 0,
            "totalTypingUsers": 0,
        },
        "features": {
            "detailedLogging": True,  # D24: "true in development"
            "metrics": True,
            "heartbeat": False,  # off in the tests' base settings
            "heartbeatIntervalMs": 30_000,
            "typingTimeoutMs": 5_000,
        },
        "rateLimits": {
            "windowMs": 60_000,
            "maxMessagesPerWindow": 60,
            "maxJoinsPerWindow": 20,
            "maxTypingEventsPerWindow": 120,
        },
    }


async def test_health_in_production_reports_its_settings_as_given(
    start_server: StartServer,
) -> None:
    live = await start_server(
        NODE_ENV="production",
        JWT_SECRET="a-production-secret-for-the-health-test",
        FRONTEND_URL="https://a.example, https://b.example",
        WS_NAMESPACE="/rooms",
        WS_ENABLE_METRICS="false",
        WS_TYPING_TIMEOUT="2500",
    )
    body = await live.health()
    assert body["websocket"]["namespace"] == "/rooms"
    assert body["websocket"]["corsOrigin"] == "https://a.example, https://b.example"
    assert body["features"] == {
        "detailedLogging": False,
        "metrics": False,
        "heartbeat": False,
        "heartbeatIntervalMs": 30_000,
        "typingTimeoutMs": 2_500,
    }
    assert body["rateLimits"] == {
        "windowMs": 60_000,
        "maxMessagesPerWindow": 30,
        "maxJoinsPerWindow": 10,
        "maxTypingEventsPerWindow": 60,
    }


async def test_stats_of_a_fresh_server_are_all_zero(server: LiveServer) -> None:
    response = await server.get("/websocket/stats")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert ISO_8601_MS_Z.fullmatch(body.pop("timestamp"))
    assert body == {
        "connections": {"current": 0, "total": 0, "totalDisconnections": 0},
        "rooms": {"active": 0, "totalCreated": 0, "details": []},
        "messages": {"totalProcessed": 0},
        "rateLimiting": {"violations": 0},
    }


async def scripted_sequence(live: LiveServer, clock: FakeClock) -> dict[str, str]:
    """Drive a known sequence of actions; return the times (D8 strings) it happened at."""
    times: dict[str, str] = {}

    def at(step: str) -> None:
        clock.advance(1)
        times[step] = iso_timestamp(clock.now())

    alice = await live.connect("alice")
    alice_too = await live.connect("alice")
    bob = await live.connect("bob")
    carol = await live.connect("carol")
    await live.refusal(auth={"token": bad_token("expired", "mallory")})  # not a connection
    at("red created")
    await alice.join("red")
    await bob.join("red")
    at("blue created")
    await alice_too.join("red")
    await bob.join("blue")
    at("bob typing")
    await bob.call("typing", {"roomId": "red", "isTyping": True})
    at("messages")
    for text in ("one", "two"):
        await alice.call("sendMessage", {"roomId": "red", "content": text})
    assert (await bob.call("sendMessage", {"roomId": "red", "content": ""}))["statusCode"] == 400
    at("carol joins")
    await carol.join("green")  # created and removed: counted once in totalCreated
    await carol.call("leaveRoom", {"roomId": "green"})
    for _ in range(19):  # the development join limit is 20: carol's 21st join is refused
        await carol.join("blue")
    assert (await carol.call("joinRoom", {"roomId": "blue"}))["statusCode"] == 429
    at("alice's second socket leaves")
    await alice_too.disconnect()
    return times


async def test_health_and_stats_after_a_scripted_sequence(start_server: StartServer) -> None:
    clock = FakeClock()
    live = await start_server(clock=clock)
    times = await scripted_sequence(live, clock)
    health = await live.health()
    assert health["timestamp"] == iso_timestamp(clock.now())
    assert health["websocket"] == {
        "namespace": "/chat",
        "corsOrigin": "http://localhost:5173",
        "connectedUsers": 3,  # alice (one socket left), bob, carol
        "activeRooms": 2,  # red and blue; green was removed
        "totalTypingUsers": 1,  # bob in red
    }
    stats = await live.stats()
    details = {room.pop("roomId"): room for room in stats["rooms"].pop("details")}
    assert stats == {
        "timestamp": iso_timestamp(clock.now()),
        "connections": {"current": 3, "total": 4, "totalDisconnections": 1},
        "rooms": {"active": 2, "totalCreated": 3},
        "messages": {"totalProcessed": 2},
        "rateLimiting": {"violations": 1},
    }
    assert details == {
        "red": {
            "userCount": 2,
            "typingUsers": 1,
            "createdAt": times["red created"],
            # a socket leaving by disconnect is a leave (D15)
            "lastActivity": times["alice's second socket leaves"],
        },
        "blue": {
            "userCount": 2,
            "typingUsers": 0,
            "createdAt": times["blue created"],
            "lastActivity": times["carol joins"],
        },
    }


async def test_without_metrics_cumulative_counters_stay_zero_and_current_ones_live(
    start_server: StartServer,
) -> None:
    clock = FakeClock()
    live = await start_server(clock=clock, WS_ENABLE_METRICS="false")
    await scripted_sequence(live, clock)
    health = await live.health()
    assert health["features"]["metrics"] is False
    assert (health["websocket"]["connectedUsers"], health["websocket"]["activeRooms"]) == (3, 2)
    assert health["websocket"]["totalTypingUsers"] == 1
    stats = await live.stats()
    assert stats["connections"] == {"current": 3, "total": 0, "totalDisconnections": 0}
    assert (stats["rooms"]["active"], stats["rooms"]["totalCreated"]) == (2, 0)
    assert [room["userCount"] for room in stats["rooms"]["details"]] == [2, 2]
    assert stats["messages"] == {"totalProcessed": 0}
    assert stats["rateLimiting"] == {"violations": 0}


async def test_connected_users_count_users_and_current_connections_count_sockets(
    server: LiveServer,
) -> None:
    for user_id in ("alice", "alice", "alice", "bob"):
        await server.connect(user_id)
    assert (await server.health())["websocket"]["connectedUsers"] == 2
    assert (await server.stats())["connections"]["current"] == 4


async def test_reading_health_and_stats_changes_nothing(server: LiveServer) -> None:
    alice = await server.connect("alice")
    await alice.join("red")
    first = [await server.stats(), await server.health()]
    for path in PATHS * 3:
        assert (await server.get(path)).status_code == 200
    again = [await server.stats(), await server.health()]
    for body in first + again:
        body.pop("timestamp")
    assert first == again


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_the_endpoints_only_answer_get(server: LiveServer, path: str, method: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.request(method, path)
    assert response.status_code == 405


ALLOWED = "https://chat.example.com"
ALSO_ALLOWED = "http://localhost:5173"
FOREIGN = "https://evil.example"


@pytest.fixture
async def cors_server(start_server: StartServer) -> LiveServer:
    return await start_server(FRONTEND_URL=f"{ALLOWED},{ALSO_ALLOWED}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("origin", [ALLOWED, ALSO_ALLOWED])
async def test_an_allowed_origin_gets_access_control_allow_origin(
    cors_server: LiveServer, path: str, origin: str
) -> None:
    response = await cors_server.get(path, headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("path", PATHS)
async def test_another_origin_is_served_without_access_control_allow_origin(
    cors_server: LiveServer, path: str
) -> None:
    response = await cors_server.get(path, headers={"Origin": FOREIGN})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", PATHS)
async def test_a_request_with_no_origin_is_served(cors_server: LiveServer, path: str) -> None:
    response = await cors_server.get(path)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def preflight(live: LiveServer, path: str, origin: str) -> httpx.Response:
    headers: dict[str, Any] = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        return await http.options(path, headers=headers)


@pytest.mark.parametrize("path", PATHS)
async def test_a_preflight_from_an_allowed_origin_is_answered(
    cors_server: LiveServer, path: str
) -> None:
    response = await preflight(cors_server, path, ALLOWED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "GET" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize("path", PATHS)
async def test_a_preflight_from_another_origin_is_refused(
    cors_server: LiveServer, path: str
) -> None:
    response = await preflight(cors_server, path, FOREIGN)
    assert 400 <= response.status_code < 500
    assert "access-control-allow-origin" not in response.headers
