"""The load client's bookkeeping of responses (D6 channels, D7 errors) and Engine.IO
keep-alive, driven with frames in memory: no socket, no gevent monkey-patching."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("gevent", reason="needs the [load] extra (gevent comes with Locust)")

from chatrooms_load.client import ChatConnection, Response  # noqa: E402
from chatrooms_load.protocol import OP_TEXT, FrameReader  # noqa: E402


class FakeSocket:
    def __init__(self) -> None:
        self.frames = FrameReader()
        self.sent: list[str] = []

    def sendall(self, data: bytes) -> None:
        # Client frames are masked; the reader unmasks them.
        self.sent += [payload.decode() for _, payload in self.frames.feed(data)]

    def close(self) -> None:
        pass


class Harness:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.closed: list[str] = []
        self.conn = ChatConnection(
            "http://127.0.0.1:9",
            token="t",
            on_event=lambda name, data, at: self.events.append((name, data)),
            on_close=self.closed.append,
            request_timeout_s=5.0,
        )
        self.socket = FakeSocket()
        self.conn._sock = self.socket  # type: ignore[assignment]
        self.conn.connected = True
        self.responses: list[Response | None] = []

    def emit(self, event: str, payload: Any) -> None:
        self.conn.emit(event, payload, self.responses.append)

    def server(self, text: str) -> bool:
        return self.conn._on_frame(OP_TEXT, text.encode(), time.time())


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_events_ask_for_an_ack_and_the_ack_is_the_response(h: Harness) -> None:
    h.emit("joinRoom", {"roomId": "r"})
    assert h.socket.sent == ['42/chat,1["joinRoom",{"roomId":"r"}]']
    h.server('43/chat,1[{"event":"joinedRoom","roomId":"r","success":true}]')
    (response,) = h.responses
    assert response is not None
    assert response.event == "joinRoom"
    assert response.status is None
    assert response.elapsed_ms >= 0


def test_an_error_object_in_the_ack_carries_its_status_code(h: Harness) -> None:
    h.emit("sendMessage", {"roomId": "r", "content": "x"})
    h.server('43/chat,1[{"success":false,"error":"Too Many Requests","statusCode":429}]')
    (response,) = h.responses
    assert response is not None
    assert response.status == 429
    assert response.error == "429 Too Many Requests"


def test_a_server_that_answers_by_event_resolves_by_event_name(h: Harness) -> None:
    # D6: NestJS-style servers emit the response object under its `event` name.
    h.emit("joinRoom", {"roomId": "r"})
    h.emit("sendMessage", {"roomId": "r", "content": "x"})
    h.server('42/chat,["messageSent",{"success":true}]')
    h.server('42/chat,["joinedRoom",{"roomId":"r","success":true}]')
    assert [r.event for r in h.responses if r is not None] == ["sendMessage", "joinRoom"]
    assert [name for name, _ in h.events] == ["messageSent", "joinedRoom"]


def test_without_acks_an_error_event_answers_the_oldest_request(h: Harness) -> None:
    h.emit("typing", {"roomId": "r", "isTyping": True})
    h.server('42/chat,["error",{"success":false,"error":"Forbidden","statusCode":403}]')
    (response,) = h.responses
    assert response is not None and response.status == 403


def test_once_the_server_acks_emitted_responses_are_just_events(h: Harness) -> None:
    h.emit("joinRoom", {"roomId": "r"})
    h.server('43/chat,1[{"event":"joinedRoom","success":true}]')
    h.emit("joinRoom", {"roomId": "r"})
    h.server('42/chat,["joinedRoom",{"success":true}]')  # not the answer to request 2
    assert len(h.responses) == 1
    h.server('42/chat,["error",{"success":false,"statusCode":429}]')  # D7 duplicate
    assert len(h.responses) == 1
    h.server('43/chat,2[{"event":"joinedRoom","success":true}]')
    assert len(h.responses) == 2


def test_engine_io_ping_is_answered_with_pong(h: Harness) -> None:
    assert h.server("2")
    assert h.socket.sent == ["3"]


def test_socket_io_disconnect_from_the_server_ends_the_session(h: Harness) -> None:
    assert h.server('42/chat,["userOnline",{}]')
    assert not h.server("41/chat,")


def test_other_namespaces_are_ignored(h: Harness) -> None:
    h.server('42/other,["receiveMessage",{}]')
    assert h.events == []


def test_requests_without_an_answer_time_out_when_the_next_one_is_sent(h: Harness) -> None:
    h.emit("heartbeat", None)
    h.conn._pending[1].sent_at -= 10  # sent 10 s ago, timeout 5 s
    h.emit("heartbeat", None)
    assert h.responses == [None]
    assert list(h.conn._pending) == [2]


def test_an_unexpected_close_fails_what_is_in_flight(h: Harness) -> None:
    h.emit("heartbeat", None)
    h.conn._closed("transport close")
    assert h.responses == [None]
    assert h.closed == ["transport close"]


def test_closing_by_the_harness_drops_what_is_in_flight_silently(h: Harness) -> None:
    h.emit("heartbeat", None)
    h.conn.closing = True
    h.conn._closed("io client disconnect")
    assert h.responses == []
    assert h.closed == []


def _text_frame(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + n.to_bytes(2, "big")
    return head + data


@pytest.mark.parametrize("acks_seen", [False, True])
def test_the_pollers_reads_give_the_same_events_however_the_stream_is_split(
    h: Harness, acks_seen: bool
) -> None:
    # The poller hands over what each read returned (ChatConnection._handle): usually one
    # whole frame (the fast path), but a read may end anywhere.
    h.conn._acks_seen = acks_seen
    texts = [
        '42/chat,["receiveMessage",{"content":"short"}]',
        '42/chat,["receiveMessage",{"content":"' + "x" * 300 + '"}]',  # 16-bit length
        '42/chat,["userOnline"]',  # one argument: data None
        '42/chat,["a","b","c"]',  # three: the second is the data
        "2",  # Engine.IO ping
        '42/other,["receiveMessage",{}]',  # another namespace
        '42/chat,["typing",{"roomId":"r"}]',
    ]
    expected = [
        ("receiveMessage", {"content": "short"}),
        ("receiveMessage", {"content": "x" * 300}),
        ("userOnline", None),
        ("a", "b"),
        ("typing", {"roomId": "r"}),
    ]
    stream = b"".join(_text_frame(t) for t in texts)
    for cut in range(1, len(stream)):
        h.events.clear()
        h.socket.sent.clear()
        for data in (stream[:cut], stream[cut:]):
            for i in range(0, len(data), 97):  # and smaller pieces past the cut
                h.conn._handle(data[i : i + 97], time.time())
        assert h.events == expected, cut
        assert h.socket.sent == ["3"]
    h.conn._handle(b"", time.time())  # the server closed the connection
    assert h.closed == ["transport close"] and not h.conn.connected
