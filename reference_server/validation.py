"""Payload rules for the client events (doc: "Client to Server Events"; D12) and the
escaping of delivered text (doc: "XSS protection - HTML content is escaped"; D13).

Each parse_* takes the raw Socket.IO arguments of one event and returns a typed request,
or raises ApiError(400) whose message says which field is wrong and how.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from reference_server.errors import ApiError

ROOM_ID_MAX = 100
CONTENT_MAX = 2000
MESSAGE_TYPES = ("TEXT", "IMAGE", "FILE")  # doc: messageType?: "TEXT" | "IMAGE" | "FILE"
# D12 (reference): room ids are identifiers echoed unescaped, so their alphabet is closed.
T = TypeVar("T")
_ROOM_ID = re.compile(r"[A-Za-z0-9_.:\-]{1," + str(ROOM_ID_MAX) + "}")


@dataclass(frozen=True)
class RoomRequest:
    """joinRoom, leaveRoom and getRoomStats carry only a room."""

    room_id: str


@dataclass(frozen=True)
class SendMessage:
    room_id: str
    content: str
    message_type: str


@dataclass(frozen=True)
class Typing:
    room_id: str
    is_typing: bool


def json_type(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, bytes | bytearray):
        return "binary"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_room_request(args: tuple[Any, ...]) -> RoomRequest:
    return RoomRequest(room_id=_room_id(_payload(args)))


def parse_send_message(args: tuple[Any, ...]) -> SendMessage:
    payload = _payload(args)
    room_id = _room_id(payload)
    content = _field(payload, "content", str, "a string")
    if not 1 <= len(content) <= CONTENT_MAX:
        raise ApiError(400, f"content must be 1-{CONTENT_MAX} characters long, got {len(content)}")
    if not content.strip():
        raise ApiError(400, "content must contain at least one character that is not whitespace")
    # doc: "Default: "TEXT"" when absent; D12: null or anything else is 400.
    message_type = payload.get("messageType", "TEXT")
    if not isinstance(message_type, str) or message_type not in MESSAGE_TYPES:
        raise ApiError(
            400,
            f"messageType must be one of {', '.join(MESSAGE_TYPES)} (or absent), "
            f"got {_show(message_type)}",
        )
    return SendMessage(room_id=room_id, content=content, message_type=message_type)


def parse_typing(args: tuple[Any, ...]) -> Typing:
    payload = _payload(args)
    room_id = _room_id(payload)
    is_typing = _field(payload, "isTyping", bool, "a boolean")
    return Typing(room_id=room_id, is_typing=is_typing)


def escape_html(text: str) -> str:
    """D13: `& < > " '` become entities, once, on the raw input."""
    return html.escape(text, quote=True)


def _payload(args: tuple[Any, ...]) -> dict[str, Any]:
    if not args:
        raise ApiError(400, "payload is missing: send a JSON object")
    if len(args) > 1:
        raise ApiError(400, f"send one JSON object as the payload, got {len(args)} arguments")
    payload = args[0]
    if not isinstance(payload, dict):
        raise ApiError(400, f"payload must be a JSON object, got {json_type(payload)}")
    return payload


def _field(payload: dict[str, Any], name: str, kind: type[T], described: str) -> T:
    if name not in payload:
        raise ApiError(400, f"{name} is required")
    value = payload[name]
    # bool is an int in Python; a JSON number is never a boolean and vice versa.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ApiError(400, f"{name} must be {described}, got {json_type(value)}")
    return value


def _room_id(payload: dict[str, Any]) -> str:
    room_id = _field(payload, "roomId", str, "a string")
    if not _ROOM_ID.fullmatch(room_id):
        raise ApiError(
            400,
            f"roomId must be 1-{ROOM_ID_MAX} characters of letters, digits and -_.: "
            f"got {_show(room_id)}",
        )
    return room_id


def _show(value: object) -> str:
    """A short rendering of a client's value inside an error message, escaped like any
    other delivered text (D13) since clients may display it."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        suffix = f" ({len(value)} characters)" if len(value) > 40 else ""
        return escape_html(repr(shown)) + suffix
    return json_type(value)
