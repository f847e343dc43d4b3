"""doc: "Error Codes" 400 and D35: hostile frames, sent raw over an Engine.IO websocket.

What Autobahn-style WebSocket fuzzers do not reach: packets at the Socket.IO and API level
that no stock client sends (fixtures/corpora/hostile.yaml). After each, the same socket
(where it is kept) and a bystander must still get correct answers, and the health endpoint
must still answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from chatrooms_fixtures.corpora import HostileCase, load_hostile
from conformance import expect
from conformance.clients import Clients
from conformance.target import Target

pytestmark = pytest.mark.asyncio

CASE_ACK = 7
PROBE_ACK = 8
BURST = 20


def requirement_of(case: HostileCase) -> str:
    if case.kind == "deep":
        return "ROB-DEEP-PAYLOAD-400" if case.level == "documented" else "ROB-UNDECODABLE-EVENT-400"
    if case.kind == "binary":
        return (
            "ROB-BINARY-PAYLOAD-400" if case.level == "documented" else "ROB-UNDECODABLE-EVENT-400"
        )
    return {
        "json": "ROB-UNDECODABLE-EVENT-400",
        "frame": "ROB-NOT-SOCKETIO-CLOSES",
        "size": "ROB-FRAME-OVERSIZE-CLOSES",
        "namespace": "ROB-UNKNOWN-NAMESPACE-IGNORED",
    }[case.kind]


CASES = [
    pytest.param(case, id=case.name, marks=pytest.mark.requirement(requirement_of(case)))
    for case in load_hostile()
]


class Raw:
    """A bare Engine.IO websocket connected to the namespace, frames logged to the
    transcript-like list `seen`."""

    def __init__(self, ws: ClientConnection, namespace: str, max_frame: int) -> None:
        self.ws = ws
        self.namespace = namespace
        self.max_frame = max_frame
        self.seen: list[str] = []
        self.closed = False

    async def send(self, frame: str | bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(frame)

    async def next_frame(self, within_s: float) -> str | None:
        """The next frame that is not Engine.IO's PING (answered), or None at the end of
        the window or of the connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not self.closed:
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                return None
            except websockets.ConnectionClosed:
                self.closed = True
                return None
            text = frame if isinstance(frame, str) else f"<binary {len(frame)} bytes>"
            if text == "2":
                await self.send("3")
                continue
            if text.startswith(f'42{self.namespace},["ping",'):
                continue  # the app-level heartbeat (D23) may come at any time
            self.seen.append(text[:300])
            return text
        return None

    async def packet(self, prefix: str, within_s: float) -> Any:
        """The JSON array of the first EVENT/ACK frame starting with `prefix`, or None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while (frame := await self.next_frame(deadline - loop.time())) is not None:
            if frame.startswith(prefix):
                with contextlib.suppress(ValueError):
                    return json.loads(frame[frame.index("[") :])
        return None

    async def closes(self, within_s: float) -> bool:
        while await self.next_frame(within_s) is not None:
            pass
        return self.closed


@contextlib.asynccontextmanager
async def raw_chat(target: Target, chat: Clients, name: str) -> AsyncIterator[Raw]:
    user_id, username = chat.user(name)
    url = target.url.replace("http", "ws", 1).rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, max_size=None, open_timeout=target.timeout_ms / 1000) as ws:
        opened = str(await asyncio.wait_for(ws.recv(), target.timeout_ms / 1000))
        max_frame = int(json.loads(opened[1:]).get("maxPayload") or 1_000_000)
        await ws.send(
            f"40{target.namespace}," + json.dumps({"token": target.token(user_id, username)})
        )
        raw = Raw(ws, target.namespace, max_frame)
        # Events for the namespace (another user's userOffline, say) may come before the
        # CONNECT answer; skip them, bounded by the timeout.
        deadline = asyncio.get_running_loop().time() + target.timeout_ms / 1000
        accepted = await raw.next_frame(target.timeout_ms / 1000)
        while (
            accepted is not None
            and accepted.startswith(f"42{target.namespace},")
            and asyncio.get_running_loop().time() < deadline
        ):
            accepted = await raw.next_frame(deadline - asyncio.get_running_loop().time())
        if accepted is None or not accepted.startswith(f"40{target.namespace},"):
            raise expect.Inconclusive(
                f"a raw websocket could not connect to the namespace: {accepted}"
            )
        yield raw


def _sent(case: HostileCase, frames: list[str | bytes]) -> str:
    shown = [
        f[:120] + ("..." if len(f) > 120 else "") if isinstance(f, str) else f"<binary {len(f)}>"
        for f in frames
    ]
    return f"{case.name}: {json.dumps(shown)}"


async def judge_case(
    raw: Raw, case: HostileCase, rid: str, room: str, timeout_s: float, quiet_s: float
) -> None:
    frames = case.frames(
        namespace=raw.namespace, ack_id=CASE_ACK, room_id=room, max_frame=raw.max_frame
    )
    for frame in frames:
        await raw.send(frame)
    sent = _sent(case, frames)
    ack_prefix = f"43{raw.namespace},{CASE_ACK}"
    if case.expect == "close":
        closed = await raw.closes(timeout_s)
        expect.that(
            rid,
            closed,
            sent=sent,
            expected=f"the server closes the connection within {timeout_s:.0f} s",
            actual=f"still open; frames: {expect.show(raw.seen[-3:])}",
        )
        return
    if case.expect == "error":
        error = await raw.packet(f'42{raw.namespace},["error"', timeout_s)
        expect.that(
            rid,
            isinstance(error, list) and len(error) > 1,
            sent=sent,
            expected="an `error` event with statusCode 400",
            actual=f"no error event within {timeout_s:.0f} s; frames: {expect.show(raw.seen[-3:])}"
            + ("; connection closed" if raw.closed else ""),
        )
        assert isinstance(error, list)
        expect.fields(rid, error[1], sent=sent, statusCode=400)
        if case.acked:
            ack = await raw.packet(ack_prefix, timeout_s)
            expect.that(
                rid,
                isinstance(ack, list) and bool(ack),
                sent=sent,
                expected=f"the ack of id {CASE_ACK} carrying the error",
                actual=f"no ack within {timeout_s:.0f} s; frames: {expect.show(raw.seen[-3:])}",
            )
            assert isinstance(ack, list)
            expect.fields(rid, ack[0], sent=sent, statusCode=400)
    elif case.expect == "answered":
        ack = await raw.packet(ack_prefix, timeout_s)
        expect.that(
            rid,
            isinstance(ack, list) and bool(ack),
            sent=sent,
            expected=f"the ack of id {CASE_ACK}",
            actual=f"no ack within {timeout_s:.0f} s; frames: {expect.show(raw.seen[-3:])}",
        )
        assert isinstance(ack, list)
        expect.fields(rid, ack[0], sent=sent, success=True)
    else:  # ignored: listen for the whole quiet window
        stray = await raw.next_frame(quiet_s)
        expect.that(
            rid,
            stray is None and not raw.closed,
            sent=sent,
            expected=f"nothing within {quiet_s * 1000:.0f} ms, and the connection stays open",
            actual="connection closed" if raw.closed else f"received {stray}",
        )
    # D35: "the socket stays usable".
    await raw.send(f'42{raw.namespace},{PROBE_ACK}["heartbeat"]')
    reply = await raw.packet(f"43{raw.namespace},{PROBE_ACK}", timeout_s)
    expect.that(
        rid,
        isinstance(reply, list) and bool(reply),
        sent=f'{sent}, then 42{raw.namespace},{PROBE_ACK}["heartbeat"]',
        expected="the same socket answers heartbeat",
        actual=f"no answer; frames: {expect.show(raw.seen[-3:])}",
    )
    assert isinstance(reply, list)
    expect.fields(rid, reply[0], sent="heartbeat on the same socket", event="heartbeatResponse")


async def others_still_served(rid: str, chat: Clients, bystander: Any, sent: str) -> None:
    reply = await bystander.request("heartbeat")
    expect.response(rid, reply, "heartbeatResponse")
    health = await chat.http.get("/websocket/health")
    body = health.json_object()
    expect.that(
        rid,
        body is not None,
        sent=f"{sent}, then GET /websocket/health",
        expected="the health endpoint still answers with JSON",
        actual=health.describe(),
    )


@pytest.mark.parametrize("case", CASES)
async def test_a_hostile_frame_is_refused_by_rule_and_the_server_stays_up(
    chat: Clients, target: Target, room: str, case: HostileCase
) -> None:
    rid = requirement_of(case)
    bystander = await chat.connect("bystander")
    timeout_s, quiet_s = target.timeout_ms / 1000, target.quiet_ms / 1000
    async with raw_chat(target, chat, "hostile") as raw:
        await judge_case(raw, case, rid, room, timeout_s, quiet_s)
    await others_still_served(rid, chat, bystander, case.name)


BURST_KINDS = sorted({case.kind for case in load_hostile()})


@pytest.mark.requirement("ROB-SURVIVES-BURST")
@pytest.mark.parametrize("kind", BURST_KINDS)
async def test_a_burst_of_each_kind_leaves_the_server_answering(
    chat: Clients, target: Target, room: str, kind: str
) -> None:
    rid = "ROB-SURVIVES-BURST"
    bystander = await chat.connect("bystander")
    cases = [c for c in load_hostile() if c.kind == kind]
    sent = f"{BURST} x each {kind} case of hostile.yaml"
    for number, case in enumerate(cases):
        async with raw_chat(target, chat, f"burst-{number}") as raw:
            for _ in range(BURST if case.expect != "close" else 1):
                for frame in case.frames(
                    namespace=raw.namespace, ack_id=CASE_ACK, room_id=room, max_frame=raw.max_frame
                ):
                    await raw.send(frame)
            if case.expect != "close":
                await raw.send(f'42{raw.namespace},{PROBE_ACK}["heartbeat"]')
                reply = await raw.packet(f"43{raw.namespace},{PROBE_ACK}", target.timeout_ms / 1000)
                expect.that(
                    rid,
                    isinstance(reply, list) and bool(reply),
                    sent=f"{sent}: {case.name}, then heartbeat",
                    expected="the same socket answers heartbeat after the burst",
                    actual=f"no answer; frames: {expect.show(raw.seen[-3:])}"
                    + ("; connection closed" if raw.closed else ""),
                )
    await others_still_served(rid, chat, bystander, sent)
