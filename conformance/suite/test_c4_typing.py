"""doc: "Client to Server Events › 4. Typing Indicator" (D6, D16, D18)."""

from __future__ import annotations

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.clients import Clients

pytestmark = pytest.mark.asyncio


@requirement("EVT-TYPING-RESPONSE")
@pytest.mark.parametrize("is_typing", [True, False])
async def test_typing_answers_typing_updated_with_success(
    chat: Clients, room: str, is_typing: bool
) -> None:
    alice = await chat.member("alice", room)
    reply = await alice.request("typing", {"roomId": room, "isTyping": is_typing})
    payload = expect.response("EVT-TYPING-RESPONSE", reply, "typingUpdated", success=True)
    expect.schema("EVT-TYPING-RESPONSE", "typingUpdated", payload, sent=reply.sent)
