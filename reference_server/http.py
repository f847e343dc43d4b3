"""GET /websocket/health and GET /websocket/stats (doc: "Health Check Endpoints"; D24-D26)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference_server.clock import Clock, iso_timestamp
from reference_server.config import Settings
from reference_server.state import Counters, Store


async def health(settings: Settings, store: Store, clock: Clock) -> dict[str, Any]:
    limits = settings.limits
    users = await store.connected_users()
    rooms = len(await store.rooms())
    typing = await store.typing_pairs()
    return {
        "status": "healthy",
        "timestamp": iso_timestamp(clock.now()),
        "websocket": {
            "namespace": settings.namespace,
            "corsOrigin": settings.frontend_url,  # D24: "the configured value as given"
            "connectedUsers": users,  # D24: distinct users
            "activeRooms": rooms,
            "totalTypingUsers": typing,  # D24: (user, room) typing pairs
        },
        "features": {
            "detailedLogging": settings.detailed_logging,
            "metrics": settings.enable_metrics,
            "heartbeat": settings.enable_heartbeat,
            # D25 (reference): settings a black-box suite can read instead of being told.
            "heartbeatIntervalMs": settings.heartbeat_interval_ms,
            "typingTimeoutMs": settings.typing_timeout_ms,
        },
        "rateLimits": {
            "windowMs": settings.rate_limit_window_ms,  # D22: the window in force
            "maxMessagesPerWindow": limits.messages,
            "maxJoinsPerWindow": limits.joins,
            "maxTypingEventsPerWindow": limits.typing,
        },
    }


async def stats(store: Store, counters: Counters, clock: Clock) -> dict[str, Any]:
    rooms = await store.rooms()
    current = await store.connected_sockets()
    counted = await counters.figures()
    return {
        "timestamp": iso_timestamp(clock.now()),
        "connections": {
            "current": current,  # D24: sockets
            "total": counted["connections"],
            "totalDisconnections": counted["disconnections"],
        },
        "rooms": {
            "active": len(rooms),
            "totalCreated": counted["rooms_created"],
            "details": [
                {
                    "roomId": room.room_id,
                    "userCount": room.user_count,
                    "typingUsers": room.typing_users,
                    "createdAt": iso_timestamp(room.created_at),
                    "lastActivity": iso_timestamp(room.last_activity),
                }
                for room in rooms
            ],
        },
        "messages": {"totalProcessed": counted["messages"]},
        "rateLimiting": {"violations": counted["violations"]},
    }


def create_http_app(
    settings: Settings, store: Store, counters: Counters, clock: Clock
) -> Starlette:
    async def health_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(await health(settings, store, clock))

    async def stats_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(await stats(store, counters, clock))

    return Starlette(
        routes=[
            Route("/websocket/health", health_endpoint, methods=["GET"]),
            Route("/websocket/stats", stats_endpoint, methods=["GET"]),
        ],
        # D26: Access-Control-Allow-Origin only for an allowed origin; a preflight from
        # another origin is refused; a request with no Origin is served.
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET"],
                allow_credentials=True,
            )
        ],
    )
