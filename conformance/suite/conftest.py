"""Fixtures of the conformance suite: the target (started here when no --target is given),
the settings it reports, a factory of connected clients with fresh users, fresh rooms."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conformance import expect
from conformance.client import ChatClient, Refused, TokenChannel, Transcript
from conformance.plugin import level_of, option, transcript_key
from conformance.target import Settings, Target, TargetError, read_settings

# The reference server as the suite starts it: short waits so a run takes seconds (D22,
# D23, D18 values are read back from its health endpoint like any target's).
MANAGED_FAULT_ROOM = "conformance-fault-room"
MANAGED_ENV = {
    "WS_RATE_LIMIT_WINDOW_MS": "3000",
    "WS_HEARTBEAT_INTERVAL": "1000",
    "WS_TYPING_TIMEOUT": "1000",
    "REFERENCE_FAULT_ROOM": MANAGED_FAULT_ROOM,
    # Two origins, so that the comma-separated list (D26, reference) is exercised too.
    "FRONTEND_URL": "http://localhost:5173,http://127.0.0.1:5173",
}


# The production run also turns metrics and the heartbeat off, so that every default run
# judges D24's rule for disabled metrics and D23's "with false, never" as well; the
# development run judges the counters and the ping cadence themselves.
MANAGED_BY_ENVIRONMENT: dict[str, dict[str, str]] = {
    "development": {},
    "production": {"WS_ENABLE_METRICS": "false", "WS_ENABLE_HEARTBEAT": "false"},
}


def _int(config: pytest.Config, flag: str) -> int | None:
    value = option(config, flag)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{flag} must be a whole number, got {value!r}") from None


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    config = request.config
    environment = option(config, "--env")
    if environment not in ("development", "production"):
        raise pytest.UsageError(f"--env must be development or production, got {environment!r}")
    transport = option(config, "--transport")
    if transport not in ("websocket", "polling"):
        raise pytest.UsageError(f"--transport must be websocket or polling, got {transport!r}")
    url = option(config, "--target")
    secret = option(config, "--secret")
    fault_room = option(config, "--fault-room")
    window_ms = _int(config, "--window-ms")
    heartbeat_ms = _int(config, "--heartbeat-interval-ms")
    typing_ms = _int(config, "--typing-timeout-ms")
    server = None
    if url is None:
        from reference_server.launcher import RunningServer

        secret = secret or secrets.token_hex(24)
        server = RunningServer(
            {
                **MANAGED_ENV,
                **MANAGED_BY_ENVIRONMENT[environment],
                "NODE_ENV": environment,
                "JWT_SECRET": secret,
            }
        )
        url = server.url
        fault_room = fault_room or MANAGED_FAULT_ROOM
        window_ms = window_ms or int(MANAGED_ENV["WS_RATE_LIMIT_WINDOW_MS"])
    elif secret is None and option(config, "--token-cmd") is None:
        raise pytest.UsageError(
            "--target needs a token source: --secret S (the target's JWT_SECRET) "
            "or --token-cmd CMD (prints a token for {user_id} {username})"
        )
    built = Target(
        url=url.rstrip("/"),
        namespace=option(config, "--namespace"),
        environment=environment,
        level=level_of(config),  # type: ignore[arg-type]
        transport=transport,
        secret=secret,
        token_cmd=option(config, "--token-cmd"),
        fault_room=fault_room,
        timeout_ms=_int(config, "--timeout-ms") or 2000,
        quiet_ms=_int(config, "--quiet-ms") or 300,
        slow_threshold_ms=_int(config, "--slow-threshold-ms") or 10_000,
        run_slow=bool(config.getoption("run_slow")),
        managed=server is not None,
        window_ms=None,
        heartbeat_interval_ms=heartbeat_ms,
        typing_timeout_ms=typing_ms,
        declared_window_ms=window_ms,
        frontend_url=option(config, "--allowed-origin"),
    )
    try:
        yield built
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def settings(target: Target) -> Settings:
    return read_settings(target)


class Clients:
    """Connects clients as fresh users and disconnects them all at the end of a test."""

    def __init__(self, target: Target, transcript: Transcript, http: aiohttp.ClientSession):
        self.target = target
        self.transcript = transcript
        self.http = http
        self.tag = uuid.uuid4().hex[:6]
        self.clients: list[ChatClient] = []
        self._usernames: dict[str, str] = {}

    def user(self, name: str) -> tuple[str, str]:
        """A fresh (user id, username) pair: ids never repeat across tests or runs."""
        return f"cf-{name}-{self.tag}", f"{name}-{self.tag}"

    def client(
        self,
        name: str,
        user_id: str | None = None,
        username: str | None = None,
        *,
        namespace: str | None = None,
    ) -> ChatClient:
        default_id, default_name = self.user(name)
        user_id = user_id or default_id
        # One user keeps one username across its sockets unless a test says otherwise, so
        # that documented checks never hinge on D3's first-socket rule.
        username = username or self._usernames.get(user_id, default_name)
        self._usernames.setdefault(user_id, username)
        chat_client = ChatClient(
            name,
            user_id,
            username,
            namespace or self.target.namespace,
            self.transcript,
            self.http,
            self.target.timeout_ms,
        )
        self.clients.append(chat_client)
        return chat_client

    async def connect(
        self,
        name: str,
        *,
        user_id: str | None = None,
        username: str | None = None,
        via: TokenChannel = "auth",
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ChatClient:
        """A connected client; a second client with the same user_id is the same user on
        another socket (D5)."""
        chat_client = self.client(name, user_id, username)
        if token is None:
            try:
                token = self.target.token(chat_client.user_id, chat_client.username)
            except TargetError as error:
                pytest.fail(str(error), pytrace=False)
        try:
            await chat_client.connect(
                self.target.url,
                token,
                via=via,
                transport=self.target.transport,
                headers=headers,
            )
        except Refused as refused:
            pytest.fail(
                f"the target refused a valid token for {chat_client.user_id}: "
                f"{refused.reason} {refused.data!r}",
                pytrace=False,
            )
        return chat_client

    async def member(self, name: str, room: str, **connect: Any) -> ChatClient:
        """A connected client that has joined `room` (a failed join is reported against
        EVT-JOIN-RESPONSE, whatever the test checks)."""
        chat_client = await self.connect(name, **connect)
        reply = await chat_client.request("joinRoom", {"roomId": room})
        expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=room, success=True)
        return chat_client

    async def close(self) -> None:
        for chat_client in self.clients:
            try:
                await chat_client.disconnect()
            except Exception:  # noqa: BLE001 - teardown must reach every client
                pass


@pytest_asyncio.fixture
async def chat(request: pytest.FixtureRequest, target: Target) -> AsyncIterator[Clients]:
    transcript = Transcript()
    request.node.stash[transcript_key] = transcript
    async with aiohttp.ClientSession() as http:
        clients = Clients(target, transcript, http)
        try:
            yield clients
        finally:
            await clients.close()


@pytest.fixture
def room() -> str:
    """A fresh room id (D12 alphabet) that no other test or client uses."""
    return f"cf-{uuid.uuid4().hex[:12]}"
