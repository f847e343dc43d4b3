"""Fixtures of the conformance suite: the target (its reference server started here when
no --target is given), its declared settings, a factory of connected clients with fresh
users, fresh rooms."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

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
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    configured = configured_target(request.config)
    if not configured.managed:
        yield configured
        return
    from reference_server.testing import RunningServer

    server = RunningServer(
        {**server_environment(configured.environment), "JWT_SECRET": configured.secret or ""}
    )
    try:
        yield configured.at(server.url)
    finally:
        server.stop()


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
