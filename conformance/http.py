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
    """Requests to one target over one aiohttp session; against several nodes of one
    logical server (D33) each request goes to the next node, unless `node` picks one."""

    def __init__(
        self, base_urls: str | tuple[str, ...], session: aiohttp.ClientSession, timeout_ms: int
    ) -> None:
        urls = (base_urls,) if isinstance(base_urls, str) else base_urls
        self.base_urls = tuple(u.rstrip("/") for u in urls)
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self._turn = 0

    @property
    def base_url(self) -> str:
        return self.base_urls[0]

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        node: int | None = None,
    ) -> HttpReply:
        if node is None:
            node = self._turn % len(self.base_urls)
            self._turn += 1
        async with self.session.request(
            method,
            self.base_urls[node] + path,
            headers=headers or {},
            timeout=self.timeout,
            allow_redirects=False,
        ) as response:
            body = await response.read()
            return HttpReply(
                response.status, {k.lower(): v for k, v in response.headers.items()}, body
            )

    async def get(
        self, path: str, headers: dict[str, str] | None = None, *, node: int | None = None
    ) -> HttpReply:
        return await self.request("GET", path, headers, node=node)
