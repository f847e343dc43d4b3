"""Wire formats of the load client: RFC 6455 frames and handshake, Socket.IO v4 packets."""

from __future__ import annotations

import pytest

from chatrooms_load.protocol import (
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    Endpoint,
    FrameReader,
    ProtocolError,
    SioPacket,
    accept_value,
    apply_mask,
    check_handshake_response,
    decode_sio,
    encode_connect,
    encode_event,
    encode_frame,
    handshake_request,
    loads_at,
)


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it (RFC 6455 5.1)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def test_rfc_6455_accept_value_example() -> None:
    # RFC 6455 section 1.3.
    assert accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_client_frames_are_masked_and_decode_back(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = encode_frame(OP_TEXT, payload, mask=b"\x01\x02\x03\x04")
    assert frame[1] & 0x80  # masked
    assert FrameReader().feed(frame) == [(OP_TEXT, payload)]


def test_mask_is_its_own_inverse() -> None:
    data = b"hello, masked world"
    assert apply_mask(apply_mask(data, b"abcd"), b"abcd") == data


def test_reader_handles_any_split_of_the_stream() -> None:
    stream = server_frame(OP_TEXT, b'42/chat,["a"]') + server_frame(OP_TEXT, b"x" * 300)
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == [(OP_TEXT, b'42/chat,["a"]'), (OP_TEXT, b"x" * 300)]


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    stream = (
        server_frame(OP_TEXT, b"hel", fin=False)
        + server_frame(OP_PING, b"p")
        + server_frame(OP_CONTINUATION, b"lo")
        + server_frame(OP_CLOSE, b"\x03\xe8")
    )
    assert FrameReader().feed(stream) == [
        (OP_PING, b"p"),
        (OP_TEXT, b"hello"),
        (OP_CLOSE, b"\x03\xe8"),
    ]


def test_continuation_without_a_start_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        FrameReader().feed(server_frame(OP_CONTINUATION, b"x"))


def test_handshake_request_asks_for_engine_io_4_over_websocket_without_origin() -> None:
    request = handshake_request(Endpoint.from_url("http://127.0.0.1:3001"), "a2V5", {}).decode()
    assert request.startswith("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
    assert "Host: 127.0.0.1:3001\r\n" in request
    assert "Sec-WebSocket-Key: a2V5\r\n" in request
    assert "origin" not in request.lower()  # D26: a non-browser client sends none
    assert request.endswith("\r\n\r\n")


def test_handshake_response_must_be_101_with_the_right_accept() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    good = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    check_handshake_response(good, key)
    with pytest.raises(ProtocolError, match="403"):
        check_handshake_response(b"HTTP/1.1 403 Forbidden\r\n", key)
    with pytest.raises(ProtocolError, match="Accept"):
        check_handshake_response(b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope", key)


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("http://127.0.0.1:3001", "127.0.0.1", 3001, False),
        ("ws://localhost", "localhost", 80, False),
        ("https://chat.example", "chat.example", 443, True),
        ("wss://[::1]:8443/", "::1", 8443, True),
    ],
)
def test_endpoints_from_urls(url: str, host: str, port: int, tls: bool) -> None:
    assert Endpoint.from_url(url) == Endpoint(host, port, tls)


def test_socket_io_packets_as_on_the_wire() -> None:
    assert encode_connect("/chat", {"token": "t"}) == '40/chat,{"token":"t"}'
    assert encode_event("/chat", "joinRoom", {"roomId": "r"}, 7) == (
        '42/chat,7["joinRoom",{"roomId":"r"}]'
    )
    assert encode_event("/", "heartbeat", None) == '42["heartbeat"]'


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ('0/chat,{"sid":"abc"}', SioPacket("0", "/chat", None, {"sid": "abc"})),
        (
            '2/chat,["receiveMessage",{"a":1}]',
            SioPacket("2", "/chat", None, ["receiveMessage", {"a": 1}]),
        ),
        ('3/chat,17[{"success":true}]', SioPacket("3", "/chat", 17, [{"success": True}])),
        (
            '4/chat,{"message":"Unauthorized"}',
            SioPacket("4", "/chat", None, {"message": "Unauthorized"}),
        ),
        ("1/chat,", SioPacket("1", "/chat", None, None)),
        ('2["ping",{}]', SioPacket("2", "/", None, ["ping", {}])),
    ],
)
def test_socket_io_packets_decode(text: str, packet: SioPacket) -> None:
    assert decode_sio(text) == packet


@pytest.mark.parametrize("text", ["", "9", '51-/chat,["x"]', "2/chat,[broken"])
def test_unreadable_socket_io_packets_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_sio(text)


def test_one_whole_frame_per_read_takes_the_fast_path_and_agrees_with_the_buffer() -> None:
    frames = [
        bytes([0x81, 5]) + b"hello",
        bytes([0x81, 126, 0, 200]) + b"x" * 200,
        bytes([0x89, 0]),
    ]
    for frame in frames:
        whole, split = FrameReader(), FrameReader()
        assert whole.feed(frame) == split.feed(frame[:3]) + split.feed(frame[3:])
    # a frame followed by the start of the next goes through the buffer
    reader = FrameReader()
    assert reader.feed(frames[0] + frames[1][:10]) == [(1, b"hello")]
    assert reader.feed(frames[1][10:]) == [(1, b"x" * 200)]


def test_loads_at_decodes_in_place_and_refuses_bad_json() -> None:
    assert loads_at('42/chat,["a",{"b":1}]', 8) == ["a", {"b": 1}]
    assert loads_at("x[1] ", 1) == [1]
    with pytest.raises(ProtocolError):
        loads_at("x[1", 1)
