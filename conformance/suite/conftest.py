"""Fixtures of the conformance suite: the target (its reference server started here when
no --target is given), its declared settings, a factory of connected clients with fresh
users, fresh rooms."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from conformance.client import Transcript
from conformance.clients import Clients
from conformance.http import Http
from conformance.managed import server_environment
from conformance.plugin import configured_target, transcript_key
from conformance.target import Declaration, Target


@pytest.fixture(scope="session")
def managed_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The reference server the managed run starts (a cluster with --nodes N), or None."""
    configured = configured_target(request.config)
    if not configured.managed:
        yield None
        return
    from reference_server import testing

    variables = {
        **server_environment(configured.environment),
        "JWT_SECRET": configured.secret or "",
    }
    server: Any = (
        testing.RunningCluster(configured.nodes, variables)
        if configured.nodes > 1
        else testing.RunningServer(variables)
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, managed_server: Any) -> Target:
    configured = configured_target(request.config)
    if managed_server is None:
        return configured
    urls = managed_server.urls if hasattr(managed_server, "nodes") else [managed_server.url]
    return configured.at(*urls)


@pytest.fixture(scope="session")
def kill_node(target: Target, managed_server: Any) -> Callable[[int], None] | None:
    """D34: kill node `index` without closing its sockets; None when the suite cannot."""
    if managed_server is not None and hasattr(managed_server, "nodes"):

        def kill_managed(index: int) -> None:
            managed_server.nodes[index].kill()  # SIGKILL: its sockets are never closed

        return kill_managed
    command = target.kill_node_cmd
    if command is None:
        return None

    def kill(index: int) -> None:
        line = command.format(index=index, url=shlex.quote(target.urls[index]))
        done = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"--kill-node-cmd exited {done.returncode}: {done.stderr[-300:]}")

    return kill


@pytest.fixture(scope="session")
def settings(target: Target) -> Declaration:
    """The configuration the user declared for the target (documented defaults where
    silent): what every check judges by."""
    return target.declared


@pytest_asyncio.fixture
async def chat(request: pytest.FixtureRequest, target: Target) -> AsyncIterator[Clients]:
    transcript = Transcript()
    request.node.stash[transcript_key] = transcript
    async with aiohttp.ClientSession() as session:
        clients = Clients(target, transcript, session)
        try:
            yield clients
        finally:
            await clients.close()


@pytest.fixture
def http(chat: Clients) -> Http:
    """HTTP to the target's endpoints over the test's aiohttp session."""
    return chat.http


@pytest.fixture
def room() -> str:
    """A fresh room id (D12 alphabet) that no other test or client uses."""
    return f"cf-{uuid.uuid4().hex[:12]}"
