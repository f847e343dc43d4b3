"""Settings.from_env (doc: "Configuration"; issue 2's variables), D8 timestamps and the
D7 error object: the pure pieces every response is built from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from reference_server.clock import iso_timestamp
from reference_server.config import DEVELOPMENT_SECRET, ConfigError, Secret, Settings
from reference_server.errors import ApiError, error_payload
from reference_server.rate_limit import DEVELOPMENT, PRODUCTION


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.host == "0.0.0.0"
    assert settings.port == 3001
    assert settings.frontend_url == "http://localhost:5173"
    assert settings.namespace == "/chat"
    assert settings.enable_metrics is True
    assert settings.enable_heartbeat is True
    assert settings.heartbeat_interval_ms == 30_000
    assert settings.node_env == "development"
    assert settings.rate_limit_window_ms == 60_000
    assert settings.typing_timeout_ms == 5_000
    assert settings.fault_room is None
    assert settings.jwt_secret.reveal() == DEVELOPMENT_SECRET
    assert settings.development_secret_in_use
    assert settings.limits == DEVELOPMENT
    assert settings.detailed_logging is True


# (variable, value, attribute, expected)
@pytest.mark.parametrize(
    ("name", "raw", "attribute", "expected"),
    [
        ("HOST", "127.0.0.1", "host", "127.0.0.1"),
        ("HOST", "::", "host", "::"),
        ("PORT", "8080", "port", 8080),
        ("PORT", "0", "port", 0),
        ("PORT", "65535", "port", 65_535),
        ("PORT", " 3002 ", "port", 3002),
        ("FRONTEND_URL", "https://chat.example.com", "frontend_url", "https://chat.example.com"),
        (
            "FRONTEND_URL",
            "http://a.example, http://b.example:8080",
            "frontend_url",
            "http://a.example, http://b.example:8080",
        ),
        ("FRONTEND_URL", "*", "frontend_url", "*"),
        ("WS_NAMESPACE", "/rooms", "namespace", "/rooms"),
        ("WS_NAMESPACE", "/api/chat-v2", "namespace", "/api/chat-v2"),
        ("WS_ENABLE_METRICS", "false", "enable_metrics", False),
        ("WS_ENABLE_METRICS", "TRUE", "enable_metrics", True),
        ("WS_ENABLE_METRICS", "0", "enable_metrics", False),
        ("WS_ENABLE_HEARTBEAT", "false", "enable_heartbeat", False),
        ("WS_ENABLE_HEARTBEAT", "yes", "enable_heartbeat", True),
        ("WS_ENABLE_HEARTBEAT", "off", "enable_heartbeat", False),
        ("WS_HEARTBEAT_INTERVAL", "250", "heartbeat_interval_ms", 250),
        ("WS_HEARTBEAT_INTERVAL", "1", "heartbeat_interval_ms", 1),
        ("NODE_ENV", "production", "node_env", "production"),
        ("NODE_ENV", "test", "node_env", "test"),
        ("WS_RATE_LIMIT_WINDOW_MS", "500", "rate_limit_window_ms", 500),
        ("WS_TYPING_TIMEOUT", "300", "typing_timeout_ms", 300),
        ("REFERENCE_FAULT_ROOM", "boom", "fault_room", "boom"),
        ("REFERENCE_FAULT_ROOM", "", "fault_room", None),
        ("PORT", "", "port", 3001),  # empty means unset
        ("WS_ENABLE_METRICS", "", "enable_metrics", True),
    ],
)
def test_each_variable_is_read_into_its_setting(
    name: str, raw: str, attribute: str, expected: Any
) -> None:
    env = {name: raw}
    if name == "NODE_ENV" and raw == "production":
        env["JWT_SECRET"] = "s" * 32
    assert getattr(Settings.from_env(env), attribute) == expected


@pytest.mark.parametrize(
    ("node_env", "production", "limits"),
    [
        ("production", True, PRODUCTION),
        ("development", False, DEVELOPMENT),
        ("test", False, DEVELOPMENT),  # D21: "any value other than `production` is development"
        ("Production", False, DEVELOPMENT),
        ("", False, DEVELOPMENT),
    ],
)
def test_only_production_selects_the_production_limits(
    node_env: str, production: bool, limits: Any
) -> None:
    settings = Settings.from_env({"NODE_ENV": node_env, "JWT_SECRET": "s" * 32})
    assert settings.production is production
    assert settings.limits == limits
    assert settings.detailed_logging is not production


# (variable, bad value) -- "Invalid values stop start-up with a one-line message naming the
# variable".
@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PORT", "70000"),
        ("PORT", "65536"),
        ("PORT", "-1"),
        ("PORT", "http"),
        ("PORT", "30.5"),
        ("WS_HEARTBEAT_INTERVAL", "abc"),
        ("WS_HEARTBEAT_INTERVAL", "0"),
        ("WS_HEARTBEAT_INTERVAL", "-5"),
        ("WS_HEARTBEAT_INTERVAL", "1e3"),
        ("WS_HEARTBEAT_INTERVAL", "30s"),
        ("WS_RATE_LIMIT_WINDOW_MS", "soon"),
        ("WS_RATE_LIMIT_WINDOW_MS", "0"),
        ("WS_TYPING_TIMEOUT", "5.5"),
        ("WS_TYPING_TIMEOUT", "99999999999"),
        ("WS_ENABLE_METRICS", "maybe"),
        ("WS_ENABLE_HEARTBEAT", "enabled"),
        ("FRONTEND_URL", "localhost:5173"),
        ("FRONTEND_URL", "http://localhost:5173/app"),
        ("FRONTEND_URL", "http://ok.example,ftp://bad.example"),
        ("FRONTEND_URL", "http://ok.example,,"),
        ("WS_NAMESPACE", "chat"),
        ("WS_NAMESPACE", "/chat room"),
        ("REFERENCE_LEASE_TTL_MS", "7s"),
        ("REFERENCE_LEASE_TTL_MS", "0"),
        ("REFERENCE_LEASE_RENEW_MS", "-1"),
        ("REFERENCE_LEASE_CHECK_MS", "1.5"),
    ],
)
def test_bad_values_stop_start_up_with_one_line_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: raw})
    message = str(caught.value)
    assert message.startswith(name), message
    assert "\n" not in message
    assert repr(raw.strip()) in message, "the message shows the value it could not use"


def test_the_lease_timings_default_to_7000_2000_1000_ms_and_can_be_set() -> None:
    # D34: a cluster node's lease (not in the API document, not in /health).
    defaults = Settings.from_env({})
    assert (defaults.lease_ttl_ms, defaults.lease_renew_ms, defaults.lease_check_ms) == (
        7_000,
        2_000,
        1_000,
    )
    env = {
        "REFERENCE_LEASE_TTL_MS": "2000",
        "REFERENCE_LEASE_RENEW_MS": "1000",
        "REFERENCE_LEASE_CHECK_MS": "250",
    }
    settings = Settings.from_env(env)
    assert (settings.lease_ttl_ms, settings.lease_renew_ms, settings.lease_check_ms) == (
        2_000,
        1_000,
        250,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REFERENCE_LEASE_RENEW_MS": "3501"},
            "REFERENCE_LEASE_RENEW_MS must be at most half of REFERENCE_LEASE_TTL_MS "
            "(7000 ms), got '3501'",
        ),
        (
            {"REFERENCE_LEASE_TTL_MS": "1000", "REFERENCE_LEASE_RENEW_MS": "1000"},
            "REFERENCE_LEASE_RENEW_MS must be at most half of REFERENCE_LEASE_TTL_MS "
            "(1000 ms), got '1000'",
        ),
        (
            {"REFERENCE_LEASE_TTL_MS": "7001"},
            "REFERENCE_LEASE_TTL_MS + REFERENCE_LEASE_CHECK_MS must be at most 8000 ms, so "
            "that a lost node's sockets are removed within the documented 10 s (D34), "
            "got 7001 + 1000",
        ),
        (
            {"REFERENCE_LEASE_CHECK_MS": "1500"},
            "REFERENCE_LEASE_TTL_MS + REFERENCE_LEASE_CHECK_MS must be at most 8000 ms, so "
            "that a lost node's sockets are removed within the documented 10 s (D34), "
            "got 7000 + 1500",
        ),
    ],
)
def test_lease_timings_that_break_the_lease_stop_start_up(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == message


def test_the_heartbeat_message_says_what_is_expected() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WS_HEARTBEAT_INTERVAL": "abc"})
    assert str(caught.value) == (
        "WS_HEARTBEAT_INTERVAL must be a whole number of milliseconds (1-86400000), got 'abc'"
    )


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_production_without_jwt_secret_is_refused(secret: str | None) -> None:
    env = {"NODE_ENV": "production"}
    if secret is not None:
        env["JWT_SECRET"] = secret
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith("JWT_SECRET must be set")


def test_development_without_jwt_secret_uses_the_development_secret() -> None:
    settings = Settings.from_env({"NODE_ENV": "development", "JWT_SECRET": ""})
    assert settings.jwt_secret.reveal() == DEVELOPMENT_SECRET
    assert settings.development_secret_in_use


def test_a_given_jwt_secret_is_used_in_either_environment() -> None:
    for node_env in ("production", "development"):
        settings = Settings.from_env({"NODE_ENV": node_env, "JWT_SECRET": "from-the-env"})
        assert settings.jwt_secret.reveal() == "from-the-env"
        assert not settings.development_secret_in_use


def test_the_secret_never_appears_in_a_repr() -> None:
    settings = Settings.from_env({"JWT_SECRET": "hunter2-but-longer-than-that"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert "hunter2" not in repr(settings.jwt_secret)
    assert "hunter2" not in f"{settings.jwt_secret}"
    assert DEVELOPMENT_SECRET not in repr(Settings.from_env({}))


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"


@pytest.mark.parametrize(
    ("frontend_url", "origins"),
    [
        ("http://localhost:5173", ["http://localhost:5173"]),
        ("http://a.example, http://b.example", ["http://a.example", "http://b.example"]),
        ("*", ["*"]),
    ],
)
def test_frontend_url_may_list_several_origins(frontend_url: str, origins: list[str]) -> None:
    assert Settings.from_env({"FRONTEND_URL": frontend_url}).cors_origins == origins


def test_replace_gives_new_settings_and_leaves_the_old_alone() -> None:
    settings = Settings.from_env({})
    changed = settings.replace(port=4000)
    assert (settings.port, changed.port) == (3001, 4000)


# D8: "UTC ISO 8601 with milliseconds and `Z` (`2026-11-25T19:43:25.123Z`)".
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 25, 19, 43, 25, 123_000, tzinfo=UTC), "2026-11-25T19:43:25.123Z"),
        (datetime(2026, 11, 25, 19, 43, 25, 0, tzinfo=UTC), "2026-11-25T19:43:25.000Z"),
        (datetime(2026, 11, 25, 19, 43, 25, 999_999, tzinfo=UTC), "2026-11-25T19:43:25.999Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 6_000, tzinfo=UTC), "2026-01-02T03:04:05.006Z"),
        (
            datetime(2026, 11, 25, 21, 43, 25, 123_000, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-25T19:43:25.123Z",
        ),
        (
            datetime(2026, 11, 25, 23, 30, 0, 0, tzinfo=timezone(timedelta(hours=-1))),
            "2026-11-26T00:30:00.000Z",
        ),
    ],
)
def test_timestamps_are_utc_iso_8601_with_milliseconds_and_z(
    moment: datetime, expected: str
) -> None:
    assert iso_timestamp(moment) == expected


# D7: "`error` is the status phrase".
@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
    ],
)
def test_the_error_object_carries_the_status_phrase(status: int, phrase: str) -> None:
    payload = error_payload(ApiError(status, "what went wrong"), "2026-11-25T19:43:25.123Z")
    assert payload == {
        "success": False,
        "error": phrase,
        "message": "what went wrong",
        "statusCode": status,
        "timestamp": "2026-11-25T19:43:25.123Z",
    }


def test_statuses_outside_the_documents_error_table_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="404"):
        ApiError(404, "no such thing")
