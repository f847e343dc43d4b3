"""The server under test: where it is, how to get tokens for it, and the configuration the
user declared for it.

Every behavioural check judges by the declaration (flags and their CONFORMANCE_* twins;
the API document's defaults where the user is silent), never by what the target says
about itself. The health endpoint is checked *against* the declaration. Reading the
declaration from health (D25's fields) is an opt-in convenience, `--settings-from-health`,
and the report says so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from chatrooms_fixtures.configuration import (
    DEFAULT_FRONTEND_URL,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
    DEFAULT_TYPING_TIMEOUT_MS,
    DEFAULT_WINDOW_MS,
    RATE_LIMITS,
)
from chatrooms_fixtures.configuration import environment_of as _environment_of
from chatrooms_fixtures.tokens import TokenCommandError, mint, token_from_command

Environment = Literal["development", "production"]
Level = Literal["documented", "reference"]

# The contract's tables (chatrooms_fixtures.configuration), under the names the suite reads.
DOCUMENTED_LIMITS = RATE_LIMITS
DOCUMENTED_WINDOW_MS = DEFAULT_WINDOW_MS
DOCUMENTED_HEARTBEAT_MS = DEFAULT_HEARTBEAT_INTERVAL_MS
DOCUMENTED_ORIGIN = DEFAULT_FRONTEND_URL
REFERENCE_TYPING_TIMEOUT_MS = DEFAULT_TYPING_TIMEOUT_MS


class TargetError(Exception):
    """The target or the token source cannot be used; the message says how to fix it."""


class DeclarationError(ValueError):
    """A declared setting is unusable; the message names the flag."""


def environment_of(node_env: str) -> Environment:
    """D21: NODE_ENV=production selects the strict limits; any other value is development."""
    return "production" if _environment_of(node_env) == "production" else "development"


@dataclass(frozen=True)
class Declaration:
    """The target's configuration as the user declared it; what every check judges by."""

    node_env: str = "development"
    window_ms: int = DOCUMENTED_WINDOW_MS
    heartbeat_enabled: bool = True
    heartbeat_interval_ms: int = DOCUMENTED_HEARTBEAT_MS
    metrics: bool = True
    typing_timeout_ms: int = REFERENCE_TYPING_TIMEOUT_MS
    allowed_origins: tuple[str, ...] = (DOCUMENTED_ORIGIN,)
    # setting -> where its value came from: declared | default | health | managed
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def environment(self) -> Environment:
        return environment_of(self.node_env)

    @property
    def limits(self) -> dict[str, int]:
        return dict(DOCUMENTED_LIMITS[self.environment])

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self) -> str:
        """One line for the report header: each setting, and where it came from."""
        values = {
            "NODE_ENV": (self.node_env, "node_env"),
            "window": (f"{self.window_ms} ms", "window_ms"),
            "heartbeat": (
                f"every {self.heartbeat_interval_ms} ms" if self.heartbeat_enabled else "off",
                "heartbeat_enabled",
            ),
            "metrics": ("on" if self.metrics else "off", "metrics"),
            "typing timeout": (f"{self.typing_timeout_ms} ms", "typing_timeout_ms"),
            "allowed origins": (",".join(self.allowed_origins), "allowed_origins"),
        }
        return "; ".join(f"{k} {v} ({self.source(name)})" for k, (v, name) in values.items())


# Declaration setting -> (flag, parser); the flags live in conformance.plugin.OPTIONS.
SETTING_FLAGS: dict[str, str] = {
    "node_env": "--env",
    "window_ms": "--window-ms",
    "heartbeat_enabled": "--heartbeat",
    "heartbeat_interval_ms": "--heartbeat-interval-ms",
    "metrics": "--metrics",
    "typing_timeout_ms": "--typing-timeout-ms",
    "allowed_origins": "--allowed-origins",
}


