"""D35: every undecodable packet refused by rule, one rate-limited log line, no traceback.

The tables need no socket; the live tests replay fixtures/corpora/hostile.yaml (and frames
Hypothesis makes up) against the real server and read its log through caplog.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from chatrooms_fixtures.corpora import HostileCase, load_hostile
from reference_server import decoding
from reference_server.decoding import (
    MAX_DEPTH,
    MAX_FRAME_SIZE,
    RefusalLog,
    StrictPacket,
    Undecodable,
    frame_problem,
)
from tests.reference_server.harness import EVENT_TIMEOUT_S, QUIET_S, LiveServer, frames

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

# -- decoding, as tables -------------------------------------------------------------------

DECODED = [
    # (encoded, (type, namespace, id, data)): what python-socketio decodes, decoded the same.
    ('2/chat,5["heartbeat"]', (2, "/chat", 5, ["heartbeat"])),
    ('2/chat,["joinRoom",{"roomId":"r"}]', (2, "/chat", None, ["joinRoom", {"roomId": "r"}])),
    ('2["x"]', (2, None, None, ["x"])),
    ('0/chat,{"token":"t"}', (0, "/chat", None, {"token": "t"})),
    ("0/chat?x=1,", (0, "/chat", None, None)),
    ("1/chat,", (1, "/chat", None, None)),
    ('3/chat,12["a"]', (3, "/chat", 12, ["a"])),
    ('2/chat,1["heartbeat",NaN,Infinity]', (2, "/chat", 1, None)),  # python clients send these
    (
        '2/chat,["a",' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "]",
        (2, "/chat", None, None),
    ),
]

REFUSED = [
    # (encoded, close, id): refused with 400 (acked when id is not None) or by closing.
    ('2/chat,7["a",' + "[" * 1000 + "]" * 1000 + "]", False, 7),
    ('2/chat,7["a",' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "]", False, 7),
    ('2/chat,7["a",' + '{"a":' * 1000 + "1" + "}" * 1000 + "]", False, 7),
    ('2/chat,7["a",{bad', False, 7),
    ('2/chat,7{"a":1}', False, 7),
    ("2/chat,7[]", False, 7),
    ("2/chat,7", False, 7),
    ('2/chat,["a",' + "9" * 5000 + "]", False, None),  # over Python's int digit limit
    ("2/chat," + "9" * 40 + '["a"]', False, None),
    ('9/chat,["a"]', True, None),
    ("4/chat,{}", True, None),
    ("", True, None),
    ("x", True, None),
    ('50-/chat,["a"]', True, None),
    ('599-/chat,["a"]', True, None),
    ('21-/chat,["a"]', True, None),
    ('51-/chat,["a",{bad', True, None),
    ("3/chat,1{", True, 1),
    ('3/chat,1{"a":1}', True, None),
    ("0/chat,{bad", True, None),
]


@pytest.mark.parametrize(("encoded", "expected"), DECODED)
def test_strict_packet_decodes_what_a_client_sends(encoded: str, expected: tuple[Any, ...]) -> None:
    pkt = StrictPacket(encoded_packet=encoded)
    kind, namespace, ack_id, data = expected
    assert (pkt.packet_type, pkt.namespace, pkt.id) == (kind, namespace, ack_id)
    if data is not None:
        assert pkt.data == data
    # The same as python-socketio's own decoding, where that one succeeds.
    upstream = socketio.packet.Packet(encoded_packet=encoded)
    assert (upstream.packet_type, upstream.namespace, upstream.id) == (kind, namespace, ack_id)


@pytest.mark.parametrize(("encoded", "close", "ack_id"), REFUSED)
def test_strict_packet_refuses_what_it_cannot_decode(
    encoded: str, close: bool, ack_id: int | None
) -> None:
    with pytest.raises(Undecodable) as refused:
        StrictPacket().decode(encoded)
    assert (refused.value.close, refused.value.id) == (close, ack_id), refused.value.reason
    assert "\n" not in refused.value.reason


def test_a_binary_placeholder_naming_no_attachment_is_refused_with_its_id() -> None:
    pkt = StrictPacket(encoded_packet='51-/chat,4["a",{"_placeholder":true,"num":7}]')
    with pytest.raises(Undecodable) as refused:
        pkt.add_attachment(b"hi")
    assert (refused.value.close, refused.value.id, refused.value.namespace) == (False, 4, "/chat")


@pytest.mark.parametrize(
    ("frame", "refused"),
    [
        ('42/chat,1["heartbeat"]', False),
        ("2probe", False),
        ("3", False),
        ("5", False),
        ("1", False),
        (b"\x00\x01", False),
        ("bAAEC", False),
        ("", True),
        ("hello", True),
        ("9", True),
        ("4", True),
        ("4hello", True),
        ("4[[[[", True),
        ("2" + "[" * 1000, True),
        ("b!!!", True),
        ("4" + "a" * MAX_FRAME_SIZE, True),
        (b"a" * (MAX_FRAME_SIZE + 1), True),
    ],
)
def test_frame_problem_refuses_what_is_not_an_engineio_packet(
    frame: str | bytes, refused: bool
) -> None:
    assert (frame_problem(frame) is not None) == refused


def test_the_refusal_log_writes_at_most_a_few_lines_a_second_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    refusals = RefusalLog(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="reference_server"):
        for _ in range(100):
            refusals.refused("a", "sid-a", "bad")
            refusals.refused("b", "sid-b", "bad")
            now[0] += 0.001
        now[0] += 1.0
        refusals.refused("a", "sid-a", "bad")
    lines = [r.getMessage() for r in caplog.records]
    per_second = decoding.LOG_LINES_PER_SECOND
    assert len(lines) == 2 * per_second + 1
    assert lines[-1].endswith(f"({100 - per_second} more refused in the second before, not logged)")
    assert refusals.refusals == 201 and refusals.lines == len(lines)


# -- the live server --------------------------------------------------------------------

MAX_FRAME = MAX_FRAME_SIZE
ROOM = "hostile-room"


@contextlib.asynccontextmanager
async def chat_websocket(live: LiveServer, user_id: str) -> AsyncIterator[ClientConnection]:
    """A bare websocket connected to the namespace, as a stock client would have it."""
    url = live.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, max_size=None) as ws:
        opened = json.loads(str(await ws.recv())[1:])
        assert opened["maxPayload"] == MAX_FRAME  # D35: the maximum frame, announced
        await ws.send(f"40{live.settings.namespace}," + json.dumps({"token": live.token(user_id)}))
        assert str(await ws.recv()).startswith(f"40{live.settings.namespace},")
        yield ws


def _packet(frame: str, prefix: str) -> Any:
    """The JSON array of an EVENT or ACK frame: '42/chat,["error",{..}]' -> ["error", {..}]."""
    return json.loads(frame[frame.index("[") :])


async def _until(ws: ClientConnection, *prefixes: str) -> dict[str, Any]:
    """The first frame of each prefix, and every frame before; fails after the timeout."""
    found: dict[str, Any] = {}
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while not set(prefixes) <= set(found):
            frame = str(await ws.recv())
            for prefix in prefixes:
                if prefix not in found and frame.startswith(prefix):
                    found[prefix] = _packet(frame, prefix)
    return found


async def _heartbeat_answers(ws: ClientConnection, ack_id: int) -> None:
    await ws.send(f'42/chat,{ack_id}["heartbeat"]')
    found = await _until(ws, f"43/chat,{ack_id}")
    assert found[f"43/chat,{ack_id}"][0]["event"] == "heartbeatResponse"


async def replay(live: LiveServer, case: HostileCase, user_id: str) -> None:
    """Send one case on a fresh connection and check the refusal D35 asks for."""
    async with chat_websocket(live, user_id) as ws:
        for frame in case.frames(namespace="/chat", ack_id=7, room_id=ROOM, max_frame=MAX_FRAME):
            await ws.send(frame)
        if case.expect == "close":
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(EVENT_TIMEOUT_S):
                    while True:
                        await ws.recv()
            return
        if case.expect == "error":
            wanted = ['42/chat,["error",'] + (["43/chat,7"] if case.acked else [])
            found = await _until(ws, *wanted)
            error = found['42/chat,["error",'][1]
            assert (error["statusCode"], error["error"]) == (400, "Bad Request"), case
            if case.acked:
                assert found["43/chat,7"][0]["statusCode"] == 400, case
        elif case.expect == "answered":
            found = await _until(ws, "43/chat,7")
            assert found["43/chat,7"][0]["success"] is True, case
        else:  # ignored: the whole quiet window passes without a frame
            assert await frames(ws, QUIET_S * 3) == [], case
        await _heartbeat_answers(ws, 8)  # D35: "the socket stays usable"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.exc_info is not None or "Traceback" in r.getMessage()
    ]


def _refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused input from" in r.getMessage()]


async def test_every_hostile_case_gets_the_refusal_of_its_rule(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bystander = await server.connect("bystander")
    cases = load_hostile()
    tried: Counter[str] = Counter()
    for number, case in enumerate(cases):
        await replay(server, case, f"hostile-{number}")
        tried[case.kind] += 1
        reply = await bystander.request("heartbeat")
        assert reply.payload["event"] == "heartbeatResponse", reply.describe()
    assert (await server.health())["status"] == "healthy"
    refusals = server.app.sio.refusals.refusals
    lines = _refusal_lines(caplog)
    print(f"hostile cases per kind {dict(tried)}; refusals {refusals}; log lines {len(lines)}")
    assert sum(tried.values()) == len(cases)
    assert _tracebacks(caplog) == []
    # One line per refusal here: every case has a connection of its own (and its budget).
    # A binary payload decodes; the handler refuses it (D12) and logs it as any other 400.
    expected = sum(
        1 for c in cases if c.expect != "answered" and (c.kind, c.rule) != ("binary", "D12")
    )
    assert refusals == len(lines) == expected


async def test_a_flood_of_garbage_writes_only_a_few_log_lines(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    async with chat_websocket(server, "flooder") as ws:
        started = loop.time()
        for i in range(500):
            await ws.send(f'42/chat,{i}["heartbeat",{{bad')
        await _until(ws, "43/chat,499")
        elapsed = loop.time() - started
        await _heartbeat_answers(ws, 1000)
    lines = _refusal_lines(caplog)
    assert server.app.sio.refusals.refusals >= 500
    assert len(lines) <= decoding.LOG_LINES_PER_SECOND * (int(elapsed) + 2)
    assert _tracebacks(caplog) == []


async def test_a_placeholder_naming_no_attachment_leaves_the_socket_usable(
    server: LiveServer,
) -> None:
    # The silent heartbeats: python-socketio kept such a packet pending and took
    # every later frame of the connection for one of its attachments.
    async with chat_websocket(server, "binary") as ws:
        await ws.send('451-/chat,3["heartbeat",{"_placeholder":true,"num":7}]')
        await ws.send(b"hi")
        found = await _until(ws, "43/chat,3")
        assert found["43/chat,3"][0]["statusCode"] == 400
        for ack_id in range(4, 7):
            await _heartbeat_answers(ws, ack_id)


def _rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
async def test_resident_memory_returns_to_its_level_after_hostile_runs(
    server: LiveServer,
) -> None:
    cases = [c for c in load_hostile() if c.kind in ("deep", "size", "frame", "json")]

    async def run(tag: str) -> None:
        for number, case in enumerate(cases):
            await replay(server, case, f"{tag}-{number}")

    await run("warm-up")
    gc.collect()
    level = _rss_kib()
    for round_ in range(3):
        await run(f"round-{round_}")
    gc.collect()
    grown = _rss_kib() - level
    # Three more runs of ~30 connections and ~200 KiB of frames each: what they held is gone.
    assert grown < 8 * 1024, f"resident memory grew by {grown} KiB over three hostile runs"
    assert server.app.sio._binary_packet == {}
    assert len(server.app.sio.eio.sockets) == 0


# -- frames Hypothesis makes up ------------------------------------------------------------

_header = st.sampled_from(["42/chat,", "42/chat,1", "43/chat,1", "451-/chat,", "4", "2", ""])
_body = st.text(alphabet=st.sampled_from('[]{}",:0123456789abtruefalsnl\\-. '), max_size=60)


@pytest.fixture(scope="module")
def hypothesis_server() -> Any:
    live = asyncio.run(LiveServer.start({}))
    yield live
    asyncio.run(live.stop())
    live.join()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(header=_header, body=_body)
def test_any_frame_is_answered_refused_or_closed_without_a_traceback(
    hypothesis_server: LiveServer, header: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    live = hypothesis_server
    url = live.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with sync_connect(url, max_size=None) as ws:
        ws.recv(timeout=EVENT_TIMEOUT_S)
        ws.send("40/chat," + json.dumps({"token": live.token("fuzz")}))
        ws.recv(timeout=EVENT_TIMEOUT_S)
        ws.send(header + body)
        try:
            ws.send('42/chat,99999["heartbeat"]')
            while True:  # the heartbeat is answered unless the connection was closed
                if str(ws.recv(timeout=EVENT_TIMEOUT_S)).startswith("43/chat,99999"):
                    break
        except ConnectionClosed:
            pass
    assert _tracebacks(caplog) == []
    health = asyncio.run(live.health())
    assert health["status"] == "healthy"
