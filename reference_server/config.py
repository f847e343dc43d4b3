"""Settings read once from the environment (doc: "Configuration"; D1, D3, D9, D21-D26)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chatrooms_fixtures.configuration import DEVELOPMENT_SECRET
from reference_server import gc_policy
from reference_server.gc_policy import GcPolicy
from reference_server.rate_limit import Limits, limits_for

# D3: "in development it uses a documented development secret and says so in its log";
# the value lives in the contract (chatrooms_fixtures.configuration), with the token factory.

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ConfigError(ValueError):
    """A configuration value that stops start-up; the message names the variable."""


class Secret:
    """Holds the JWT secret so that it never shows up in a repr or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 3001
    # D26: FRONTEND_URL as given (reported as corsOrigin); a comma-separated list is accepted.
    frontend_url: str = "http://localhost:5173"
    namespace: str = "/chat"
    enable_metrics: bool = True
    enable_heartbeat: bool = True
    heartbeat_interval_ms: int = 30_000
    node_env: str = "development"
    jwt_secret: Secret = Secret(DEVELOPMENT_SECRET)
    rate_limit_window_ms: int = 60_000
    typing_timeout_ms: int = 5_000
    fault_room: str | None = None
    # Not in the API document: the collector's treatment (gc_policy.py) and its stats line.
    gc: GcPolicy = gc_policy.POLICIES["tuned"]
    gc_stats_interval_ms: int | None = None
    # D33: a node of a cluster sharing this Redis (None: one process, in memory).
    redis_url: str | None = None
    # D34: a cluster node's lease (cluster.py): its TTL, how often the node renews it and
    # how often the others look for a lost node. Not in the API document, not in /health.
    lease_ttl_ms: int = 7_000
    lease_renew_ms: int = 2_000
    lease_check_ms: int = 1_000

    @property
    def production(self) -> bool:
        # D21: "any value other than `production` is development, the default".
        return self.node_env == "production"

    @property
    def limits(self) -> Limits:
        return limits_for(production=self.production)

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.frontend_url.split(",") if o.strip()]

    @property
    def detailed_logging(self) -> bool:
        # doc: "Set NODE_ENV=development for detailed logging".
        return not self.production

    @property
    def development_secret_in_use(self) -> bool:
        return self.jwt_secret.reveal() == DEVELOPMENT_SECRET

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read every variable once; raise ConfigError naming the first bad one."""
        node_env = environ.get("NODE_ENV", "").strip() or "development"
        secret = environ.get("JWT_SECRET", "")
        if not secret.strip():  # whitespace alone is no secret either
            if node_env == "production":
                raise ConfigError(
                    "JWT_SECRET must be set to a non-empty value when NODE_ENV=production"
                )
            secret = DEVELOPMENT_SECRET
        fault_room = environ.get("REFERENCE_FAULT_ROOM", "").strip() or None
        return cls(
            host=_string(environ, "HOST", cls.host),
            port=_integer(environ, "PORT", cls.port, low=0, high=65_535, unit="a port"),
            frontend_url=_frontend_url(environ),
            namespace=_namespace(environ),
            enable_metrics=_boolean(environ, "WS_ENABLE_METRICS", cls.enable_metrics),
            enable_heartbeat=_boolean(environ, "WS_ENABLE_HEARTBEAT", cls.enable_heartbeat),
            heartbeat_interval_ms=_milliseconds(
                environ, "WS_HEARTBEAT_INTERVAL", cls.heartbeat_interval_ms
            ),
            node_env=node_env,
            jwt_secret=Secret(secret),
            rate_limit_window_ms=_milliseconds(
                environ, "WS_RATE_LIMIT_WINDOW_MS", cls.rate_limit_window_ms
            ),
            typing_timeout_ms=_milliseconds(environ, "WS_TYPING_TIMEOUT", cls.typing_timeout_ms),
            fault_room=fault_room,
            gc=_gc_policy(environ),
            gc_stats_interval_ms=(
                _milliseconds(environ, "REFERENCE_GC_STATS_INTERVAL_MS", 1)
                if environ.get("REFERENCE_GC_STATS_INTERVAL_MS", "").strip()
                else None
            ),
            redis_url=_redis_url(environ),
            **_lease(environ),
        )

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _string(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _integer(
    environ: Mapping[str, str], name: str, default: int, *, low: int, high: int, unit: str
) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d+", raw):
        raise ConfigError(f"{name} must be {unit} ({low}-{high}), got {raw!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {unit} ({low}-{high}), got {raw!r}")
    return value


def _milliseconds(environ: Mapping[str, str], name: str, default: int) -> int:
    # One day is far beyond any sensible interval and keeps timers well inside float precision.
    return _integer(
        environ, name, default, low=1, high=86_400_000, unit="a whole number of milliseconds"
    )


def _frontend_url(environ: Mapping[str, str]) -> str:
    raw = environ.get("FRONTEND_URL", "").strip()
    if not raw:
        return Settings.frontend_url
    for origin in (o.strip() for o in raw.split(",")):
        if origin == "*":
            continue
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(
                "FRONTEND_URL must be an origin such as http://localhost:5173 "
                f"(scheme and host, no path), or a comma-separated list of them, got {raw!r}"
            )
    return raw


def _namespace(environ: Mapping[str, str]) -> str:
    raw = environ.get("WS_NAMESPACE", "").strip()
    if not raw:
        return Settings.namespace
    if not re.fullmatch(r"/[A-Za-z0-9_\-./]*", raw):
        raise ConfigError(f"WS_NAMESPACE must start with '/' (for example /chat), got {raw!r}")
    return raw


def _gc_policy(environ: Mapping[str, str]) -> GcPolicy:
    raw = environ.get("REFERENCE_GC", "")
    try:
        return gc_policy.parse(raw)
    except ValueError:
        raise ConfigError(
            "REFERENCE_GC must be tuned, stock or three whole numbers t0,t1,t2 "
            f"(gc.set_threshold), got {raw!r}"
        ) from None


# D34: a lost node's sockets are removed within this bound (interpretation.md: 10 s for the
# reference server); the sweep itself is given SWEEP_MARGIN_MS of it.
LEASE_BOUND_MS = 10_000
SWEEP_MARGIN_MS = 2_000


def _lease(environ: Mapping[str, str]) -> dict[str, int]:
    ttl = _milliseconds(environ, "REFERENCE_LEASE_TTL_MS", Settings.lease_ttl_ms)
    renew = _milliseconds(environ, "REFERENCE_LEASE_RENEW_MS", Settings.lease_renew_ms)
    check = _milliseconds(environ, "REFERENCE_LEASE_CHECK_MS", Settings.lease_check_ms)
    if 2 * renew > ttl:
        # A renewal late by one period must not get a live node swept.
        raise ConfigError(
            f"REFERENCE_LEASE_RENEW_MS must be at most half of REFERENCE_LEASE_TTL_MS "
            f"({ttl} ms), got {str(renew)!r}"
        )
    if ttl + check > LEASE_BOUND_MS - SWEEP_MARGIN_MS:
        raise ConfigError(
            f"REFERENCE_LEASE_TTL_MS + REFERENCE_LEASE_CHECK_MS must be at most "
            f"{LEASE_BOUND_MS - SWEEP_MARGIN_MS} ms, so that a lost node's sockets are removed "
            f"within the documented {LEASE_BOUND_MS // 1000} s (D34), got {ttl} + {check}"
        )
    return {"lease_ttl_ms": ttl, "lease_renew_ms": renew, "lease_check_ms": check}


def _redis_url(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("REDIS_URL", "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"(redis|rediss|valkey|valkeys|unix)://\S+", raw):
        raise ConfigError(
            "REDIS_URL must be a Redis URL such as redis://localhost:6379/0 "
            f"(redis://, rediss:// or unix://), got {raw!r}"
        )
    return raw
