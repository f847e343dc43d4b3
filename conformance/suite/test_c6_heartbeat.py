"""doc: "Client to Server Events › 6. Heartbeat" (D6, D23)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-HEARTBEAT-RESPONSE", "HB-ANSWERED-WITHOUT-PING")
async def test_heartbeat_answers_heartbeat_response_with_a_timestamp(chat: Clients) -> None:
    alice = await chat.connect("alice")
    pinged_before = bool(alice.received("ping"))
    reply = await alice.request("heartbeat")
    payload = expect.response("EVT-HEARTBEAT-RESPONSE", reply, "heartbeatResponse", success=True)
    expect.schema("EVT-HEARTBEAT-RESPONSE", "heartbeatResponse", payload, sent=reply.sent)
    # D23: the answer does not depend on a ping having come first; with the heartbeat
    # declared off (the managed production run) the server never pings at all.
    pings = "off: the server never pings" if not chat.target.declared.heartbeat_enabled else "on"
    expect.that(
        "HB-ANSWERED-WITHOUT-PING",
        not pinged_before and payload.get("success") is True,
        sent=f"{reply.sent} right after connecting, before any ping (heartbeat declared {pings})",
        expected='{event: "heartbeatResponse", timestamp, success: true} with no ping before it',
        actual=f"{reply.describe()}; a ping came first: {pinged_before}",
    )
