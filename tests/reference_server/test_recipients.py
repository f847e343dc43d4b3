"""Who receives which server event (D15-D20), with one user on several sockets (D5, D14),
the display name of such a user (D3) and escaped usernames (D13)."""

from __future__ import annotations

import pytest

from reference_server.clock import iso_timestamp
from tests.reference_server.conftest import StartServer
from tests.reference_server.harness import UUID_V4, FakeClock, LiveServer, assert_silent

ROOM = "lobby"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(start_server: StartServer, clock: FakeClock) -> LiveServer:
    return await start_server(clock=clock)


def user(user_id: str, username: str | None = None) -> dict[str, str]:
    return {"userId": user_id, "username": username or user_id}


async def test_the_joiner_gets_room_users_listing_everyone_once_itself_included(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice", "Alice")
    alice_too = await server.connect("alice", "Alice")
    bob = await server.connect("bob", "Bob")
    await alice.join(ROOM)
    await alice_too.join(ROOM)
    await bob.call("joinRoom", {"roomId": ROOM})
    assert await bob.next("roomUsers") == {
        "roomId": ROOM,
        "users": [user("alice", "Alice"), user("bob", "Bob")],
    }


async def test_others_in_the_room_hear_user_joined_and_nobody_else_does(
    server: LiveServer, clock: FakeClock
) -> None:
    alice = await server.connect("alice")
    carol = await server.connect("carol")  # connected, not in the room
    bob = await server.connect("bob", "Bob")
    await alice.join(ROOM)
    await carol.join("elsewhere")
    await bob.join(ROOM)
    assert await alice.next("userJoined") == {
        **user("bob", "Bob"),
        "roomId": ROOM,
        "timestamp": iso_timestamp(clock.now()),
    }
    await assert_silent((bob, "userJoined"), (carol, "userJoined"), (alice, "userJoined"))


async def test_a_user_joining_through_a_second_socket_is_not_announced_again(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    alice.received("userJoined")
    alice_too = await server.connect("alice")
    await alice_too.call("joinRoom", {"roomId": ROOM})
    assert await alice_too.next("roomUsers") == {
        "roomId": ROOM,
        "users": [user("alice"), user("bob")],
    }
    await assert_silent((bob, "userJoined"), (alice, "userJoined"))


async def test_joining_again_on_the_same_socket_answers_room_users_without_a_broadcast(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    assert (await alice.next("userJoined"))["userId"] == "bob"
    await bob.join(ROOM)  # D14: "answers success and `roomUsers` again"
    await assert_silent((alice, "userJoined"), (bob, "roomUsers"))


async def test_user_left_goes_to_others_only_when_the_user_has_no_socket_left_in_the_room(
    server: LiveServer, clock: FakeClock
) -> None:
    alice = await server.connect("alice", "Alice")
    alice_too = await server.connect("alice", "Alice")
    bob = await server.connect("bob")
    for client in (alice, alice_too, bob):
        await client.join(ROOM)
    assert await alice_too.call("leaveRoom", {"roomId": ROOM}) == {
        "event": "leftRoom",
        "roomId": ROOM,
        "success": True,
    }
    await assert_silent((bob, "userLeft"))
    await alice.call("leaveRoom", {"roomId": ROOM})
    assert await bob.next("userLeft") == {
        **user("alice", "Alice"),
        "roomId": ROOM,
        "timestamp": iso_timestamp(clock.now()),
    }
    await assert_silent((alice, "userLeft"), (alice_too, "userLeft"), (bob, "userLeft"))


async def test_leaving_a_room_the_socket_is_not_in_answers_success_without_a_broadcast(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    reply = await alice_too.call("leaveRoom", {"roomId": ROOM})  # the other socket is in it
    assert reply == {"event": "leftRoom", "roomId": ROOM, "success": True}
    reply = await alice.call("leaveRoom", {"roomId": "never-joined"})
    assert reply == {"event": "leftRoom", "roomId": "never-joined", "success": True}
    await assert_silent((bob, "userLeft"))
    assert (await server.stats())["rooms"]["active"] == 1


async def test_a_disconnect_leaves_every_room_the_socket_was_in(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    carol = await server.connect("carol")
    await alice.join("red")
    await alice.join("blue")
    await bob.join("red")
    await carol.join("blue")
    await alice.disconnect()
    assert (await bob.next("userLeft"))["roomId"] == "red"
    assert (await carol.next("userLeft"))["roomId"] == "blue"
    await assert_silent((bob, "userLeft"), (carol, "userLeft"))
    stats = await server.stats()
    assert {room["roomId"]: room["userCount"] for room in stats["rooms"]["details"]} == {
        "red": 1,
        "blue": 1,
    }


async def test_a_disconnect_with_another_socket_left_in_the_room_is_not_a_departure(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    bob = await server.connect("bob")
    for client in (alice, alice_too, bob):
        await client.join(ROOM)
    await alice_too.disconnect()
    await assert_silent((bob, "userLeft"), (bob, "userOffline"))


async def test_a_room_exists_while_a_socket_is_in_it(server: LiveServer) -> None:
    alice = await server.connect("alice")
    await alice.join(ROOM)
    assert (await server.health())["websocket"]["activeRooms"] == 1
    await alice.call("leaveRoom", {"roomId": ROOM})
    stats = await server.stats()
    assert (stats["rooms"]["active"], stats["rooms"]["totalCreated"]) == (0, 1)
    await alice.join(ROOM)  # D14: "the first join creates it"
    stats = await server.stats()
    assert (stats["rooms"]["active"], stats["rooms"]["totalCreated"]) == (1, 2)


async def test_messages_go_to_every_socket_in_the_room_and_to_no_other(
    server: LiveServer,
) -> None:
    alice = await server.connect("alice")
    alice_elsewhere = await server.connect("alice")  # D5: membership is per socket
    bob = await server.connect("bob")
    bob_too = await server.connect("bob")
    carol = await server.connect("carol")
    for client in (alice, bob, bob_too):
        await client.join(ROOM)
    await carol.join("elsewhere")
    reply = await alice.call("sendMessage", {"roomId": ROOM, "content": "hi all"})
    for client in (alice, bob, bob_too):
        assert await client.next("receiveMessage") == reply["message"]
    await assert_silent(
        (alice_elsewhere, "receiveMessage"),
        (carol, "receiveMessage"),
        (bob, "messageSent"),
        (alice, "receiveMessage"),
        (bob, "receiveMessage"),
    )


async def test_the_message_author_comes_from_the_token_never_from_the_payload(
    server: LiveServer, clock: FakeClock
) -> None:
    alice = await server.connect("alice", "Alice")
    await alice.join(ROOM)
    reply = await alice.call(
        "sendMessage",
        {
            "roomId": ROOM,
            "content": "hi",
            "author": {"id": "bob", "username": "Bob"},
            "id": "00000000-0000-4000-8000-000000000000",
            "timestamp": "1999-01-01T00:00:00.000Z",
        },
    )
    message = reply["message"]
    assert message["author"] == {"id": "alice", "username": "Alice"}
    assert message["id"] != "00000000-0000-4000-8000-000000000000"
    assert UUID_V4.fullmatch(message["id"])
    stamp = iso_timestamp(clock.now())
    assert message["timestamp"] == message["createdAt"] == message["updatedAt"] == stamp


async def test_every_message_gets_its_own_id(server: LiveServer) -> None:
    alice = await server.connect("alice")
    await alice.join(ROOM)
    ids = {
        (await alice.call("sendMessage", {"roomId": ROOM, "content": "x"}))["message"]["id"]
        for _ in range(5)
    }
    assert len(ids) == 5


async def test_room_stats_go_to_the_asking_socket_only(
    server: LiveServer, clock: FakeClock
) -> None:
    # D19: "getRoomStats gives its response and a roomStats event to the asking socket only".
    alice = await server.connect("alice", "Alice")
    alice_too = await server.connect("alice", "Alice")
    bob = await server.connect("bob", "Bob")
    for client in (alice, alice_too, bob):
        await client.join(ROOM)
    await bob.call("typing", {"roomId": ROOM, "isTyping": True})
    await alice.call("getRoomStats", {"roomId": ROOM})
    assert await alice.next("roomStats") == {
        "roomId": ROOM,
        "userCount": 2,  # users, not sockets
        "users": [user("alice", "Alice"), user("bob", "Bob")],
        "typingUsers": ["bob"],
        "timestamp": iso_timestamp(clock.now()),
    }
    await assert_silent((alice_too, "roomStats"), (bob, "roomStats"), (alice, "roomStats"))


async def test_user_online_goes_to_every_socket_of_others_when_a_first_socket_opens(
    server: LiveServer, clock: FakeClock
) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    await assert_silent((alice, "userOnline"))  # not about herself
    bob = await server.connect("bob", "Bob")
    expected = {**user("bob", "Bob"), "timestamp": iso_timestamp(clock.now())}
    assert await alice.next("userOnline") == expected
    assert await alice_too.next("userOnline") == expected
    await assert_silent((bob, "userOnline"))


async def test_a_second_socket_of_a_user_is_not_announced_online(server: LiveServer) -> None:
    alice = await server.connect("alice")
    await server.connect("bob")
    assert (await alice.next("userOnline"))["userId"] == "bob"
    await server.connect("bob")
    await assert_silent((alice, "userOnline"))


async def test_user_offline_goes_to_others_only_when_the_last_socket_closes(
    server: LiveServer, clock: FakeClock
) -> None:
    alice = await server.connect("alice")
    alice_too = await server.connect("alice")
    bob = await server.connect("bob", "Bob")
    bob_too = await server.connect("bob", "Bob")
    await bob_too.disconnect()
    await assert_silent((alice, "userOffline"), (bob, "userOffline"))
    await bob.disconnect()
    expected = {**user("bob", "Bob"), "timestamp": iso_timestamp(clock.now())}
    assert await alice.next("userOffline") == expected
    assert await alice_too.next("userOffline") == expected


async def test_a_user_on_two_sockets_shows_the_username_of_the_first_open_one(
    server: LiveServer,
) -> None:
    first = await server.connect("alice", "Alice")
    second = await server.connect("alice", "Alicia")
    bob = await server.connect("bob")
    await first.join(ROOM)
    await second.join(ROOM)
    await bob.call("joinRoom", {"roomId": ROOM})
    assert (await bob.next("roomUsers"))["users"][0] == user("alice", "Alice")
    await second.call("sendMessage", {"roomId": ROOM, "content": "from the second socket"})
    assert (await bob.next("receiveMessage"))["author"]["username"] == "Alice"
    await first.disconnect()
    await second.call("sendMessage", {"roomId": ROOM, "content": "now the only one"})
    assert (await bob.next("receiveMessage"))["author"]["username"] == "Alicia"


NASTY = "<b>\"Eve\" & 'co'</b>"
ESCAPED = "&lt;b&gt;&quot;Eve&quot; &amp; &#x27;co&#x27;&lt;/b&gt;"


async def test_usernames_from_tokens_are_escaped_wherever_they_are_delivered(
    server: LiveServer,
) -> None:
    bob = await server.connect("bob")
    eve = await server.connect("eve", NASTY)
    assert (await bob.next("userOnline"))["username"] == ESCAPED
    await bob.join(ROOM)
    await eve.call("joinRoom", {"roomId": ROOM})
    assert (await eve.next("roomUsers"))["users"][1] == user("eve", ESCAPED)
    assert (await bob.next("userJoined"))["username"] == ESCAPED
    await eve.call("typing", {"roomId": ROOM, "isTyping": True})
    assert (await bob.next("userTyping"))["username"] == ESCAPED
    await eve.call("sendMessage", {"roomId": ROOM, "content": "x"})
    assert (await bob.next("receiveMessage"))["author"]["username"] == ESCAPED
    await bob.call("getRoomStats", {"roomId": ROOM})
    assert (await bob.next("roomStats"))["users"][1] == user("eve", ESCAPED)
    await eve.call("leaveRoom", {"roomId": ROOM})
    assert (await bob.next("userLeft"))["username"] == ESCAPED
    await eve.disconnect()
    assert (await bob.next("userOffline"))["username"] == ESCAPED


async def test_content_is_escaped_once_for_every_recipient(server: LiveServer) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await alice.join(ROOM)
    await bob.join(ROOM)
    raw = "<script>alert('x')</script> &amp; \"q\""
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp;amp; &quot;q&quot;"
    reply = await alice.call("sendMessage", {"roomId": ROOM, "content": raw})
    assert reply["message"]["content"] == escaped
    assert (await bob.next("receiveMessage"))["content"] == escaped
    assert (await alice.next("receiveMessage"))["content"] == escaped
