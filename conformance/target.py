"""The server under test: where it is, how to get tokens for it, which environment it
claims, and the settings it reports on its health endpoint (D22, D25)."""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, Literal

from chatrooms_fixtures.tokens import mint

Environment = Literal["development", "production"]
Level = Literal["documented", "reference"]

# doc: "Rate Limiting" table, by environment: messages, joins, typing per window.
DOCUMENTED_LIMITS: dict[str, dict[str, int]] = {
    "production": {"sendMessage": 30, "joinRoom": 10, "typing": 60},
    "development": {"sendMessage": 60, "joinRoom": 20, "typing": 120},
}
DOCUMENTED_WINDOW_MS = 60_000  # doc: "Rate limits reset every 60 seconds."
DOCUMENTED_HEARTBEAT_MS = 30_000  # doc: WS_HEARTBEAT_INTERVAL default 30000
REFERENCE_TYPING_TIMEOUT_MS = 5_000  # D18 (reference) default


class TargetError(Exception):
    """The target or the token source cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """What the suite waits on: read from the health endpoint, overridden by flags."""

    window_ms: int
    heartbeat_enabled: bool
    heartbeat_interval_ms: int
    typing_timeout_ms: int
    metrics: bool
    sources: tuple[str, ...]  # where each value came from, for the report header

    def describe(self) -> str:
        return ", ".join(self.sources)


@dataclass(frozen=True)
class Target:
    url: str
    namespace: str
    environment: Environment
    level: Level
    transport: str
    secret: str | None
    token_cmd: str | None
    fault_room: str | None
    timeout_ms: int
    quiet_ms: int
    slow_threshold_ms: int
    run_slow: bool
    managed: bool  # True when the suite started the reference server itself
    window_ms: int | None = None
    heartbeat_interval_ms: int | None = None
    typing_timeout_ms: int | None = None
    declared_window_ms: int | None = None
    frontend_url: str | None = None

    @property
    def limits(self) -> dict[str, int]:
        return DOCUMENTED_LIMITS[self.environment]

    @property
    def token_source(self) -> str:
        if self.token_cmd:
            return f"--token-cmd {self.token_cmd!r}"
        return "--secret (minted HS256 tokens)" if self.secret else "none"

    def token(self, user_id: str, username: str) -> str:
        """A valid token for a user: minted with --secret, or printed by --token-cmd."""
        if self.token_cmd:
            command = self.token_cmd.format(
                user_id=shlex.quote(user_id), username=shlex.quote(username)
            )
            done = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=30, check=False
            )
            token = str(done.stdout).strip()
            if done.returncode != 0 or not token:
                raise TargetError(
                    f"--token-cmd exited {done.returncode} without a token: "
                    f"{done.stderr.strip()[:300]}"
                )
            return token
        if self.secret is None:
            raise TargetError("no token source: pass --secret S or --token-cmd CMD")
        return mint(user_id, username, secret=self.secret)

    def http_get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        return http_request("GET", self.url + path, headers or {}, self.timeout_ms)

    def with_settings(self, **changes: Any) -> Target:
        return replace(self, **changes)


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(method: str, url: str, headers: dict[str, str], timeout_ms: int) -> HttpReply:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_ms / 1000) as response:
            return HttpReply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return HttpReply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def read_settings(target: Target) -> Settings:
    """D22, D25: read the window, heartbeat and typing timeout the target reports; a flag
    given on the command line wins; otherwise the documented defaults."""
    health: dict[str, Any] = {}
    try:
        reply = target.http_get("/websocket/health")
        if reply.status == 200:
            health = reply.json()
    except (OSError, ValueError):
        pass
    features: dict[str, Any] = _section(health, "features")
    limits: dict[str, Any] = _section(health, "rateLimits")
    sources: list[str] = []

    def pick(flag: int | None, reported: Any, default: int, name: str) -> int:
        if flag is not None:
            sources.append(f"{name}={flag} (flag)")
            return flag
        if isinstance(reported, int) and not isinstance(reported, bool) and reported > 0:
            sources.append(f"{name}={reported} (health)")
            return reported
        sources.append(f"{name}={default} (default)")
        return default

    window = pick(target.window_ms, limits.get("windowMs"), DOCUMENTED_WINDOW_MS, "windowMs")
    heartbeat = pick(
        target.heartbeat_interval_ms,
        features.get("heartbeatIntervalMs"),
        DOCUMENTED_HEARTBEAT_MS,
        "heartbeatIntervalMs",
    )
    typing = pick(
        target.typing_timeout_ms,
        features.get("typingTimeoutMs"),
        REFERENCE_TYPING_TIMEOUT_MS,
        "typingTimeoutMs",
    )
    return Settings(
        window_ms=window,
        heartbeat_enabled=features.get("heartbeat", True) is not False,
        heartbeat_interval_ms=heartbeat,
        typing_timeout_ms=typing,
        metrics=features.get("metrics", True) is not False,
        sources=tuple(sources),
    )


def _section(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}
