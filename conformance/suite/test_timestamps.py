"""D8 (reference): every timestamp is UTC ISO 8601 with milliseconds and `Z`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio

TO_ISO_STRING = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def stamps(payload: Any, path: str = "$") -> list[tuple[str, Any]]:
    """Every timestamp, createdAt and updatedAt in a payload, with its path."""
    found = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("timestamp", "createdAt", "updatedAt", "lastActivity"):
                found.append((f"{path}.{key}", value))
            found += stamps(value, f"{path}.{key}")
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            found += stamps(value, f"{path}[{index}]")
    return found


@requirement("SRV-TIMESTAMP-FORMAT")
async def test_every_timestamp_has_the_to_iso_string_form(chat: Clients, room: str) -> None:
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    await alice.request("sendMessage", {"roomId": room, "content": "time"})
    await alice.request("typing", {"roomId": room, "isTyping": True})
    await alice.request("getRoomStats", {"roomId": room})
    await alice.request("heartbeat")
    await alice.request("sendMessage", {"roomId": room, "content": ""})
    await expect.received("SRV-TIMESTAMP-FORMAT", bob, "userTyping", sent="alice types")
    payloads = [(e.event, e.payload) for c in (alice, bob) for e in c.log]
    for health_path in ("/websocket/health", "/websocket/stats"):
        payloads.append((health_path, await expect.json_endpoint(chat.http, health_path)))
    checked = 0
    for event, payload in payloads:
        for path, value in stamps(payload):
            checked += 1
            expect.that(
                "SRV-TIMESTAMP-FORMAT",
                isinstance(value, str) and bool(TO_ISO_STRING.fullmatch(value)),
                sent="a session of joins, a message, typing, stats, heartbeat, an error",
                expected=f"{event} {path} like 2026-11-25T19:43:25.123Z",
                actual=expect.show(value),
            )
    expect.that(
        "SRV-TIMESTAMP-FORMAT",
        checked >= 8,
        sent="the same session",
        expected="at least 8 timestamps to judge",
        actual=f"{checked} found",
    )
