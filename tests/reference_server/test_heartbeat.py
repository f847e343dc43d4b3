"""The app-level heartbeat (D23): `ping` with `{timestamp}` to every socket every
WS_HEARTBEAT_INTERVAL ms when enabled, never when disabled; `heartbeat` always answered."""

from __future__ import annotations

import time

from reference_server.clock import iso_timestamp
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import FakeClock, assert_silent

INTERVAL_MS = 300


async def test_every_socket_gets_a_ping_every_interval(start_server: StartServer) -> None:
    clock = FakeClock()
    started = time.monotonic()
    live = await start_server(clock=clock, WS_ENABLE_HEARTBEAT="true",
                              WS_HEARTBEAT_INTERVAL=INTERVAL_MS)  # fmt: skip
    alice = await live.connect("alice")
    alice_too = await live.connect("alice")
    bob = await live.connect("bob")
    for _ in range(3):
        assert await alice.next("ping") == {"timestamp": iso_timestamp(clock.now())}
    assert await alice_too.next("ping") == {"timestamp": iso_timestamp(clock.now())}
    assert await bob.next("ping") == {"timestamp": iso_timestamp(clock.now())}
    # The cadence, bounded from the side a busy machine cannot violate: the first ping
    # comes one interval after start-up, so three need three intervals, and there are
    # never more pings than intervals passed.
    elapsed_ms = (time.monotonic() - started) * 1000
    assert elapsed_ms >= 3 * INTERVAL_MS * 0.95
    assert 3 + len(alice.received("ping")) <= elapsed_ms / INTERVAL_MS + 1
    # D23: "does not drop a socket for not answering pings" -- alice never answered.
    assert alice.sio.connected
    assert (await alice.call("heartbeat"))["success"] is True


async def test_health_shows_the_heartbeat_settings(start_server: StartServer) -> None:
    live = await start_server(WS_ENABLE_HEARTBEAT="true", WS_HEARTBEAT_INTERVAL=INTERVAL_MS)
    features = (await live.health())["features"]
    assert (features["heartbeat"], features["heartbeatIntervalMs"]) == (True, INTERVAL_MS)


async def test_no_ping_is_sent_when_the_heartbeat_is_disabled(start_server: StartServer) -> None:
    live = await start_server(WS_ENABLE_HEARTBEAT="false", WS_HEARTBEAT_INTERVAL=INTERVAL_MS)
    alice = await live.connect("alice")
    await assert_silent((alice, "ping"), within=3 * INTERVAL_MS / 1000)
    reply = await alice.call("heartbeat")  # D23: answered "whether or not the server pings"
    assert (reply["event"], reply["success"]) == ("heartbeatResponse", True)
    assert (await live.health())["features"]["heartbeat"] is False


async def test_the_heartbeat_is_on_by_default_at_30_seconds(start_server: StartServer) -> None:
    live = await start_server(WS_ENABLE_HEARTBEAT="")  # unset: the documented default
    features = (await live.health())["features"]
    assert (features["heartbeat"], features["heartbeatIntervalMs"]) == (True, 30_000)
