"""HTTP to the target's endpoints (/websocket/health, /websocket/stats) through the
aiohttp session a test already holds for its Socket.IO clients."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object when the reply is 200 with one, else None."""
        if self.status != 200:
            return None
        try:
            body = self.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def describe(self, limit: int = 300) -> str:
        return f"{self.status} {self.body[:limit]!r}"


class Http:
    """Requests to one target over one aiohttp session."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, timeout_ms: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> HttpReply:
        async with self.session.request(
            method,
            self.base_url + path,
            headers=headers or {},
            timeout=self.timeout,
            allow_redirects=False,
        ) as response:
            body = await response.read()
            return HttpReply(
                response.status, {k.lower(): v for k, v in response.headers.items()}, body
            )

    async def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        return await self.request("GET", path, headers)
