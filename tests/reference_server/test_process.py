"""`python -m reference_server` as a process: start-up refusals, the start-up line, --help,
and a clean exit 0 on SIGTERM and SIGINT with clients connected (issue 2)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping

import pytest
import socketio

from chatrooms_fixtures.tokens import mint
from reference_server.testing import RunningServer
from tests.reference_server.harness import EVENT_TIMEOUT_S

# Every variable the server reads, so that the test process's own environment cannot leak in.
VARIABLES = (
    "PORT", "HOST", "NODE_ENV", "JWT_SECRET", "FRONTEND_URL", "WS_NAMESPACE",
    "WS_ENABLE_METRICS", "WS_ENABLE_HEARTBEAT", "WS_HEARTBEAT_INTERVAL",
    "WS_RATE_LIMIT_WINDOW_MS", "WS_TYPING_TIMEOUT", "REFERENCE_FAULT_ROOM",
)  # fmt: skip
PRODUCTION_SECRET = "the-production-secret-of-the-process-tests"


def clean_env(**env: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in VARIABLES}, **env}


def run_server(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_server", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("args", "env", "variable"),
    [
        pytest.param((), {"WS_HEARTBEAT_INTERVAL": "abc"}, "WS_HEARTBEAT_INTERVAL", id="interval"),
        pytest.param((), {"PORT": "70000"}, "PORT", id="port"),
        pytest.param(("--port", "70000"), {}, "PORT", id="port flag"),
        pytest.param((), {"NODE_ENV": "production"}, "JWT_SECRET", id="production, no secret"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line_naming_the_variable(
    args: tuple[str, ...], env: dict[str, str], variable: str
) -> None:
    result = run_server(*args, **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"chatrooms-server: error: {variable} ")
    assert "Traceback" not in result.stderr


def test_help_lists_the_flags_and_every_variable() -> None:
    result = run_server("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: chatrooms-server")
    for name in ("--host", "--port", *VARIABLES):
        assert name in result.stdout


@pytest.fixture
def start_process() -> Iterator[type[RunningServer]]:
    started: list[RunningServer] = []

    class Tracked(RunningServer):
        def __init__(self, env: Mapping[str, str] | None = None) -> None:
            super().__init__(clean_env(WS_ENABLE_HEARTBEAT="false", **(env or {})))
            started.append(self)

    yield Tracked
    for process in started:
        process.__exit__(None, None, None)


def start_up_line(process: RunningServer) -> str:
    return next(line for line in process.log().splitlines() if "listening on" in line)


async def test_development_logs_its_settings_and_each_connection_and_refusal(
    start_process: type[RunningServer],
) -> None:
    process = await asyncio.to_thread(start_process)
    line = start_up_line(process)
    assert f"listening on {process.url} namespace /chat" in line
    assert "NODE_ENV=development" in line
    assert "limits per 60000 ms: 60 messages, 20 joins, 120 typing" in line
    assert "DEVELOPMENT SECRET IN USE" in line
    await visit(process.url)
    log = process.log()
    # issue 2: "one line per connection/refusal/error in development (detailed logging)"
    assert "as user 'alice' via auth.token" in log
    assert "refused connection" in log and "the token is not a well-formed JWT" in log
    assert "joinRoom from" in log and "refused: 400" in log


async def test_production_logs_its_settings_quietly_and_never_the_secret(
    start_process: type[RunningServer],
) -> None:
    env = {"NODE_ENV": "production", "JWT_SECRET": PRODUCTION_SECRET}
    process = await asyncio.to_thread(start_process, env)
    line = start_up_line(process)
    assert "NODE_ENV=production" in line
    assert "limits per 60000 ms: 30 messages, 10 joins, 60 typing" in line
    assert "JWT_SECRET from the environment" in line
    await visit(process.url, secret=PRODUCTION_SECRET)
    log = process.log()
    assert PRODUCTION_SECRET not in log
    assert "alice" not in log and "refused" not in log


async def visit(url: str, secret: str | None = None) -> None:
    """One accepted connection with one refused event, and one refused connection."""
    token = mint("alice") if secret is None else mint("alice", secret=secret)
    sio, _ = await connected_client(url, "websocket", token)
    reply = await sio.call("joinRoom", {"roomId": ""}, namespace="/chat")
    assert reply["statusCode"] == 400
    await sio.disconnect()
    refused = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(url, auth={"token": "x"}, namespaces=["/chat"],
                              transports=["websocket"], wait_timeout=EVENT_TIMEOUT_S)  # fmt: skip
    await refused.shutdown()


async def connected_client(
    url: str, transport: str, token: str | None = None
) -> tuple[socketio.AsyncClient, asyncio.Event]:
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    gone = asyncio.Event()
    sio.on("disconnect", lambda *reason: gone.set(), namespace="/chat")
    await sio.connect(
        url,
        auth={"token": token or mint("alice")},
        namespaces=["/chat"],
        transports=[transport],
        wait_timeout=EVENT_TIMEOUT_S * 2,
    )
    await sio.call("joinRoom", {"roomId": "lobby"}, namespace="/chat", timeout=EVENT_TIMEOUT_S)
    return sio, gone


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_disconnects_the_clients_and_exits_0_within_seconds(
    start_process: type[RunningServer], signum: signal.Signals
) -> None:
    process = await asyncio.to_thread(start_process)
    clients = [await connected_client(process.url, t) for t in ("websocket", "polling")]
    process.process.send_signal(signum)
    for sio, gone in clients:
        await asyncio.wait_for(gone.wait(), EVENT_TIMEOUT_S)
        await sio.shutdown()
    returncode = await asyncio.to_thread(process.process.wait, EVENT_TIMEOUT_S)
    assert returncode == 0, process.log()
    assert "Traceback" not in process.log()
