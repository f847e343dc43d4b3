"""The clients a check uses: connected Socket.IO clients as fresh users, and HTTP to the
target's endpoints, all recorded in one transcript per test.

Against several nodes of one logical server (D33) the clients are spread: each connection
goes to the node after the previous connection's, and a user's further socket to a node
none of its open sockets is on, so in every multi-client check the actor and the
observers sit on different nodes, and HTTP reads alternate between the nodes. With one
node nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from conformance import expect
from conformance.client import ChatClient, Refused, TokenChannel, Transcript
from conformance.expect import show
from conformance.http import Http
from conformance.target import Target


class Clients:
    """Connects clients as fresh users and disconnects them all at the end of a test."""

    def __init__(self, target: Target, transcript: Transcript, session: aiohttp.ClientSession):
        self.target = target
        self.transcript = transcript
        self.session = session
        self.http = Http(target.urls, session, target.timeout_ms)
        self.tag = uuid.uuid4().hex[:6]
        self.clients: list[ChatClient] = []
        self._usernames: dict[str, str] = {}
        self._last_node = -1
        self.node_of: dict[ChatClient, int] = {}  # which node each connected client is on

    def next_node(self, user_id: str, node: int | None = None) -> int:
        """The node the next connection of `user_id` goes to (see the module docstring)."""
        count = len(self.target.urls)
        if node is None:
            taken = {
                self.node_of[c] for c in self.clients if c.user_id == user_id and c in self.node_of
            }
            order = [(self._last_node + step) % count for step in range(1, count + 1)]
            node = next((n for n in order if n not in taken), order[0])
        self._last_node = node % count
        return self._last_node

    def user(self, name: str) -> tuple[str, str]:
        """A fresh (user id, username) pair: ids never repeat across tests or runs."""
        return f"cf-{name}-{self.tag}", f"{name}-{self.tag}"

    def client(
        self,
        name: str,
        user_id: str | None = None,
        username: str | None = None,
        *,
        namespace: str | None = None,
    ) -> ChatClient:
        default_id, default_name = self.user(name)
        user_id = user_id or default_id
        # One user keeps one username across its sockets unless a test says otherwise, so
        # that documented checks never hinge on D3's first-socket rule.
        username = username or self._usernames.get(user_id, default_name)
        self._usernames.setdefault(user_id, username)
        chat_client = ChatClient(
            name,
            user_id,
            username,
            namespace or self.target.namespace,
            self.transcript,
            self.session,
            self.target.timeout_ms,
        )
        self.clients.append(chat_client)
        return chat_client

    async def connect(
        self,
        name: str,
        *,
        user_id: str | None = None,
        username: str | None = None,
        via: TokenChannel = "auth",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        node: int | None = None,
    ) -> ChatClient:
        """A connected client; a second client with the same user_id is the same user on
        another socket (D5). `node` picks the node of a several-node target."""
        chat_client = self.client(name, user_id, username)
        placed = self.next_node(chat_client.user_id, node)
        self.node_of[chat_client] = placed
        if token is None:
            # A TargetError (a --token-cmd that prints nothing) is the user's set-up, an
            # ERROR of the run, never a verdict on the server.
            token = self.target.token(chat_client.user_id, chat_client.username)
        refusal: Refused | None = None
        try:
            await chat_client.connect(
                self.target.urls[placed],
                token,
                via=via,
                transport=self.target.transport,
                headers=headers,
            )
        except Refused as refused:
            refusal = refused
        # Every check that connects judges this on the way: a valid token is accepted.
        expect.that(
            "AUTH-VALID-TOKEN-ACCEPTED",
            refusal is None,
            sent=f"connect to {self.target.namespace} as {chat_client.user_id} with a valid "
            f"token (via {via})"
            + (
                f" at node {placed} ({self.target.urls[placed]})"
                if self.target.several_nodes
                else ""
            ),
            expected="the connection is accepted",
            actual=f"refused: {refusal.reason} {show(refusal.data)}" if refusal else "accepted",
        )
        return chat_client

    async def member(self, name: str, room: str, **connect: Any) -> ChatClient:
        """A connected client that has joined `room` (a failed join is reported against
        EVT-JOIN-RESPONSE, whatever the test checks)."""
        chat_client = await self.connect(name, **connect)
        reply = await chat_client.request("joinRoom", {"roomId": room})
        expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=room, success=True)
        return chat_client

    async def close(self) -> None:
        for chat_client in self.clients:
            try:
                await chat_client.disconnect()
            except Exception:  # noqa: BLE001 - teardown must reach every client
                pass
