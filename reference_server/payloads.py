"""Every payload the server sends, built in one place (doc "Server to Client Events" and
each client event's "Response"). Usernames and message content are HTML-escaped here,
exactly once (D13); nothing else in the server escapes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from reference_server.clock import iso_timestamp
from reference_server.validation import escape_html

Payload = dict[str, Any]


class ServerEvent(StrEnum):
    """doc: "Server to Client Events", 1-10."""

    RECEIVE_MESSAGE = "receiveMessage"
    USER_JOINED = "userJoined"
    USER_LEFT = "userLeft"
    USER_ONLINE = "userOnline"
    USER_OFFLINE = "userOffline"
    USER_TYPING = "userTyping"
    ROOM_USERS = "roomUsers"
    ROOM_STATS = "roomStats"
    PING = "ping"
    ERROR = "error"


# -- server events ----------------------------------------------------------------------


def presence(user_id: str, username: str, now: datetime) -> Payload:
    """userOnline, userOffline (D20)."""
    return {"userId": user_id, "username": escape_html(username), "timestamp": iso_timestamp(now)}


def membership(user_id: str, username: str, room_id: str, now: datetime) -> Payload:
    """userJoined, userLeft (D15)."""
    return {**presence(user_id, username, now), "roomId": room_id}


def user_typing(
    user_id: str, username: str, room_id: str, is_typing: bool, now: datetime
) -> Payload:
    """userTyping (D18)."""
    return {
        "userId": user_id,
        "username": escape_html(username),
        "roomId": room_id,
        "isTyping": is_typing,
        "timestamp": iso_timestamp(now),
    }


def message(
    message_id: str,
    content: str,
    author_id: str,
    author_name: str,
    room_id: str,
    message_type: str,
    now: datetime,
) -> Payload:
    """receiveMessage, and messageSent's `message` (D17: the three times are equal)."""
    stamp = iso_timestamp(now)
    return {
        "id": message_id,
        "content": escape_html(content),
        "author": {"id": author_id, "username": escape_html(author_name)},
        "roomId": room_id,
        "messageType": message_type,
        "timestamp": stamp,
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def users(members: Iterable[tuple[str, str]]) -> list[Payload]:
    """(user id, username) pairs as the `users` lists of roomUsers and roomStats."""
    return [{"userId": user_id, "username": escape_html(name)} for user_id, name in members]


def room_users(room_id: str, listed: list[Payload]) -> Payload:
    return {"roomId": room_id, "users": listed}


def room_stats(room_id: str, listed: list[Payload], typing: list[str], now: datetime) -> Payload:
    """roomStats (D19)."""
    return {
        "roomId": room_id,
        "userCount": len(listed),
        "users": listed,
        "typingUsers": typing,
        "timestamp": iso_timestamp(now),
    }


def ping(now: datetime) -> Payload:
    """ping (D23)."""
    return {"timestamp": iso_timestamp(now)}


# -- responses (D6: the ack, or emitted under their `event`) --------------------------------


def joined_room(room_id: str) -> Payload:
    return {"event": "joinedRoom", "roomId": room_id, "success": True}


def left_room(room_id: str) -> Payload:
    return {"event": "leftRoom", "roomId": room_id, "success": True}


def message_sent(sent: Payload) -> Payload:
    return {"event": "messageSent", "message": sent, "success": True}


def typing_updated() -> Payload:
    return {"event": "typingUpdated", "success": True}


def room_stats_retrieved() -> Payload:
    return {"event": "roomStatsRetrieved", "success": True}


def heartbeat_response(now: datetime) -> Payload:
    return {"event": "heartbeatResponse", "timestamp": iso_timestamp(now), "success": True}