def _positive_ms(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise DeclarationError(
            f"{flag} must be a whole number of milliseconds, got {text!r}"
        ) from None
    if value < 1:
        raise DeclarationError(f"{flag} must be at least 1 ms, got {value}")
    return value


def _on_off(flag: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise DeclarationError(f"{flag} must be on or off, got {text!r}") from None


def _origins(flag: str, text: str) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in text.split(",") if o.strip())
    if not origins:
        raise DeclarationError(f"{flag} must name at least one origin, got {text!r}") from None
    return origins


def _node_env(flag: str, text: str) -> str:
    if not text.strip():
        raise DeclarationError(f"{flag} must be the target's NODE_ENV, got an empty value")
    return text.strip()


_PARSERS: dict[str, Any] = {
    "node_env": _node_env,
    "window_ms": _positive_ms,
    "heartbeat_enabled": _on_off,
    "heartbeat_interval_ms": _positive_ms,
    "metrics": _on_off,
    "typing_timeout_ms": _positive_ms,
    "allowed_origins": _origins,
}


def declare(
    given: Mapping[str, str | None], *, health: Mapping[str, Any] | None = None
) -> Declaration:
    """The declaration from the user's flags (`given`: setting -> text, None when silent),
    then health's self-report where the user opted into it (`health`), then the document's
    defaults. Raises DeclarationError naming the flag of a bad value."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, flag in SETTING_FLAGS.items():
        text = given.get(name)
        if text is not None:
            values[name] = _PARSERS[name](flag, str(text))
            sources[name] = "declared"
    if health is not None:
        for name, value in reported_settings(health).items():
            if name not in values:
                values[name] = value
                sources[name] = "health"
    return Declaration(**values, sources=sources)


def reported_settings(health: Mapping[str, Any]) -> dict[str, Any]:
    """What a health body says about the settings a declaration holds (D24, D25); only
    well-formed values."""
    features = _section(health, "features")
    websocket = _section(health, "websocket")
    limits = _section(health, "rateLimits")
    out: dict[str, Any] = {}

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    if whole(limits.get("windowMs")):
        out["window_ms"] = limits["windowMs"]
    if isinstance(features.get("heartbeat"), bool):
        out["heartbeat_enabled"] = features["heartbeat"]
    if whole(features.get("heartbeatIntervalMs")):
        out["heartbeat_interval_ms"] = features["heartbeatIntervalMs"]
    if isinstance(features.get("metrics"), bool):
        out["metrics"] = features["metrics"]
    if whole(features.get("typingTimeoutMs")):
        out["typing_timeout_ms"] = features["typingTimeoutMs"]
    cors = websocket.get("corsOrigin")
    if isinstance(cors, str) and cors.strip():
        out["allowed_origins"] = tuple(o.strip() for o in cors.split(",") if o.strip())
    return out


@dataclass(frozen=True)
class Target:
    urls: tuple[str, ...]  # the nodes of one logical server (D33); one for most targets
    namespace: str
    declared: Declaration
    level: Level
    transport: str
    secret: str | None
    token_cmd: str | None
    fault_room: str | None
    timeout_ms: int
    quiet_ms: int
    slow_threshold_ms: int
    run_slow: bool
    strict: bool
    managed: bool  # True when the suite started the reference server itself
    nodes: int = 1  # how many nodes the managed run starts (a cluster above 1)
    kill_node_cmd: str | None = None  # D34: how to kill node {index} ({url}) of a --target

    @property
    def url(self) -> str:
        """The first node: where checks that talk to one node talk to."""
        return self.urls[0] if self.urls else ""

    @property
    def several_nodes(self) -> bool:
        return len(self.urls) > 1

    @property
    def environment(self) -> Environment:
        return self.declared.environment

    @property
    def limits(self) -> dict[str, int]:
        return self.declared.limits

    @property
    def token_source(self) -> str:
        if self.token_cmd:
            return f"--token-cmd {self.token_cmd!r}"
        return "--secret (minted HS256 tokens)" if self.secret else "none"

    def token(self, user_id: str, username: str) -> str:
        """A valid token for a user: minted with --secret, or printed by --token-cmd."""
        if self.token_cmd:
            try:
                return token_from_command(self.token_cmd, user_id, username)
            except TokenCommandError as error:
                raise TargetError(str(error)) from None
        if self.secret is None:
            raise TargetError("no token source: pass --secret S or --token-cmd CMD")
        return mint(user_id, username, secret=self.secret)

    def at(self, *urls: str) -> Target:
        return replace(self, urls=tuple(u.rstrip("/") for u in urls))


def read_health_now(url: str, timeout_ms: int) -> dict[str, Any] | None:
    """GET /websocket/health once, at start-up (for --settings-from-health); None when the
    target does not answer with a JSON object."""
    request = urllib.request.Request(url.rstrip("/") + "/websocket/health", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_ms / 1000) as response:
            body = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) else None


def _section(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}
