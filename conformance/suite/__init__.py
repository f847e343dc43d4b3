"""The conformance checks, one module per part of the API document.

How to write a check (every line of it goes over the wire to the target):

    @requirement("EVT-JOIN-RESPONSE")                   # ids from fixtures/requirements.yaml
    async def test_join_room_answers_joined_room(chat: Clients, room: str) -> None:
        alice = await chat.connect("alice")             # a fresh user, connected
        reply = await alice.request("joinRoom", {"roomId": room})   # ack or emitted (D6)
        expect.response("EVT-JOIN-RESPONSE", reply, "joinedRoom", roomId=room, success=True)

- `chat` (suite/conftest.py `Clients`): `await chat.connect(name, user_id=..., via=...)`;
  the same `user_id` twice is one user on two sockets. `chat.user(name)` gives fresh ids.
- `room`: a fresh room id. `target`: the Target (url, environment, limits, quiet_ms...).
  `settings`: what the target reports (window, heartbeat interval, typing timeout).
- A client logs every event from the moment it connects, so nothing is missed:
  `await client.next(event, where=..., within_ms=...)` takes the first matching one.
- Fail only through `conformance.expect`, naming the exact requirement id that broke:
  `expect.response`, `expect.error_reply`, `expect.fields`, `expect.schema`,
  `await expect.received(...)`, `await expect.nothing([...clients], event, within_ms=
  target.quiet_ms)` (a bounded quiet window), `expect.that(...)`.
- Never depend on the order of two events the document does not order; use fresh
  users and rooms; compare counters as deltas; raise `expect.Inconclusive` (reported as a
  skip) when a check cannot be judged fairly; `pytest.skip(reason)` when the target's
  configuration makes a check inapplicable (the report shows the reason).
"""
