"""doc: "Server to Client Events › 9. Heartbeat Ping" (D23, D25): `ping` with `{timestamp}`
to every connected socket every WS_HEARTBEAT_INTERVAL ms, none when heartbeat is off, and
no socket dropped for leaving pings unanswered (reference)."""

from __future__ import annotations

import asyncio

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import ChatClient, Received
from conformance.clients import Clients
from conformance.expect import show
from conformance.target import Declaration, Target

pytestmark = pytest.mark.asyncio

PINGS = 3  # two gaps per socket, over more than two intervals without an answer


def tolerance(interval_ms: int) -> tuple[float, float]:
    """Generous bounds for one gap between pings on a shared, loaded machine."""
    return interval_ms * 0.65 - 150, interval_ms * 1.35 + 150


@requirement(
    "HB-PING-INTERVAL",
    "SRV-PING-PAYLOAD",
    "CFG-WS-HEARTBEAT-INTERVAL",
    "SRV-TIMESTAMP-FORMAT",
    "HB-NO-DROP",
)
async def test_ping_reaches_every_socket_at_the_interval_and_unanswered_sockets_stay(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    if not settings.heartbeat_enabled:
        expect.not_applicable("the target is declared with the heartbeat off")
    interval = settings.heartbeat_interval_ms
    low, high = tolerance(interval)
    if PINGS * high > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(
            f"{PINGS} pings at {interval} ms take longer than --slow-threshold-ms "
            f"{target.slow_threshold_ms}; pass --run-slow to wait for them"
        )
    alice = await chat.connect("alice")
    # "every connected socket": a second socket of the same user, and another user.
    sockets = [
        alice,
        await chat.connect("alice-2", user_id=alice.user_id, username=alice.username),
        await chat.connect("bob"),
    ]
    sent = f"nothing: {len(sockets)} sockets listen and never answer a ping"

    async def pings_at(client: ChatClient) -> list[Received]:
        got: list[Received] = []
        while len(got) < PINGS:
            ping = await client.next("ping", within_ms=int(high))
            if ping is None:
                expect.that(
                    "HB-NO-DROP",
                    client.connected,
                    sent=sent,
                    expected=f"{client.name} stays connected without answering pings",
                    actual=f"disconnected after {len(got)} pings",
                )
                expect.that(
                    "HB-PING-INTERVAL",
                    False,
                    sent=sent,
                    expected=f"a ping at {client.name} within {high:.0f} ms "
                    + ("(the heartbeat is declared on)" if not got else "of the last"),
                    actual=f"no ping within {high:.0f} ms after {len(got)} pings",
                )
            assert ping is not None
            got.append(ping)
        return got

    arrivals = await asyncio.gather(*(pings_at(client) for client in sockets))
    for client, pings in zip(sockets, arrivals, strict=True):
        gaps = [(b.at - a.at) * 1000 for a, b in zip(pings, pings[1:], strict=False)]
        expect.that(
            "HB-PING-INTERVAL",
            all(low <= gap <= high for gap in gaps),
            sent=sent,
            expected=f"pings at {client.name} every {interval} ms "
            f"(each gap within {low:.0f}-{high:.0f} ms)",
            actual=f"gaps of {', '.join(f'{gap:.0f}' for gap in gaps)} ms",
        )
        expect.that(
            "CFG-WS-HEARTBEAT-INTERVAL",
            bool(gaps) and all(low <= gap <= high for gap in gaps),
            sent=sent,
            expected=f"the ping cadence follows WS_HEARTBEAT_INTERVAL={interval} "
            f"({settings.source('heartbeat_interval_ms')})",
            actual=f"gaps of {', '.join(f'{gap:.0f}' for gap in gaps)} ms",
        )
        for ping in pings:
            expect.schema("SRV-PING-PAYLOAD", "ping", ping.payload, sent=f"ping to {client.name}")
            expect.schema(
                "SRV-TIMESTAMP-FORMAT",
                "ping",
                ping.payload,
                sent=f"ping to {client.name}",
                level="reference",
            )
    # D23 (reference): none of them was dropped for not answering; each still works.
    for client in sockets:
        reply = await client.request("getRoomStats", {"roomId": room})
        expect.that(
            "HB-NO-DROP",
            client.connected and reply.arrived,
            sent=f"getRoomStats after {PINGS} unanswered pings, as {client.name}",
            expected="the socket is still connected and answered",
            actual=f"connected={client.connected}, {reply.describe()}",
        )


@requirement("CFG-WS-ENABLE-HEARTBEAT")
async def test_no_ping_arrives_when_heartbeat_is_disabled(
    chat: Clients, target: Target, settings: Declaration
) -> None:
    if settings.heartbeat_enabled:
        expect.not_applicable("the target is declared with the heartbeat on")
    quiet = int(1.5 * settings.heartbeat_interval_ms)
    if quiet > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(
            f"listening {quiet} ms (1.5 intervals) is longer than --slow-threshold-ms "
            f"{target.slow_threshold_ms}; pass --run-slow to wait"
        )
    alice = await chat.connect("alice")
    await expect.nothing(
        "CFG-WS-ENABLE-HEARTBEAT",
        [alice],
        "ping",
        sent="nothing (the heartbeat is declared off)",
        within_ms=quiet,
    )
    stray = alice.received("ping")
    expect.that(
        "CFG-WS-ENABLE-HEARTBEAT",
        not stray,
        sent="nothing",
        expected="no ping",
        actual=show([p.payload for p in stray]),
    )
