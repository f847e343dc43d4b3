"""The server's Clock seam over the wire: the timestamps it stamps and the rate-limit
window it enforces follow the clock it was given, so a test moves time by hand (a black
box can only wait). The rules themselves are tables in test_rate_limit_rule.py; what
clients see of them is the conformance suite's (RL-*, SRV-TIMESTAMP-FORMAT)."""

from __future__ import annotations

import pytest

from conformance.client import ChatClient
from reference_server.clock import iso_timestamp
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import FakeClock

WINDOW_MS = 60_000
ENVIRONMENTS = {
    "production": ({"NODE_ENV": "production", "JWT_SECRET": "a-production-secret-0123456789"}, 10),
    "development": ({"NODE_ENV": "development"}, 20),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_timestamps_follow_the_server_clock(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(clock=clock)
    alice = await live.connect("alice")
    first = (await alice.request("heartbeat")).payload
    assert first["timestamp"] == iso_timestamp(clock.now())
    clock.advance(61.5)
    second = (await alice.request("heartbeat")).payload
    assert second["timestamp"] == iso_timestamp(clock.now()) != first["timestamp"]


async def status_of_join(client: ChatClient, room: str) -> int:
    reply = (await client.request("joinRoom", {"roomId": room})).payload
    return 200 if reply.get("success") is True else int(reply["statusCode"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
async def test_the_full_allowance_returns_when_the_clock_passes_the_window(
    start_server: StartServer, clock: FakeClock, env: str
) -> None:
    variables, joins = ENVIRONMENTS[env]
    live = await start_server(clock=clock, **variables)
    alice = await live.connect("alice")
    assert [await status_of_join(alice, f"room-{n}") for n in range(joins)] == [200] * joins
    assert await status_of_join(alice, "late") == 429
    clock.advance(WINDOW_MS / 1000 - 0.001)
    assert await status_of_join(alice, "late") == 429
    clock.advance(0.001)
    assert [await status_of_join(alice, f"again-{n}") for n in range(joins)] == [200] * joins
    assert await status_of_join(alice, "late") == 429
