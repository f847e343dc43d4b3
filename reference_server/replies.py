"""How answers travel (D6, D7, D9): a handler's response is the ack when the client asked
for one, else it is emitted under its `event` name; a refusal is always the `error`
event (and the ack); an unexpected failure is a 500 with no internals, its traceback in
the log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from reference_server.clock import Clock, iso_timestamp
from reference_server.config import Settings
from reference_server.errors import ApiError, error_payload
from reference_server.payloads import Payload, ServerEvent
from reference_server.socket_server import ack_requested
from reference_server.validation import escape_html, json_type

log = logging.getLogger("reference_server")

Handler = Callable[[str, tuple[Any, ...]], Awaitable[Payload]]


class Replies:
    """The answering side of the namespace's handlers (Chat): how responses and refusals
    travel, and the refusals of what no handler takes (D11 unknown events, D35
    undecodable packets)."""

    sio: socketio.AsyncServer
    settings: Settings
    clock: Clock
    handlers: dict[str, Handler]

    async def undecodable(self, sid: str, reason: str) -> Payload:
        # D35: an EVENT whose payload cannot be decoded gets the D7 error with 400 (the
        # decoder has logged it, rate-limited, so no second line here).
        error = ApiError(400, f"the event could not be decoded: {reason}")
        payload = error_payload(error, iso_timestamp(self.clock.now()))
        await self._send(ServerEvent.ERROR, payload, [sid])
        return payload

    async def unknown_event(self, event: object, sid: str, *args: Any) -> Payload:
        if not isinstance(event, str):
            # Socket.IO names events with strings, but an encoder may send any JSON value.
            error = ApiError(400, f"event names must be strings, got {json_type(event)}")
            return await self._fail(sid, "an event not named by a string", error)
        # D11: an event name the API does not define gets 400 naming the event (D30: the
        # echoed name escaped like any delivered text).
        error = ApiError(
            400,
            f"unknown event `{escape_html(event)}`; this namespace handles "
            + ", ".join(self.handlers),
        )
        return await self._fail(sid, event, error)

    def _guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[Payload]]:
        async def guarded(sid: str, *args: Any) -> Payload:
            try:
                response = await handler(sid, args)
            except ApiError as error:
                return await self._fail(sid, name, error)
            except Exception:
                # D9: the traceback stays in the server's log, never in the payload.
                log.exception("%s from %s failed", name, sid)
                failure = ApiError(
                    500, f"the server failed while handling {name}; the failure was logged"
                )
                return await self._fail(sid, name, failure)
            if not ack_requested():
                # D6: no ack asked for, so the response is emitted under its `event` name.
                await self._send(response["event"], response, [sid])
            return response

        return guarded

    async def _fail(self, sid: str, event: str, error: ApiError) -> Payload:
        """D7: always the `error` event; the returned object becomes the ack when asked."""
        payload = error_payload(error, iso_timestamp(self.clock.now()))
        if self.settings.detailed_logging:
            log.info("%s from %s refused: %d %s", event, sid, error.status, error.message)
        await self._send(ServerEvent.ERROR, payload, [sid])
        return payload

    async def _send(self, event: str, payload: Payload, sids: list[str]) -> None:
        # An empty `to` would broadcast to the whole namespace in python-socketio.
        if not sids:
            return
        namespace = self.settings.namespace
        manager = self.sio.manager
        if not isinstance(manager, AsyncPubSubManager):
            await self.sio.emit(event, payload, to=sids, namespace=namespace)
            return
        # A cluster node (D33): its own sockets directly, never through the message queue;
        # the others' through it, to the node that holds them.
        local = [sid for sid in sids if manager.is_connected(sid, namespace)]
        if local:
            await self.sio.emit(event, payload, to=local, namespace=namespace, ignore_queue=True)
        if len(local) < len(sids):
            mine = set(local)
            remote = [sid for sid in sids if sid not in mine]
            await self.sio.emit(event, payload, to=remote, namespace=namespace)
