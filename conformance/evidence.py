"""How evidence prints: compact JSON, cut to a readable length. A leaf module, so that the
client (which logs what it sends and receives) and the expectations share it without
importing each other."""

from __future__ import annotations

import json
from typing import Any


def show(value: Any, limit: int = 400) -> str:
    """Compact JSON for evidence lines."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
