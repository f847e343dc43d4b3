"""Reading what a server sent, whatever its shape: a nested field, a timestamp. A foreign
server's odd shape reads as None here, so that the expectation that uses it fails with the
evidence rather than the suite with a KeyError."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def field(body: Any, *path: str) -> Any:
    """`body[path[0]][path[1]]...`, or None where an object or a key is missing; a single
    dotted path ("connections.current") may stand for the keys."""
    if len(path) == 1 and "." in path[0]:
        path = tuple(path[0].split("."))
    node = body
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 date-time (with `Z` or an offset) as an aware datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
