"""doc: "Server to Client Events › 6. User Typing" (D5, D18)."""

from __future__ import annotations

import time

import pytest

from conformance import expect
from conformance.catalogue import requirement
from conformance.client import ChatClient, Where
from conformance.clients import Clients
from conformance.expect import ConformanceFailure
from conformance.target import Declaration, Target

pytestmark = pytest.mark.asyncio


def typing_of(user: ChatClient, room: str, is_typing: bool) -> Where:
    return lambda p: (p["userId"], p["roomId"], p["isTyping"]) == (user.user_id, room, is_typing)


async def typing_pair(chat: Clients, room: str) -> tuple[ChatClient, ChatClient]:
    """alice and bob in `room`; alice starts typing and bob has heard it."""
    bob = await chat.member("bob", room)
    alice = await chat.member("alice", room)
    reply = await alice.request("typing", {"roomId": room, "isTyping": True})
    expect.response("EVT-TYPING-RESPONSE", reply, "typingUpdated", success=True)
    await expect.received(
        "SRV-USER-TYPING-RECIPIENTS",
        bob,
        "userTyping",
        sent=reply.sent,
        where=typing_of(alice, room, True),
    )
    return alice, bob


@requirement("SRV-USER-TYPING-RECIPIENTS", "SRV-USER-TYPING-PAYLOAD")
async def test_user_typing_goes_to_others_in_the_room_only(chat: Clients, room: str) -> None:
    bob = await chat.member("bob", room)
    outsider = await chat.member("carol", f"{room}-elsewhere")
    alice = await chat.member("alice", room)
    reply = await alice.request("typing", {"roomId": room, "isTyping": True})
    got = await expect.received(
        "SRV-USER-TYPING-RECIPIENTS",
        bob,
        "userTyping",
        sent=reply.sent,
        where=typing_of(alice, room, True),
    )
    expect.fields(
        "SRV-USER-TYPING-PAYLOAD",
        got,
        sent=reply.sent,
        userId=alice.user_id,
        username=alice.username,
        roomId=room,
        isTyping=True,
    )
    expect.schema("SRV-USER-TYPING-PAYLOAD", "userTyping", got, sent=reply.sent)
    await expect.nothing(
        "SRV-USER-TYPING-RECIPIENTS",
        [alice, outsider],
        "userTyping",
        sent=reply.sent,
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )


@requirement("EVT-TYPING-REPEAT-SILENT")
async def test_only_changes_of_typing_state_are_announced(chat: Clients, room: str) -> None:
    alice, bob = await typing_pair(chat, room)
    again = await alice.request("typing", {"roomId": room, "isTyping": True})
    await expect.nothing(
        "EVT-TYPING-REPEAT-SILENT",
        [bob],
        "userTyping",
        sent=again.sent + " (already typing)",
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )
    stop = await alice.request("typing", {"roomId": room, "isTyping": False})
    await expect.received(
        "EVT-TYPING-REPEAT-SILENT",
        bob,
        "userTyping",
        sent=stop.sent,
        where=typing_of(alice, room, False),
    )
    stop_again = await alice.request("typing", {"roomId": room, "isTyping": False})
    expect.response("EVT-TYPING-REPEAT-SILENT", stop_again, "typingUpdated", success=True)
    await expect.nothing(
        "EVT-TYPING-REPEAT-SILENT",
        [bob],
        "userTyping",
        sent=stop_again.sent + " (not typing)",
        where=lambda p: p["userId"] == alice.user_id,
        within_ms=chat.target.quiet_ms,
    )


@requirement("EVT-TYPING-ENDS-ON-MESSAGE")
async def test_sending_a_message_ends_typing_in_that_room(chat: Clients, room: str) -> None:
    alice, bob = await typing_pair(chat, room)
    reply = await alice.request("sendMessage", {"roomId": room, "content": "done typing"})
    await expect.received(
        "EVT-TYPING-ENDS-ON-MESSAGE",
        bob,
        "userTyping",
        sent=reply.sent,
        where=typing_of(alice, room, False),
    )


@requirement("EVT-TYPING-ENDS-ON-LEAVE")
async def test_leaving_the_room_ends_typing_there(chat: Clients, room: str) -> None:
    alice, bob = await typing_pair(chat, room)
    reply = await alice.request("leaveRoom", {"roomId": room})
    await expect.received(
        "EVT-TYPING-ENDS-ON-LEAVE",
        bob,
        "userTyping",
        sent=reply.sent,
        where=typing_of(alice, room, False),
    )


@requirement("EVT-TYPING-ENDS-ON-LEAVE")
async def test_disconnecting_ends_typing(chat: Clients, room: str) -> None:
    alice, bob = await typing_pair(chat, room)
    await alice.disconnect()
    await expect.received(
        "EVT-TYPING-ENDS-ON-LEAVE",
        bob,
        "userTyping",
        sent="alice disconnects while typing",
        where=typing_of(alice, room, False),
    )


