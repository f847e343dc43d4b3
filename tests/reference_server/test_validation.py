"""D12 payload rules and D13 escaping, as tables over the pure parse_* functions."""

from __future__ import annotations

from typing import Any

import pytest

from reference_server.errors import ApiError
from reference_server.validation import (
    RoomRequest,
    SendMessage,
    Typing,
    escape_html,
    parse_room_request,
    parse_send_message,
    parse_typing,
)

ROOM = "general"
TEXT = "hello"

# (roomId, accepted) -- D12: "1-100 characters of letters, digits and -_.:"
ROOM_IDS = [
    ("a", True),
    ("x" * 100, True),
    ("Room-1_b.c:d", True),
    ("0123456789", True),
    ("", False),
    ("x" * 101, False),
    ("has space", False),
    ("slash/room", False),
    ("<script>", False),
    ("émoji", False),  # letters means ASCII letters: the alphabet is closed
    ("tab\there", False),
    ("new\nline", False),
    ("room#1", False),
]

# (roomId value, words the message must contain) -- D12: roomId is a string.
ROOM_ID_TYPES = [
    (None, "got null"),
    (7, "got number"),
    (7.5, "got number"),
    (True, "got boolean"),
    (["general"], "got array"),
    ({"id": "general"}, "got object"),
]

# A non-object payload is 400 (D12): (args as received by the handler, message words).
NON_OBJECT_PAYLOADS = [
    (("general",), "got string"),
    ((42,), "got number"),
    (([{"roomId": ROOM}],), "got array"),
    ((None,), "got null"),
    ((b"\x00\x01",), "got binary"),
    ((True,), "got boolean"),
    ((), "payload is missing"),
    (({"roomId": ROOM}, {"roomId": ROOM}), "got 2 arguments"),
]

PARSERS = [
    pytest.param(parse_room_request, {"roomId": ROOM}, id="joinRoom/leaveRoom/getRoomStats"),
    pytest.param(parse_send_message, {"roomId": ROOM, "content": TEXT}, id="sendMessage"),
    pytest.param(parse_typing, {"roomId": ROOM, "isTyping": True}, id="typing"),
]


def refusal(parse: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(args)
    assert caught.value.status == 400, caught.value.message
    return caught.value


@pytest.mark.parametrize(("parse", "valid"), PARSERS)
@pytest.mark.parametrize(("room_id", "accepted"), ROOM_IDS)
def test_room_ids_are_1_to_100_characters_of_a_closed_alphabet(
    parse: Any, valid: dict[str, Any], room_id: str, accepted: bool
) -> None:
    payload = {**valid, "roomId": room_id}
    if accepted:
        assert parse((payload,)).room_id == room_id
    else:
        error = refusal(parse, payload)
        assert "roomId must be 1-100 characters of letters, digits and -_.:" in error.message


@pytest.mark.parametrize(("parse", "valid"), PARSERS)
@pytest.mark.parametrize(("value", "words"), ROOM_ID_TYPES)
def test_a_room_id_that_is_not_a_string_is_400_naming_its_type(
    parse: Any, valid: dict[str, Any], value: object, words: str
) -> None:
    error = refusal(parse, {**valid, "roomId": value})
    assert error.message == f"roomId must be a string, {words}"


@pytest.mark.parametrize(("parse", "valid"), PARSERS)
def test_a_missing_room_id_is_400_saying_it_is_required(parse: Any, valid: dict[str, Any]) -> None:
    payload = {k: v for k, v in valid.items() if k != "roomId"}
    assert refusal(parse, payload).message == "roomId is required"


@pytest.mark.parametrize(("parse", "valid"), PARSERS)
@pytest.mark.parametrize(("args", "words"), NON_OBJECT_PAYLOADS)
def test_payloads_that_are_not_one_json_object_are_400(
    parse: Any, valid: dict[str, Any], args: tuple[Any, ...], words: str
) -> None:
    assert words in refusal(parse, *args).message


@pytest.mark.parametrize(("parse", "valid"), PARSERS)
def test_unknown_extra_fields_are_ignored(parse: Any, valid: dict[str, Any]) -> None:
    extra = {"author": {"id": "mallory"}, "id": "forged", "x": [1, 2], "__proto__": {}}
    assert parse(({**valid, **extra},)) == parse((valid,))


def test_room_requests_parse_to_the_room() -> None:
    assert parse_room_request(({"roomId": ROOM},)) == RoomRequest(room_id=ROOM)


# (content, accepted, words) -- D12: "string of 1-2000 characters (counted on the raw input,
# before escaping) containing at least one character that is not whitespace".
CONTENTS = [
    ("x", True, ""),
    ("x" * 2000, True, ""),
    ("<" * 2000, True, ""),  # escaping would make it 8000 characters; the raw input counts
    ("é" * 2000, True, ""),  # BMP text counts characters, not bytes
    (" x ", True, ""),
    ("", False, "content must be 1-2000 characters long, got 0"),
    ("x" * 2001, False, "content must be 1-2000 characters long, got 2001"),
    (" ", False, "at least one character that is not whitespace"),
    ("   ", False, "at least one character that is not whitespace"),
    ("\t", False, "at least one character that is not whitespace"),
    ("\n", False, "at least one character that is not whitespace"),
    (" \t\n \r\n", False, "at least one character that is not whitespace"),
    (" " * 2000, False, "at least one character that is not whitespace"),
]


@pytest.mark.parametrize(("content", "accepted", "words"), CONTENTS)
def test_content_is_1_to_2000_characters_with_something_besides_whitespace(
    content: str, accepted: bool, words: str
) -> None:
    payload = {"roomId": ROOM, "content": content}
    if accepted:
        assert parse_send_message((payload,)) == SendMessage(ROOM, content, "TEXT")
    else:
        assert words in refusal(parse_send_message, payload).message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "content must be a string, got null"),
        (5, "content must be a string, got number"),
        (True, "content must be a string, got boolean"),
        (["hi"], "content must be a string, got array"),
        ({"text": "hi"}, "content must be a string, got object"),
    ],
)
def test_content_that_is_not_a_string_is_400(value: object, words: str) -> None:
    error = refusal(parse_send_message, {"roomId": ROOM, "content": value})
    assert error.message == words


