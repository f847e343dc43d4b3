"""The Chat Rooms WebSocket API reference server."""

from __future__ import annotations

from reference_server.app import ChatApp, create_app
from reference_server.config import Settings

__all__ = ["ChatApp", "Settings", "create_app"]