@requirement("EVT-TYPING-TIMEOUT")
async def test_typing_ends_after_the_typing_timeout(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    timeout_ms = settings.typing_timeout_ms
    if timeout_ms > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(
            f"typing timeout {timeout_ms} ms exceeds --slow-threshold-ms "
            f"{target.slow_threshold_ms}; pass --run-slow to wait for it"
        )
    alice, bob = await typing_pair(chat, room)
    started = time.monotonic()
    sent = f"alice types once, then nothing for {timeout_ms} ms"
    got = await bob.next(
        "userTyping", where=typing_of(alice, room, False), within_ms=int(timeout_ms * 1.5) + 1000
    )
    elapsed_ms = int((time.monotonic() - started) * 1000)
    expect.that(
        "EVT-TYPING-TIMEOUT",
        got is not None,
        sent=sent,
        expected=f"userTyping isTyping=false about {timeout_ms} ms later",
        actual=f"nothing within {int(timeout_ms * 1.5) + 1000} ms",
    )
    expect.that(
        "EVT-TYPING-TIMEOUT",
        elapsed_ms >= timeout_ms * 0.5,
        sent=sent,
        expected=f"not before about {timeout_ms} ms",
        actual=f"isTyping=false after {elapsed_ms} ms",
    )


@requirement("EVT-TYPING-TIMEOUT")
async def test_a_repeated_typing_true_refreshes_the_timeout(
    chat: Clients, room: str, target: Target, settings: Declaration
) -> None:
    timeout_ms = settings.typing_timeout_ms
    if timeout_ms * 2 > target.slow_threshold_ms and not target.run_slow:
        pytest.skip(f"needs two typing timeouts ({timeout_ms} ms each); pass --run-slow")
    alice, bob = await typing_pair(chat, room)
    refresh_after_ms = int(timeout_ms * 0.6)
    await bob.next("userTyping", where=typing_of(alice, room, False), within_ms=refresh_after_ms)
    refreshed = await alice.request("typing", {"roomId": room, "isTyping": True})
    started = time.monotonic()
    premature = await bob.next(
        "userTyping", where=typing_of(alice, room, False), within_ms=int(timeout_ms * 0.7)
    )
    expect.that(
        "EVT-TYPING-TIMEOUT",
        premature is None,
        sent=refreshed.sent + f" {refresh_after_ms} ms after the first",
        expected=f"typing lasts about {timeout_ms} ms from the refresh",
        actual=f"isTyping=false {int((time.monotonic() - started) * 1000)} ms after the refresh",
    )


# -- one user, several sockets (D18: "Typing state is per user and room") ----------------


async def typing_from_two_sockets(
    chat: Clients, room: str
) -> tuple[ChatClient, ChatClient, ChatClient, float]:
    """alice in `room` on two sockets, bob there too; alice's first socket starts typing
    and bob has heard it; and when the typing began."""
    started = time.monotonic()
    alice, bob = await typing_pair(chat, room)
    alice_too = await chat.member("alice-2", room, user_id=alice.user_id)
    return alice, alice_too, bob, started


async def quiet_while_typing(
    rid: str, chat: Clients, bob: ChatClient, alice: ChatClient, sent: str, started: float
) -> None:
    """bob hears nothing of alice's typing for a quiet window, unless her typing timeout
    (D18) may have run out meanwhile: then the silence cannot be judged."""
    try:
        await expect.nothing(
            rid,
            [bob],
            "userTyping",
            sent=sent,
            where=lambda p: p["userId"] == alice.user_id,
            within_ms=chat.target.quiet_ms,
        )
    except ConformanceFailure:
        elapsed_ms = (time.monotonic() - started) * 1000
        if elapsed_ms >= chat.target.declared.typing_timeout_ms * 0.8:
            raise expect.Inconclusive(
                f"the check took {elapsed_ms:.0f} ms, near the "
                f"{chat.target.declared.typing_timeout_ms} ms typing timeout"
            ) from None
        raise


@requirement("EVT-TYPING-REPEAT-SILENT")
async def test_typing_from_a_second_socket_of_a_typing_user_is_not_announced(
    chat: Clients, room: str
) -> None:
    alice, alice_too, bob, started = await typing_from_two_sockets(chat, room)
    again = await alice_too.request("typing", {"roomId": room, "isTyping": True})
    expect.response("EVT-TYPING-REPEAT-SILENT", again, "typingUpdated", success=True)
    await quiet_while_typing(
        "EVT-TYPING-REPEAT-SILENT",
        chat,
        bob,
        alice,
        again.sent + " (from alice's second socket; alice is already typing)",
        started,
    )
    stop = await alice_too.request("typing", {"roomId": room, "isTyping": False})
    await expect.received(
        "EVT-TYPING-REPEAT-SILENT",
        bob,
        "userTyping",
        sent=stop.sent + " (from alice's second socket: the user stops typing)",
        where=typing_of(alice, room, False),
    )


@requirement("EVT-TYPING-ENDS-ON-MESSAGE")
async def test_a_message_from_another_socket_of_the_user_ends_its_typing(
    chat: Clients, room: str
) -> None:
    alice, alice_too, bob, _ = await typing_from_two_sockets(chat, room)
    reply = await alice_too.request("sendMessage", {"roomId": room, "content": "sent elsewhere"})
    await expect.received(
        "EVT-TYPING-ENDS-ON-MESSAGE",
        bob,
        "userTyping",
        sent=reply.sent + " (from alice's second socket)",
        where=typing_of(alice, room, False),
    )


@requirement("EVT-TYPING-ENDS-ON-LEAVE")
@pytest.mark.parametrize("how", ["leave", "disconnect"])
async def test_typing_lasts_while_the_user_has_a_socket_in_the_room(
    chat: Clients, room: str, how: str
) -> None:
    alice, alice_too, bob, started = await typing_from_two_sockets(chat, room)
    if how == "leave":
        await alice.request("leaveRoom", {"roomId": room})
    else:
        await alice.disconnect()
    await quiet_while_typing(
        "EVT-TYPING-ENDS-ON-LEAVE",
        chat,
        bob,
        alice,
        f"alice's typing socket does: {how}; her second socket stays in the room",
        started,
    )
    await alice_too.request("leaveRoom", {"roomId": room})
    await expect.received(
        "EVT-TYPING-ENDS-ON-LEAVE",
        bob,
        "userTyping",
        sent="then alice's last socket in the room leaves it",
        where=typing_of(alice, room, False),
    )
