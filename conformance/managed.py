"""The managed run: the reference server as the suite starts it when no --target is given,
and the declaration that matches it exactly (the suite judges what it started).

Short waits, so that a run takes seconds (D22 window, D23 heartbeat, D18 typing timeout);
a fault room for the 500 checks (D9); two origins, so that the comma-separated list (D26)
is exercised too. The production run also turns metrics and the heartbeat off, so that
every default run judges D24's rule for disabled metrics and D23's "with false, never"
as well; the development run judges the counters and the ping cadence themselves.
"""

from __future__ import annotations

from dataclasses import replace

from conformance.target import Declaration, declare

MANAGED_FAULT_ROOM = "conformance-fault-room"
MANAGED_ENV = {
    "WS_RATE_LIMIT_WINDOW_MS": "3000",
    "WS_HEARTBEAT_INTERVAL": "1000",
    "WS_TYPING_TIMEOUT": "1000",
    "REFERENCE_FAULT_ROOM": MANAGED_FAULT_ROOM,
    "FRONTEND_URL": "http://localhost:5173,http://127.0.0.1:5173",
}
MANAGED_BY_ENVIRONMENT: dict[str, dict[str, str]] = {
    "development": {},
    "production": {"WS_ENABLE_METRICS": "false", "WS_ENABLE_HEARTBEAT": "false"},
}
ENVIRONMENTS = tuple(MANAGED_BY_ENVIRONMENT)


def server_environment(environment: str) -> dict[str, str]:
    """The variables the managed reference server of `environment` starts with (without
    JWT_SECRET, which each run makes up)."""
    return {**MANAGED_ENV, **MANAGED_BY_ENVIRONMENT[environment], "NODE_ENV": environment}


def declaration_for(variables: dict[str, str]) -> Declaration:
    """The declaration of a reference server started with `variables`: what a user would
    pass as flags for it."""
    declared = declare(
        {
            "node_env": variables.get("NODE_ENV", "development"),
            "window_ms": variables.get("WS_RATE_LIMIT_WINDOW_MS"),
            "heartbeat_enabled": variables.get("WS_ENABLE_HEARTBEAT"),
            "heartbeat_interval_ms": variables.get("WS_HEARTBEAT_INTERVAL"),
            "metrics": variables.get("WS_ENABLE_METRICS"),
            "typing_timeout_ms": variables.get("WS_TYPING_TIMEOUT"),
            "allowed_origins": variables.get("FRONTEND_URL"),
        }
    )
    return replace(declared, sources={name: "managed" for name in declared.sources})


def managed_declaration(environment: str) -> Declaration:
    return declaration_for(server_environment(environment))


def declaration_flags(declared: Declaration) -> list[str]:
    """The suite's command-line flags that declare `declared` (for the self-test, which runs
    the suite with --target against servers it starts)."""
    return [
        f"--env={declared.node_env}",
        f"--window-ms={declared.window_ms}",
        f"--heartbeat={'on' if declared.heartbeat_enabled else 'off'}",
        f"--heartbeat-interval-ms={declared.heartbeat_interval_ms}",
        f"--metrics={'on' if declared.metrics else 'off'}",
        f"--typing-timeout-ms={declared.typing_timeout_ms}",
        f"--allowed-origins={','.join(declared.allowed_origins)}",
    ]
