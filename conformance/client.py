"""A Socket.IO client for black-box checks: every event it receives is logged from the
moment it connects (so no listener is ever registered too late), requests accept the
response from either channel (D6), and everything sent and received goes to a transcript
that the report shows next to a failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import socketio

from chatrooms_fixtures.events import RESPONSE_EVENT_OF
from conformance.evidence import show

# doc: each client event's "Response" object names the event it may be emitted as (D6).
RESPONSE_EVENTS = RESPONSE_EVENT_OF

TokenChannel = Literal["auth", "header", "query"]
ACK_GRACE_S = 0.25  # how long an emitted answer waits for an ack that may follow it
Where = Callable[[Any], bool]


@dataclass(frozen=True)
class Received:
    at: float
    event: str
    args: tuple[Any, ...]

    @property
    def payload(self) -> Any:
        return self.args[0] if self.args else None


@dataclass(frozen=True)
class Reply:
    """What answered a request: the ack, or an emitted response/`error` event, or nothing."""

    sent: str
    channel: Literal["ack", "event", "none"]
    event: str | None
    payload: Any
    waited_ms: int

    @property
    def arrived(self) -> bool:
        return self.channel != "none"

    @property
    def accepted(self) -> bool:
        """The success response arrived (an `error` event or `success: false` is a refusal)."""
        return (
            self.arrived
            and self.event != "error"
            and isinstance(self.payload, dict)
            and self.payload.get("success") is True
        )

    def describe(self) -> str:
        if self.channel == "none":
            return f"nothing within {self.waited_ms} ms"
        via = "ack" if self.channel == "ack" else f"event {self.event!r}"
        return f"{show(self.payload)} (via {via})"


class Refused(Exception):
    """The connection was refused; `data` is the connect_error payload, if any."""

    def __init__(self, reason: str, data: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


@dataclass
class Transcript:
    """One test's wire log across all its clients."""

    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    def add(self, who: str, arrow: str, text: str) -> None:
        elapsed = int((time.monotonic() - self.started) * 1000)
        self.lines.append(f"+{elapsed:>5} ms {who} {arrow} {text}")

    def render(self, limit: int = 200) -> str:
        lines = self.lines if len(self.lines) <= limit else self.lines[-limit:]
        return "\n".join(lines)


def emit_data(args: tuple[Any, ...]) -> Any:
    """python-socketio's emit takes one value, or a tuple for several arguments."""
    if not args:
        return None
    return args[0] if len(args) == 1 else tuple(args)