def test_missing_content_is_400_saying_it_is_required() -> None:
    assert refusal(parse_send_message, {"roomId": ROOM}).message == "content is required"


@pytest.mark.parametrize(
    ("payload_part", "expected"),
    [
        ({}, "TEXT"),  # doc: "Default: "TEXT""
        ({"messageType": "TEXT"}, "TEXT"),
        ({"messageType": "IMAGE"}, "IMAGE"),
        ({"messageType": "FILE"}, "FILE"),
    ],
)
def test_message_type_is_one_of_three_and_defaults_to_text(
    payload_part: dict[str, Any], expected: str
) -> None:
    request = parse_send_message(({"roomId": ROOM, "content": TEXT, **payload_part},))
    assert request.message_type == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "got null"),  # D12: "`null` or anything else is 400"
        ("text", "got &#x27;text&#x27;"),
        ("VIDEO", "got &#x27;VIDEO&#x27;"),
        ("", "got &#x27;&#x27;"),
        (1, "got number"),
        (True, "got boolean"),
        (["TEXT"], "got array"),
        ({"type": "TEXT"}, "got object"),
    ],
)
def test_other_message_types_are_400_naming_the_allowed_values(value: object, shown: str) -> None:
    error = refusal(parse_send_message, {"roomId": ROOM, "content": TEXT, "messageType": value})
    assert error.message == f"messageType must be one of TEXT, IMAGE, FILE (or absent), {shown}"


@pytest.mark.parametrize("is_typing", [True, False])
def test_is_typing_booleans_are_accepted(is_typing: bool) -> None:
    assert parse_typing(({"roomId": ROOM, "isTyping": is_typing},)) == Typing(ROOM, is_typing)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0, "got number"),
        (1, "got number"),
        ("true", "got string"),
        ("false", "got string"),
        (None, "got null"),
        ([True], "got array"),
        ({}, "got object"),
    ],
)
def test_is_typing_that_is_not_a_boolean_is_400(value: object, words: str) -> None:
    error = refusal(parse_typing, {"roomId": ROOM, "isTyping": value})
    assert error.message == f"isTyping must be a boolean, {words}"


def test_missing_is_typing_is_400_saying_it_is_required() -> None:
    assert refusal(parse_typing, {"roomId": ROOM}).message == "isTyping is required"


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    error = refusal(parse_room_request, {"roomId": "y" * 150})
    assert "(150 characters)" in error.message
    assert len(error.message) < 200


def test_a_bad_value_is_escaped_in_the_message_since_clients_may_display_it() -> None:
    error = refusal(parse_room_request, {"roomId": "<img src=x onerror=alert(1)>"})
    assert "<" not in error.message
    assert "&lt;img" in error.message


# D13: "`& < > " '` escaped as HTML entities, once, on the raw input".
ESCAPES = [
    ("plain text", "plain text"),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("a & b", "a &amp; b"),
    ("&amp;", "&amp;amp;"),  # once, on the raw input: an entity in the input is text
    ("&lt;", "&amp;lt;"),
    ('say "hi"', "say &quot;hi&quot;"),
    ("it's", "it&#x27;s"),
    ("<>&\"'", "&lt;&gt;&amp;&quot;&#x27;"),
    ("ünïcødé ✓", "ünïcødé ✓"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES)
def test_html_special_characters_are_escaped_once(raw: str, escaped: str) -> None:
    assert escape_html(raw) == escaped
