"""doc: "Configuration" (D1, D21, D23-D26): what a black-box suite can observe of each
variable, through /websocket/health and the traffic. The heartbeat variables are judged by
their effect in test_s9_ping.py, NODE_ENV's limits in test_rate_limiting.py as well."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.expect import show
from conformance.suite import conftest
from conformance.suite.conftest import MANAGED_ENV, Clients
from conformance.target import DOCUMENTED_LIMITS, Target

pytestmark = pytest.mark.asyncio

HEALTH = "/websocket/health"
STATS = "/websocket/stats"
# doc: "Health Check Endpoints" rateLimits fields, by the "Rate Limiting" table's kinds.
LIMIT_FIELDS = {
    "sendMessage": "maxMessagesPerWindow",
    "joinRoom": "maxJoinsPerWindow",
    "typing": "maxTypingEventsPerWindow",
}


async def read(target: Target, path: str) -> dict[str, Any]:
    return await expect.json_endpoint(target, path)


def managed_setting(target: Target, name: str) -> str | None:
    """A variable the suite set when it started the reference server itself, else None."""
    if not target.managed:
        return None
    per_environment = getattr(conftest, "MANAGED_BY_ENVIRONMENT", {}).get(target.environment, {})
    value = {**MANAGED_ENV, **per_environment}.get(name)
    return str(value) if value is not None else None


def as_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def field(body: dict[str, Any], *path: str) -> Any:
    node: Any = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


@requirement("CFG-WS-NAMESPACE")
async def test_health_reports_the_namespace_that_accepts_connections(
    chat: Clients, target: Target
) -> None:
    # The fixture connects to --namespace (default /chat): that namespace accepts clients.
    alice = await chat.connect("alice")
    health = await read(target, HEALTH)
    expect.that(
        "CFG-WS-NAMESPACE",
        field(health, "websocket", "namespace") == target.namespace and alice.connected,
        sent=f"connect to {target.namespace}; GET {HEALTH}",
        expected=f"websocket.namespace == {target.namespace!r}, the namespace that accepted "
        "the connection",
        actual=f"websocket {show(health.get('websocket'))}",
    )


@requirement("CFG-FRONTEND-URL")
async def test_health_reports_the_configured_frontend_url_as_cors_origin(target: Target) -> None:
    health = await read(target, HEALTH)
    cors = field(health, "websocket", "corsOrigin")
    origins = [o.strip() for o in cors.split(",")] if isinstance(cors, str) else []
    sent = f"GET {HEALTH}"
    configured = managed_setting(target, "FRONTEND_URL")
    if configured is not None:
        # D24: "corsOrigin is the configured value as given".
        expect.that(
            "CFG-FRONTEND-URL",
            cors == configured,
            sent=sent,
            expected=f"websocket.corsOrigin == {configured!r} (FRONTEND_URL as configured)",
            actual=f"websocket.corsOrigin {show(cors)}",
        )
    elif target.frontend_url:
        expect.that(
            "CFG-FRONTEND-URL",
            target.frontend_url in origins or cors == "*",
            sent=sent,
            expected=f"websocket.corsOrigin names {target.frontend_url} (--allowed-origin)",
            actual=f"websocket.corsOrigin {show(cors)}",
        )
    expect.that(
        "CFG-FRONTEND-URL",
        bool(origins) and all(origins),
        sent=sent,
        expected="websocket.corsOrigin: an origin, or a comma-separated list of them",
        actual=f"websocket.corsOrigin {show(cors)}",
    )
    # The origin it reports is the one the HTTP endpoints admit (D26).
    if origins[0] != "*":
        reply = await asyncio.to_thread(target.http_get, HEALTH, {"Origin": origins[0]})
        acao = reply.headers.get("access-control-allow-origin")
        expect.that(
            "CFG-FRONTEND-URL",
            acao in (origins[0], "*"),
            sent=f"GET {HEALTH} with Origin: {origins[0]} (the reported corsOrigin)",
            expected=f"Access-Control-Allow-Origin: {origins[0]}",
            actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
        )


@requirement("CFG-WS-ENABLE-METRICS")
async def test_features_metrics_says_whether_connections_are_counted(
    chat: Clients, target: Target
) -> None:
    health = await read(target, HEALTH)
    metrics = field(health, "features", "metrics")
    expect.that(
        "CFG-WS-ENABLE-METRICS",
        isinstance(metrics, bool),
        sent=f"GET {HEALTH}",
        expected="features.metrics, a boolean",
        actual=f"features {show(health.get('features'))}",
    )
    for attempt in (1, 2):  # a foreign target's other clients may move the counter: retry once
        before = field(await read(target, STATS), "connections", "total")
        await chat.connect(f"alice{attempt}")
        after = field(await read(target, STATS), "connections", "total")
        grew = after - before if isinstance(after, int) and isinstance(before, int) else None
        if grew == (1 if metrics else 0) and (metrics or after == 0):
            return
        if attempt == 2:
            expect.that(
                "CFG-WS-ENABLE-METRICS",
                False,
                sent="one new connection",
                expected="connections.total grows by 1"
                if metrics
                else "connections.total stays 0 (features.metrics=false)",
                actual=f"connections.total {show(before)} -> {show(after)}",
            )


@requirement("CFG-WS-ENABLE-HEARTBEAT")
async def test_features_heartbeat_is_a_boolean_as_configured(target: Target) -> None:
    health = await read(target, HEALTH)
    heartbeat = field(health, "features", "heartbeat")
    configured = managed_setting(target, "WS_ENABLE_HEARTBEAT")
    # doc: WS_ENABLE_HEARTBEAT defaults to true.
    wanted = None if not target.managed else (configured or "true").lower() == "true"
    expect.that(
        "CFG-WS-ENABLE-HEARTBEAT",
        isinstance(heartbeat, bool) and (wanted is None or heartbeat is wanted),
        sent=f"GET {HEALTH}",
        expected="features.heartbeat, a boolean"
        + (f" ({str(wanted).lower()}: as the server was started)" if wanted is not None else ""),
        actual=f"features {show(health.get('features'))}",
    )


@requirement("CFG-NODE-ENV")
async def test_node_env_selects_the_documented_limits(target: Target) -> None:
    health = await read(target, HEALTH)
    expected = {LIMIT_FIELDS[k]: v for k, v in DOCUMENTED_LIMITS[target.environment].items()}
    reported = {name: field(health, "rateLimits", name) for name in expected}
    expect.that(
        "CFG-NODE-ENV",
        reported == expected,
        sent=f"GET {HEALTH} (the target declares NODE_ENV={target.environment})",
        expected=f"the {target.environment} limits of the document's table: {show(expected)}",
        actual=f"rateLimits {show(health.get('rateLimits'))}",
    )


@requirement("CFG-DEBUG-MODE")
async def test_development_reports_detailed_logging_and_the_lenient_limits(
    target: Target,
) -> None:
    if target.environment != "development":
        pytest.skip(f"the target declares NODE_ENV={target.environment}")
    health = await read(target, HEALTH)
    # doc: "Set NODE_ENV=development for detailed logging and more lenient rate limits."
    expect.that(
        "CFG-DEBUG-MODE",
        field(health, "features", "detailedLogging") is True,
        sent=f"GET {HEALTH} (NODE_ENV=development)",
        expected="features.detailedLogging == true",
        actual=f"features {show(health.get('features'))}",
    )
    lenient = all(
        isinstance(field(health, "rateLimits", name), int)
        and field(health, "rateLimits", name) > DOCUMENTED_LIMITS["production"][kind]
        for kind, name in LIMIT_FIELDS.items()
    )
    expect.that(
        "CFG-DEBUG-MODE",
        lenient,
        sent=f"GET {HEALTH} (NODE_ENV=development)",
        expected=f"limits above production's {show(DOCUMENTED_LIMITS['production'])}",
        actual=f"rateLimits {show(health.get('rateLimits'))}",
    )


@requirement("HEALTH-DISCOVERABLE-SETTINGS")
async def test_health_reports_the_heartbeat_interval_and_typing_timeout_in_force(
    target: Target,
) -> None:
    # D25 (reference): features.heartbeatIntervalMs and features.typingTimeoutMs.
    health = await read(target, HEALTH)
    declared = {
        "heartbeatIntervalMs": target.heartbeat_interval_ms
        or as_int(managed_setting(target, "WS_HEARTBEAT_INTERVAL")),
        "typingTimeoutMs": target.typing_timeout_ms
        or as_int(managed_setting(target, "WS_TYPING_TIMEOUT")),
    }
    for name, value in declared.items():
        reported = field(health, "features", name)
        expect.that(
            "HEALTH-DISCOVERABLE-SETTINGS",
            isinstance(reported, int)
            and not isinstance(reported, bool)
            and reported >= 1
            and (value is None or reported == value),
            sent=f"GET {HEALTH}",
            expected=f"features.{name}, a whole number of ms"
            + (f" equal to the configured {value}" if value is not None else ""),
            actual=f"features {show(health.get('features'))}",
        )
