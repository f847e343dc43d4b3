"""doc: "Client to Server Events › 6. Heartbeat" (D6, D23)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.suite.conftest import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-HEARTBEAT-RESPONSE", "HB-ANSWERED-WITHOUT-PING")
async def test_heartbeat_answers_heartbeat_response_with_a_timestamp(chat: Clients) -> None:
    alice = await chat.connect("alice")
    reply = await alice.request("heartbeat")
    payload = expect.response("EVT-HEARTBEAT-RESPONSE", reply, "heartbeatResponse", success=True)
    expect.schema("EVT-HEARTBEAT-RESPONSE", "heartbeatResponse", payload, sent=reply.sent)