class ChatClient:
    def __init__(
        self,
        name: str,
        user_id: str,
        username: str,
        namespace: str,
        transcript: Transcript | None = None,
        http: aiohttp.ClientSession | None = None,
        timeout_ms: int = 5000,
    ) -> None:
        """`transcript` defaults to one of the client's own, `http` to a session
        python-engineio makes (and closes) for this client."""
        self.name = name
        self.user_id = user_id
        self.username = username
        self.namespace = namespace
        self.timeout_ms = timeout_ms
        self.log: list[Received] = []
        self._consumed: set[int] = set()
        self._arrived = asyncio.Event()
        self._transcript = transcript if transcript is not None else Transcript()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=http)
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("connect_error", self._connect_error, namespace=namespace)
        self.sio.on("disconnect", self._disconnected, namespace=namespace)
        self._refusal: Any = None
        self._refused = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnect_reason: Any = None

    # -- connection ------------------------------------------------------------

    async def connect(
        self,
        url: str,
        token: str | None,
        *,
        via: TokenChannel = "auth",
        transport: str = "websocket",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Connect with the token on one channel (D2); raise Refused with the connect_error
        data when the server refuses."""
        auth = None
        headers = dict(headers or {})
        if token is not None and via == "auth":
            auth = {"token": token}
        elif token is not None and via == "header":
            headers["Authorization"] = f"Bearer {token}"
        elif token is not None and via == "query":
            from urllib.parse import quote

            url = f"{url}/?token={quote(token, safe='')}"
        self._transcript.add(self.name, "->", f"connect ({via}, {transport})")
        connecting = asyncio.ensure_future(
            self.sio.connect(
                url,
                namespaces=[self.namespace],
                auth=auth,
                headers=headers,
                transports=[transport],
                wait_timeout=self.timeout_ms / 1000,
            )
        )
        if transport == "polling":
            # On a refusal python-socketio disconnects and, over polling, waits for the
            # server's pending long-poll; stop waiting once the refusal has arrived.
            refused = asyncio.ensure_future(self._refused.wait())
            await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
            refused.cancel()
            if not connecting.done():
                await self._abandon_polling(connecting)
        try:
            await connecting
        except (socketio.exceptions.ConnectionError, asyncio.CancelledError) as error:
            reason = str(error) or "refused"
            self._transcript.add(self.name, "<-", f"refused: {reason} {show(self._refusal)}")
            raise Refused(reason, self._refusal) from None
        self._transcript.add(self.name, "<-", f"connected as {self.user_id}")

    async def disconnect(self) -> None:
        if not self.sio.connected:
            return
        self._transcript.add(self.name, "->", "disconnect")
        if self.sio.transport() != "polling":
            await self.sio.disconnect()
            return
        await self._abandon_polling(asyncio.ensure_future(self.sio.disconnect()))

    async def _abandon_polling(self, closing: asyncio.Future[Any]) -> None:
        """Let `closing` post its DISCONNECT/CLOSE packets, then stop it from waiting on
        the pending long-poll (python-engineio's client waits for it; browsers do not)."""
        eio = self.sio.eio
        for _ in range(100):
            if eio.state != "connected" or closing.done():
                break
            await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(eio.queue.join(), timeout=self.timeout_ms / 1000)
        except TimeoutError:
            pass
        for task in (eio.read_loop_task, closing):
            if task is not None and not task.done():
                task.cancel()

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and self.namespace in self.sio.namespaces

    # -- sending -----------------------------------------------------------------

    def describe(self, event: str, args: tuple[Any, ...], *, ack: bool) -> str:
        shown = " ".join(show(a, 200) for a in args) if args else "(no payload)"
        return f"{event} {shown} as {self.name}, {'ack requested' if ack else 'no ack'}"

    async def emit(self, event: str, *args: Any) -> str:
        """Send without asking for an ack; return the description for evidence."""
        sent = self.describe(event, args, ack=False)
        self._transcript.add(self.name, "->", sent)
        await self.sio.emit(event, emit_data(args), namespace=self.namespace)
        return sent

    async def request(
        self, event: str, *args: Any, ack: bool = True, within_ms: int | None = None
    ) -> Reply:
        """Send `event` and wait for its answer from either channel (D6): the ack, the
        emitted response event, or an `error` event, whichever comes first."""
        within_ms = within_ms or self.timeout_ms
        sent = self.describe(event, args, ack=ack)
        mark = len(self.log)
        acked: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def on_ack(*data: Any) -> None:
            if not acked.done():
                acked.set_result(data)

        self._transcript.add(self.name, "->", sent)
        started = time.monotonic()
        await self.sio.emit(
            event, emit_data(args), namespace=self.namespace, callback=on_ack if ack else None
        )
        names = {RESPONSE_EVENTS.get(event, ""), "error"}
        deadline = started + within_ms / 1000
        while True:
            if acked.done():
                data = acked.result()
                payload = data[0] if data else None
                self._transcript.add(self.name, "<-", f"ack {show(payload)}")
                return Reply(sent, "ack", None, payload, _ms_since(started))
            candidate = next(
                (
                    i
                    for i in range(mark, len(self.log))
                    if self.log[i].event in names and i not in self._consumed
                ),
                None,
            )
            if candidate is not None:
                if ack:
                    # A server may emit (e.g. `error`) just before it acks; prefer the ack
                    # and leave the emitted event for the checks that look for it.
                    await asyncio.wait({acked}, timeout=ACK_GRACE_S)
                    if acked.done():
                        continue
                entry = self.log[candidate]
                self._consumed.add(candidate)
                return Reply(sent, "event", entry.event, entry.payload, _ms_since(started))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Reply(sent, "none", None, None, within_ms)
            await self._wait_for_arrival(remaining, acked)

    # -- receiving ---------------------------------------------------------------

    async def next(
        self, event: str, *, where: Where | None = None, within_ms: int | None = None
    ) -> Received | None:
        """The first not-yet-taken `event` matching `where` that arrived since connecting,
        waiting up to `within_ms`; None when nothing came."""
        within_ms = within_ms or self.timeout_ms
        deadline = time.monotonic() + within_ms / 1000
        while True:
            for index, entry in enumerate(self.log):
                if index in self._consumed or entry.event != event:
                    continue
                if where is None or _safe(where, entry.payload):
                    self._consumed.add(index)
                    return entry
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self._wait_for_arrival(remaining, None)

    def received(
        self,
        event: str,
        where: Where | None = None,
        *,
        untaken: bool = False,
        unreadable_matches: bool = False,
    ) -> list[Received]:
        """Every `event` received so far that matches `where`; with `untaken`, only those
        no next() or request() has taken yet. A payload the predicate cannot read (a
        missing or renamed field) matches only with `unreadable_matches`: a must-not-receive
        check counts it as received."""
        return [
            e
            for index, e in enumerate(self.log)
            if e.event == event
            and (where is None or _safe(where, e.payload, unreadable_matches))
            and not (untaken and index in self._consumed)
        ]

    async def _wait_for_arrival(self, timeout_s: float, acked: asyncio.Future[Any] | None) -> None:
        self._arrived.clear()
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._arrived.wait())]
        if acked is not None:
            waiters.append(acked)
        _, pending = await asyncio.wait(
            waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if waiters[0] in pending:
            waiters[0].cancel()

    async def _record(self, event: str, *args: Any) -> None:
        self.log.append(Received(time.monotonic(), event, args))
        self._transcript.add(self.name, "<-", f"{event} {' '.join(show(a, 300) for a in args)}")
        self._arrived.set()

    async def _connect_error(self, data: Any = None, *rest: Any) -> None:
        self._refusal = data
        self._refused.set()

    async def _disconnected(self, reason: Any = None) -> None:
        self.disconnect_reason = reason
        self._transcript.add(self.name, "<-", f"disconnected ({reason})")
        self.disconnected.set()


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _safe(where: Where, payload: Any, unreadable: bool = False) -> bool:
    # A predicate over a foreign server's payload must not crash the check on odd shapes;
    # what an unreadable payload means is the caller's choice.
    try:
        return bool(where(payload))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError):
        return unreadable
