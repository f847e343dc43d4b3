"""The python-socketio server the namespace runs on, with the two things python-socketio
has no public API for: telling a handler whether its client asked for an ack (D6), and
keeping client events named `connect`, `disconnect`, `*` or by no string away from the
lifecycle handlers (D11). Both override `AsyncServer._handle_event_internal` (private;
verified with python-socketio 5.18, see tests/reference_server/test_library_seams.py).
D35's decoding rules come from StrictDecodingServer (decoding.py)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from socketio import packet

from reference_server.decoding import StrictDecodingServer

# D6: whether the event being handled asked for an acknowledgement. python-socketio does
# not tell a handler, so ChatSocketServer sets this in the task that runs the handler.
_ACK_REQUESTED: ContextVar[bool] = ContextVar("ack_requested", default=False)
# Event names that python-socketio resolves to a handler other than the catch-all (D11).
_NOT_HANDLER_NAMES = frozenset({"connect", "disconnect", "*"})


def ack_requested() -> bool:
    """Whether the client event being handled asked for an acknowledgement (D6)."""
    return _ACK_REQUESTED.get()


class ChatSocketServer(StrictDecodingServer):
    """An AsyncServer whose handlers can tell whether the client asked for an ack (D6)."""

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: Any
    ) -> None:
        _ACK_REQUESTED.set(id is not None)
        if data and (not isinstance(data[0], str) or data[0] in _NOT_HANDLER_NAMES):
            # D11: an EVENT packet named `connect`, `disconnect` or `*`, or by no string at
            # all, is a client's unknown event. python-socketio would hand it to the
            # lifecycle handlers (re-identifying or forgetting the socket), to the catch-all
            # without its name, or fail on it; so the catch-all gets it, with its name.
            catch_all = self.handlers.get(namespace, {}).get("*")
            if catch_all is None:
                return
            response = await catch_all(data[0], sid, *data[1:])
            if id is not None:
                ack = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[response])
                await self._send_packet(eio_sid, ack)
            return
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
