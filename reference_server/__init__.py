"""The Chat Rooms WebSocket API reference server.

`create_app(Settings.from_env(os.environ))` builds the ASGI app; `python -m reference_server`
serves it. The names load lazily, so that `--help` and configuration errors stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reference_server.app import ChatApp, create_app
    from reference_server.config import Settings

__all__ = ["ChatApp", "Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("ChatApp", "create_app"):
        from reference_server import app

        return getattr(app, name)
    if name == "Settings":
        from reference_server.config import Settings

        return Settings
    raise AttributeError(f"module 'reference_server' has no attribute {name!r}")
