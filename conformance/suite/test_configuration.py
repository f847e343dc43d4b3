"""doc: "Configuration" (D1, D21, D23-D26): what a black-box suite can observe of each
variable, through /websocket/health and the traffic. The heartbeat variables are judged by
their effect in test_s9_ping.py, NODE_ENV's limits in test_rate_limiting.py as well."""

from __future__ import annotations

import pytest

from chatrooms_fixtures.configuration import HEALTH_LIMIT_FIELDS
from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients
from conformance.expect import show
from conformance.http import Http
from conformance.reading import field
from conformance.target import DOCUMENTED_LIMITS, Target

pytestmark = pytest.mark.asyncio

HEALTH = "/websocket/health"
STATS = "/websocket/stats"
# doc: "Health Check Endpoints" rateLimits fields, by the "Rate Limiting" table's kinds.
LIMIT_FIELDS = HEALTH_LIMIT_FIELDS


read = expect.json_endpoint


def declared_as(target: Target, setting: str) -> str:
    """How the evidence names a declared value: the flag, or the document's default."""
    source = target.declared.source(setting)
    return {
        "default": "the document's default; declare yours with a flag",
        "managed": "as the suite started the reference server",
        "health": "as the target reported it at start-up (--settings-from-health)",
    }.get(source, "as declared")


@requirement("CFG-WS-NAMESPACE")
async def test_health_reports_the_namespace_that_accepts_connections(
    chat: Clients, target: Target
) -> None:
    # The fixture connects to --namespace (default /chat): that namespace accepts clients.
    alice = await chat.connect("alice")
    health = await read(chat.http, HEALTH)
    expect.that(
        "CFG-WS-NAMESPACE",
        field(health, "websocket", "namespace") == target.namespace and alice.connected,
        sent=f"connect to {target.namespace}; GET {HEALTH}",
        expected=f"websocket.namespace == {target.namespace!r}, the namespace that accepted "
        "the connection",
        actual=f"websocket {show(health.get('websocket'))}",
    )


@requirement("CFG-FRONTEND-URL")
async def test_health_reports_the_configured_frontend_url_as_cors_origin(
    target: Target, http: Http
) -> None:
    health = await read(http, HEALTH)
    cors = field(health, "websocket", "corsOrigin")
    origins = [o.strip() for o in cors.split(",")] if isinstance(cors, str) else []
    declared = list(target.declared.allowed_origins)
    # D24: "corsOrigin is the configured value as given"; D26: a comma-separated list.
    expect.that(
        "CFG-FRONTEND-URL",
        origins == declared,
        sent=f"GET {HEALTH}",
        expected=f"websocket.corsOrigin == {','.join(declared)!r} "
        f"(FRONTEND_URL {declared_as(target, 'allowed_origins')})",
        actual=f"websocket.corsOrigin {show(cors)}",
    )
    # The origin it is configured with is the one the HTTP endpoints admit (D26).
    if declared[0] != "*":
        reply = await http.get(HEALTH, {"Origin": declared[0]})
        acao = reply.headers.get("access-control-allow-origin")
        expect.that(
            "CFG-FRONTEND-URL",
            acao in (declared[0], "*"),
            sent=f"GET {HEALTH} with Origin: {declared[0]} (an allowed origin)",
            expected=f"Access-Control-Allow-Origin: {declared[0]}",
            actual=f"{reply.status}, Access-Control-Allow-Origin: {acao!r}",
        )


@requirement("CFG-WS-ENABLE-METRICS")
async def test_features_metrics_says_whether_connections_are_counted(
    chat: Clients, target: Target, http: Http
) -> None:
    metrics = target.declared.metrics
    health = await read(http, HEALTH)
    reported = field(health, "features", "metrics")
    expect.that(
        "CFG-WS-ENABLE-METRICS",
        reported is metrics,
        sent=f"GET {HEALTH}",
        expected=f"features.metrics == {str(metrics).lower()} "
        f"(WS_ENABLE_METRICS {declared_as(target, 'metrics')})",
        actual=f"features {show(health.get('features'))}",
    )
    if not metrics:
        # What "off" means for the counters is D24's (reference): STATS-METRICS-DISABLED.
        return
    for attempt in (1, 2):  # a foreign target's other clients may move the counter: retry once
        before = field(await read(http, STATS), "connections", "total")
        await chat.connect(f"alice{attempt}")
        after = field(await read(http, STATS), "connections", "total")
        grew = after - before if isinstance(after, int) and isinstance(before, int) else None
        if grew == 1 or attempt == 2:
            expect.that(
                "CFG-WS-ENABLE-METRICS",
                grew == 1,
                sent="one new connection",
                expected="connections.total grows by 1 (metrics on)",
                actual=f"connections.total {show(before)} -> {show(after)}",
            )
            return


@requirement("CFG-WS-ENABLE-HEARTBEAT")
async def test_features_heartbeat_is_a_boolean_as_configured(target: Target, http: Http) -> None:
    health = await read(http, HEALTH)
    heartbeat = field(health, "features", "heartbeat")
    wanted = target.declared.heartbeat_enabled
    expect.that(
        "CFG-WS-ENABLE-HEARTBEAT",
        heartbeat is wanted,
        sent=f"GET {HEALTH}",
        expected=f"features.heartbeat == {str(wanted).lower()} "
        f"(WS_ENABLE_HEARTBEAT {declared_as(target, 'heartbeat_enabled')})",
        actual=f"features {show(health.get('features'))}",
    )


@requirement("CFG-NODE-ENV")
async def test_node_env_selects_the_documented_limits(target: Target, http: Http) -> None:
    health = await read(http, HEALTH)
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
    target: Target, http: Http
) -> None:
    if target.environment != "development":
        expect.not_applicable(f"the target is declared with NODE_ENV={target.declared.node_env}")
    health = await read(http, HEALTH)
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
    target: Target, http: Http
) -> None:
    # D25 (reference): features.heartbeatIntervalMs and features.typingTimeoutMs, checked
    # against what the user declared.
    health = await read(http, HEALTH)
    declared = {
        "heartbeatIntervalMs": (target.declared.heartbeat_interval_ms, "heartbeat_interval_ms"),
        "typingTimeoutMs": (target.declared.typing_timeout_ms, "typing_timeout_ms"),
    }
    for name, (value, setting) in declared.items():
        reported = field(health, "features", name)
        expect.that(
            "HEALTH-DISCOVERABLE-SETTINGS",
            reported == value and not isinstance(reported, bool),
            sent=f"GET {HEALTH}",
            expected=f"features.{name} == {value} ({declared_as(target, setting)})",
            actual=f"features {show(health.get('features'))}",
        )
