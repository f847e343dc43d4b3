"""doc: "Health Check Endpoints" (D8, D14, D24, D25): GET /websocket/health and
/websocket/stats, their shapes, and figures that follow a scripted sequence of actions.

A foreign target may have other clients, so every figure is compared as a delta from a
snapshot taken just before the script, and a script whose figures disagree runs once more
with fresh users and rooms before the check fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from chatrooms_fixtures.schemas import Level, validate
from conformance import expect
from conformance.catalogue import requirement
from conformance.client import Refused
from conformance.clients import Clients
from conformance.expect import ConformanceFailure, show
from conformance.http import Http
from conformance.reading import field, parse_time
from conformance.target import Declaration, Target

pytestmark = pytest.mark.asyncio

HEALTH = "/websocket/health"
STATS = "/websocket/stats"
# D24 (reference): the counters that stay 0 with WS_ENABLE_METRICS=false.
CUMULATIVE = (
    "connections.total",
    "connections.totalDisconnections",
    "rooms.totalCreated",
    "messages.totalProcessed",
    "rateLimiting.violations",
)


@dataclass(frozen=True)
class Snapshot:
    """The figures of /websocket/health and /websocket/stats read together."""

    health: dict[str, Any]
    stats: dict[str, Any]

    def value(self, name: str) -> Any:
        """`connectedUsers`, `activeRooms`, `totalTypingUsers` (health's websocket object)
        or a dotted stats path such as `connections.current`."""
        if "." not in name:
            return field(self.health, "websocket", name)
        return field(self.stats, name)

    def room(self, room_id: str) -> dict[str, Any] | None:
        details = self.value("rooms.details")
        for entry in details if isinstance(details, list) else []:
            if isinstance(entry, Mapping) and entry.get("roomId") == room_id:
                return dict(entry)
        return None

    def show(self, names: Iterator[str] | tuple[str, ...] | list[str]) -> str:
        return ", ".join(f"{n}={show(self.value(n))}" for n in names)


async def snapshot(http: Http) -> Snapshot:
    health, stats = await asyncio.gather(
        expect.json_endpoint(http, HEALTH), expect.json_endpoint(http, STATS)
    )
    return Snapshot(health, stats)


def delta(before: Snapshot, after: Snapshot, name: str) -> int | None:
    old, new = before.value(name), after.value(name)
    if isinstance(old, int) and isinstance(new, int):
        return new - old
    return None


class Script:
    """Checks figures after each step of a scripted sequence, as deltas from `base`."""

    def __init__(self, http: Http, base: Snapshot, settle_ms: int) -> None:
        self.http = http
        self.base = base
        self.settle_ms = settle_ms
        self.last = base
        self.first_read_at = 0.0  # when the last step's figures were first read

    async def after(
        self,
        step: str,
        deltas: dict[str, tuple[str, int]],
        rooms: Callable[[Snapshot], list[tuple[str, bool, str]]] | None = None,
    ) -> Snapshot:
        """After `step`, each named figure moved by the given delta (requirement id, delta);
        `rooms` gives further (requirement id, ok, expectation) checks. The figures are
        polled until they agree or the timeout passes (a server may count asynchronously)."""

        def problems(snap: Snapshot) -> list[tuple[str, str, str]]:
            found = []
            for name, (rid, want) in deltas.items():
                got = delta(self.base, snap, name)
                if got != want:
                    found.append(
                        (
                            rid,
                            f"{name} moved by {want:+d} since the script began",
                            f"it moved by {got if got is None else f'{got:+d}'} "
                            f"({show(self.base.value(name))} -> {show(snap.value(name))})",
                        )
                    )
            for rid, ok, expectation in rooms(snap) if rooms else []:
                expect.judging(rid)
                if not ok:
                    found.append((rid, expectation, ""))
            return found

        for rid, _ in deltas.values():
            expect.judging(rid)
        deadline = time.monotonic() + self.settle_ms / 1000
        self.first_read_at = 0.0
        while True:
            snap = await snapshot(self.http)
            self.first_read_at = self.first_read_at or time.monotonic()
            found = problems(snap)
            if not found or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        self.last = snap
        if found:
            rid, expected, actual = found[0]
            raise ConformanceFailure(
                rid,
                sent=step,
                expected=expected,
                actual=actual or f"stats {show(snap.stats, 600)}",
            )
        return snap


async def twice(script: Callable[[int], Awaitable[None]]) -> None:
    """Counters on a shared target may move because of other clients: a script whose
    figures disagree runs once more with fresh users and rooms before the check fails."""
    try:
        await script(1)
    except ConformanceFailure:
        await script(2)


def fresh_room() -> str:
    return f"cf-{uuid.uuid4().hex[:12]}"


def metrics_only(
    settings: Declaration, deltas: dict[str, tuple[str, int]]
) -> dict[str, tuple[str, int]]:
    """Cumulative counters are judged only when the target is declared with metrics on
    (D24); the requirements they alone judge are then not applicable."""
    if settings.metrics:
        return deltas
    kept = {name: spec for name, spec in deltas.items() if name not in CUMULATIVE}
    for name, (rid, _) in deltas.items():
        if name in CUMULATIVE and rid not in {r for r, _ in kept.values()}:
            expect.not_applicable_to(
                rid, f"{name} is cumulative: the target is declared with metrics off"
            )
    return kept


# -- shapes -----------------------------------------------------------------------------


def route(errors: list[str], routes: list[tuple[str, str]], default: str) -> dict[str, list[str]]:
    """Schema errors grouped by the requirement each belongs to (by its path or wording);
    every requirement of `routes` and `default` has an entry, empty when it holds."""
    grouped: dict[str, list[str]] = {rid: [] for _, rid in routes}
    grouped[default] = []
    for error in errors:
        rid = next((r for needle, r in routes if needle in error), default)
        grouped[rid].append(error)
    return grouped


def judge_schema(grouped: dict[str, list[str]], body: Any, *, sent: str, expected: str) -> None:
    for rid, errors in grouped.items():
        expect.that(
            rid,
            not errors,
            sent=sent,
            expected=expected,
            actual=f"{show(body)}\n               schema errors: {'; '.join(errors[:3])}",
        )


def schema_errors(name: str, payload: Any, level: Level) -> list[str]:
    return validate(name, payload, level)


@requirement("HEALTH-ENDPOINT", "HEALTH-SHAPE", "HEALTH-FEATURES", "HEALTH-RATE-LIMITS")
async def test_health_answers_json_of_the_documented_shape_with_status_healthy(
    target: Target,
    http: Http,
) -> None:
    body = await expect.json_endpoint(http, HEALTH)
    errors = schema_errors("health", body, "documented")
    grouped = route(
        errors,
        [("$.features", "HEALTH-FEATURES"), ("$.rateLimits", "HEALTH-RATE-LIMITS")],
        "HEALTH-SHAPE",
    )
    judge_schema(
        grouped,
        body,
        sent=f"GET {HEALTH}",
        expected="a body valid against the documented health schema",
    )
    expect.fields("HEALTH-SHAPE", body, sent=f"GET {HEALTH}", status="healthy")


@requirement("STATS-ENDPOINT", "STATS-SHAPE", "STATS-ROOM-DETAILS")
async def test_stats_answers_json_of_the_documented_shape(
    chat: Clients, room: str, target: Target, http: Http
) -> None:
    await chat.member("alice", room)  # so that rooms.details has an entry to judge
    body = await expect.json_endpoint(http, STATS)
    errors = schema_errors("stats", body, "documented")
    grouped = route(errors, [("$.rooms.details", "STATS-ROOM-DETAILS")], "STATS-SHAPE")
    judge_schema(
        grouped,
        body,
        sent=f"GET {STATS}",
        expected="a body valid against the documented stats schema",
    )


@requirement("SRV-TIMESTAMP-FORMAT", "HEALTH-DISCOVERABLE-SETTINGS", "EVT-ROOM-ID-FORMAT")
async def test_health_and_stats_follow_the_reference_schemas(
    chat: Clients, room: str, target: Target, http: Http
) -> None:
    # D8 timestamps, D25 extra fields, D12 room ids: the reference level only.
    await chat.member("alice", room)
    for name, path in (("health", HEALTH), ("stats", STATS)):
        body = await expect.json_endpoint(http, path)
        documented = set(schema_errors(name, body, "documented"))
        extra = [e for e in schema_errors(name, body, "reference") if e not in documented]
        grouped = route(
            extra,
            [
                ("heartbeatIntervalMs", "HEALTH-DISCOVERABLE-SETTINGS"),
                ("typingTimeoutMs", "HEALTH-DISCOVERABLE-SETTINGS"),
                ("roomId", "EVT-ROOM-ID-FORMAT"),
            ],
            "SRV-TIMESTAMP-FORMAT",
        )
        judge_schema(
            grouped,
            body,
            sent=f"GET {path}",
            expected=f"a body valid against the reference {name} schema",
        )


# -- figures that follow the traffic -----------------------------------------------------


@requirement(
    "HEALTH-CONNECTED-USERS",
    "STATS-CONNECTIONS-CURRENT",
    "STATS-CONNECTIONS-TOTAL",
    "STATS-DISCONNECTIONS",
)
async def test_connected_users_count_users_and_connections_count_sockets(
    chat: Clients, target: Target, http: Http, settings: Declaration
) -> None:
    async def script(attempt: int) -> None:
        base = await snapshot(http)
        run = Script(http, base, target.timeout_ms)
        mallory = chat.client(f"mallory{attempt}")
        try:
            await mallory.connect(target.url, "not-a-jwt", transport=target.transport)
        except Refused:
            pass
        else:
            raise expect.Inconclusive("the target accepted the token 'not-a-jwt'")
        await run.after(
            "a connection refused for its token 'not-a-jwt'",
            metrics_only(
                settings,
                {
                    "connections.current": ("STATS-CONNECTIONS-CURRENT", 0),
                    "connections.total": ("STATS-CONNECTIONS-TOTAL", 0),
                    "connectedUsers": ("HEALTH-CONNECTED-USERS", 0),
                },
            ),
        )
        alice = await chat.connect(f"alice{attempt}")
        alice_again = await chat.connect(
            f"alice{attempt}-2", user_id=alice.user_id, username=alice.username
        )
        await chat.connect(f"bob{attempt}")
        await run.after(
            "alice connects two sockets, bob one",
            metrics_only(
                settings,
                {
                    "connectedUsers": ("HEALTH-CONNECTED-USERS", 2),
                    "connections.current": ("STATS-CONNECTIONS-CURRENT", 3),
                    "connections.total": ("STATS-CONNECTIONS-TOTAL", 3),
                    "connections.totalDisconnections": ("STATS-DISCONNECTIONS", 0),
                },
            ),
        )
        await alice_again.disconnect()
        await run.after(
            "alice closes her second socket",
            metrics_only(
                settings,
                {
                    "connectedUsers": ("HEALTH-CONNECTED-USERS", 2),
                    "connections.current": ("STATS-CONNECTIONS-CURRENT", 2),
                    "connections.total": ("STATS-CONNECTIONS-TOTAL", 3),
                    "connections.totalDisconnections": ("STATS-DISCONNECTIONS", 1),
                },
            ),
        )
        await alice.disconnect()
        await run.after(
            "alice closes her last socket",
            metrics_only(
                settings,
                {
                    "connectedUsers": ("HEALTH-CONNECTED-USERS", 1),
                    "connections.current": ("STATS-CONNECTIONS-CURRENT", 1),
                    "connections.totalDisconnections": ("STATS-DISCONNECTIONS", 2),
                },
            ),
        )

    await twice(script)


@requirement(
    "HEALTH-ACTIVE-ROOMS",
    "STATS-ROOMS-ACTIVE",
    "STATS-ROOMS-TOTAL-CREATED",
    "STATS-ROOM-DETAILS",
    "EVT-LEAVE-REMOVES-ROOM",
)
async def test_a_room_counts_from_its_first_join_to_its_last_leave(
    chat: Clients, target: Target, http: Http, settings: Declaration
) -> None:
    # D14 (reference): the first join creates the room, the last leave or disconnect
    # removes it. The documented figures are judged only while the room has members.
    async def script(attempt: int) -> None:
        room = fresh_room()
        run = Script(http, await snapshot(http), target.timeout_ms)

        def rooms(active: int, created: int) -> dict[str, tuple[str, int]]:
            # The document counts a room with members as active; that an emptied room is
            # removed (and no longer counted) is D14's, a reference rule.
            removed = active == 0
            return metrics_only(
                settings,
                {
                    "activeRooms": (
                        "EVT-LEAVE-REMOVES-ROOM" if removed else "HEALTH-ACTIVE-ROOMS",
                        active,
                    ),
                    "rooms.active": (
                        "EVT-LEAVE-REMOVES-ROOM" if removed else "STATS-ROOMS-ACTIVE",
                        active,
                    ),
                    "rooms.totalCreated": ("STATS-ROOMS-TOTAL-CREATED", created),
                },
            )

        def detail(users: int | None) -> Callable[[Snapshot], list[tuple[str, bool, str]]]:
            def check(snap: Snapshot) -> list[tuple[str, bool, str]]:
                entry = snap.room(room)
                if users is None:
                    return [
                        (
                            "EVT-LEAVE-REMOVES-ROOM",
                            entry is None,
                            f"no rooms.details entry for the removed room {room}, got "
                            f"{show(entry)}",
                        )
                    ]
                return [
                    (
                        "STATS-ROOM-DETAILS",
                        entry is not None
                        and entry.get("userCount") == users
                        and entry.get("typingUsers") == 0
                        and isinstance(entry.get("createdAt"), str)
                        and isinstance(entry.get("lastActivity"), str),
                        f"rooms.details entry {{roomId: {room}, userCount: {users}, "
                        f"typingUsers: 0, createdAt, lastActivity}}, got {show(entry)}",
                    )
                ]

            return check

        alice = await chat.member(f"alice{attempt}", room)
        await run.after(f"alice joins the new room {room}", rooms(1, 1), detail(1))
        bob = await chat.member(f"bob{attempt}", room)
        await run.after("bob joins it too", rooms(1, 1), detail(2))
        await alice.request("leaveRoom", {"roomId": room})
        await run.after("alice leaves it", rooms(1, 1), detail(1))
        await bob.request("leaveRoom", {"roomId": room})
        await run.after("bob, the last member, leaves it", rooms(0, 1), detail(None))
        await alice.request("joinRoom", {"roomId": room})
        await run.after("alice joins it again (a new room)", rooms(1, 2), detail(1))
        await alice.disconnect()
        await run.after("alice, its only member, disconnects", rooms(0, 2), detail(None))

    await twice(script)


@requirement("STATS-ROOM-DETAILS")
async def test_last_activity_moves_on_join_leave_message_and_typing(
    chat: Clients, room: str, target: Target, http: Http
) -> None:
    # D24: "lastActivity is the time of the last successful join, leave, message or typing
    # event in the room".
    alice = await chat.member("alice", room)
    bob = await chat.connect("bob")
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("bob joins", lambda: bob.request("joinRoom", {"roomId": room})),
        (
            "alice sends a message",
            lambda: alice.request("sendMessage", {"roomId": room, "content": "hi"}),
        ),
        (
            "alice starts typing",
            lambda: alice.request("typing", {"roomId": room, "isTyping": True}),
        ),
        ("bob leaves", lambda: bob.request("leaveRoom", {"roomId": room})),
    ]
    previous = (await snapshot(http)).room(room)
    for step, action in steps:
        last = parse_time(previous.get("lastActivity") if previous else None)
        if last is None:
            raise expect.Inconclusive(
                f"rooms.details has no readable lastActivity: {show(previous)}"
            )
        # Wait for the server's clock (health's timestamp) to pass lastActivity, so that
        # a server with coarse timestamps is not judged on a tie.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            now = parse_time((await snapshot(http)).health.get("timestamp"))
            if now is not None and now > last:
                break
            await asyncio.sleep(0.005)
        await action()
        current = (await snapshot(http)).room(room)
        moved = parse_time(current.get("lastActivity") if current else None)
        expect.that(
            "STATS-ROOM-DETAILS",
            moved is not None and moved > last,
            sent=step,
            expected=f"rooms.details lastActivity of {room} moves past {show(last.isoformat())}",
            actual=f"entry {show(current)}",
        )
        previous = current


@requirement("HEALTH-TOTAL-TYPING-USERS", "STATS-ROOM-DETAILS")
async def test_total_typing_users_counts_user_room_pairs(
    chat: Clients, target: Target, http: Http, settings: Declaration
) -> None:
    async def script(attempt: int) -> None:
        first, second = fresh_room(), fresh_room()
        alice = await chat.member(f"alice{attempt}", first)
        await alice.request("joinRoom", {"roomId": second})
        bob = await chat.member(f"bob{attempt}", first)
        run = Script(http, await snapshot(http), target.timeout_ms)
        started = time.monotonic()
        await alice.request("typing", {"roomId": first, "isTyping": True})
        await alice.request("typing", {"roomId": second, "isTyping": True})
        await bob.request("typing", {"roomId": first, "isTyping": True})

        def typing(
            count_first: int, count_second: int
        ) -> Callable[[Snapshot], list[tuple[str, bool, str]]]:
            def check(snap: Snapshot) -> list[tuple[str, bool, str]]:
                got = (
                    (snap.room(first) or {}).get("typingUsers"),
                    (snap.room(second) or {}).get("typingUsers"),
                )
                return [
                    (
                        "STATS-ROOM-DETAILS",
                        got == (count_first, count_second),
                        f"rooms.details typingUsers {count_first} in {first} and {count_second} "
                        f"in {second}, got {got}",
                    )
                ]

            return check

        try:
            await run.after(
                "alice types in two rooms, bob in one of them",
                {"totalTypingUsers": ("HEALTH-TOTAL-TYPING-USERS", 3)},
                typing(2, 1),
            )
            await alice.request("typing", {"roomId": first, "isTyping": False})
            await run.after(
                "alice stops typing in the first room",
                {"totalTypingUsers": ("HEALTH-TOTAL-TYPING-USERS", 2)},
                typing(1, 1),
            )
        except ConformanceFailure:
            # Typing ends by itself after the timeout (D18): figures first read late prove
            # nothing.
            elapsed_ms = (run.first_read_at - started) * 1000
            if elapsed_ms > settings.typing_timeout_ms / 2:
                raise expect.Inconclusive(
                    f"the script took {elapsed_ms:.0f} ms, near the "
                    f"{settings.typing_timeout_ms} ms typing timeout"
                ) from None
            raise

    await twice(script)


@requirement("STATS-MESSAGES-TOTAL-PROCESSED")
async def test_total_processed_counts_accepted_messages_and_not_refused_ones(
    chat: Clients, target: Target, http: Http, settings: Declaration
) -> None:
    if not settings.metrics:
        expect.not_applicable("the target is declared with metrics off (D24: counters stay 0)")

    async def script(attempt: int) -> None:
        room = fresh_room()
        alice = await chat.member(f"alice{attempt}", room)
        run = Script(http, await snapshot(http), target.timeout_ms)
        for n in (1, 2):
            await alice.request("sendMessage", {"roomId": room, "content": f"message {n}"})
        # D7: a refused event is not counted as processed.
        await alice.request("sendMessage", {"roomId": room, "content": ""})
        # A message to a room she has not joined: refused at reference level (D16), but the
        # document does not say so, so it counts exactly when the target accepted it.
        outside = await alice.request(
            "sendMessage", {"roomId": fresh_room(), "content": "not a member"}
        )
        counted = 3 if outside.accepted else 2
        await run.after(
            "alice sends 2 messages, then an empty one (400) and one to a room she has "
            f"not joined ({'accepted' if counted == 3 else 'refused'})",
            {"messages.totalProcessed": ("STATS-MESSAGES-TOTAL-PROCESSED", counted)},
        )

    await twice(script)


@requirement("HEALTH-READ-ONLY")
async def test_reading_health_and_stats_changes_nothing(target: Target, http: Http) -> None:
    def figures(snap: Snapshot) -> dict[str, Any]:
        health = {k: v for k, v in snap.health.items() if k != "timestamp"}
        stats = {k: v for k, v in snap.stats.items() if k != "timestamp"}
        return {"health": health, "stats": stats}

    for attempt in (1, 2):
        first = await snapshot(http)
        for _ in range(3):
            await snapshot(http)
        second = await snapshot(http)
        same = figures(first) == figures(second)
        if same or attempt == 2:
            expect.that(
                "HEALTH-READ-ONLY",
                same,
                sent=f"GET {HEALTH} and GET {STATS}, 5 times each, nothing else",
                expected="the same figures before and after",
                actual=f"before {show(figures(first), 700)}\n               after  "
                f"{show(figures(second), 700)}",
            )
            return


@requirement("STATS-METRICS-DISABLED")
async def test_cumulative_counters_stay_zero_with_metrics_disabled(
    chat: Clients, room: str, target: Target, http: Http, settings: Declaration
) -> None:
    if settings.metrics:
        expect.not_applicable("the target is declared with metrics on")
    alice = await chat.member("alice", room)
    await alice.request("sendMessage", {"roomId": room, "content": "counted nowhere"})
    live = await snapshot(http)
    expect.that(
        "STATS-METRICS-DISABLED",
        all(live.value(name) == 0 for name in CUMULATIVE),
        sent="alice connects, joins a new room and sends a message",
        expected=f"{', '.join(CUMULATIVE)} stay 0",
        actual=live.show(CUMULATIVE),
    )
    expect.that(
        "STATS-METRICS-DISABLED",
        isinstance(live.value("connections.current"), int)
        and live.value("connections.current") >= 1
        and live.room(room) is not None,
        sent="alice connects and joins a new room",
        expected="live current figures: connections.current >= 1, the room in rooms.details",
        actual=f"connections.current={show(live.value('connections.current'))}, "
        f"details entry {show(live.room(room))}",
    )


# -- schemathesis against the contract's OpenAPI document ----------------------------------

# Failure codes of schemathesis (`st explain --list`): ST204 is unsupported_method.
REFERENCE_CODES = {"ST204"}
CHECKS = (
    "not_a_server_error,response_schema_conformance,content_type_conformance,unsupported_method"
)


@contextlib.contextmanager
def openapi_document() -> Iterator[Path]:
    resource = resources.files("chatrooms_fixtures").joinpath("openapi.yaml")
    if not resource.is_file():
        pytest.skip("chatrooms_fixtures has no openapi.yaml installed")
    with resources.as_file(resource) as path:
        yield path


def cases_of(junit: Path) -> list[tuple[str, set[str], str]]:
    """(operation, failure codes, failure text) per schemathesis test case; no codes and no
    text for a case that passed."""
    found: list[tuple[str, set[str], str]] = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        failures = [*case.iter("failure"), *case.iter("error")]
        if not failures:
            found.append((case.get("name") or "", set(), ""))
        for failure in failures:
            text = failure.text or failure.get("message") or "failure"
            codes = set(re.findall(r"\b(ST\d{3})\b", text + " " + (failure.get("message") or "")))
            found.append((case.get("name") or "", codes, text))
    return found


def finding_requirement(operation: str, codes: set[str]) -> str:
    """The requirement a schemathesis finding breaks: ST204 (unsupported method) is the
    reference rule of D24; a schema or content-type finding breaks the shape; anything
    else (a 5xx, no answer) the endpoint."""
    if codes and codes <= REFERENCE_CODES:
        return "HEALTH-NON-GET-REFUSED"
    stats = STATS in operation
    documented = codes - REFERENCE_CODES
    if documented and documented <= {"ST108", "ST109", "ST110"}:
        return "STATS-SHAPE" if stats else "HEALTH-SHAPE"
    return "STATS-ENDPOINT" if stats else "HEALTH-ENDPOINT"


@requirement(
    "HEALTH-ENDPOINT", "HEALTH-SHAPE", "STATS-ENDPOINT", "STATS-SHAPE", "HEALTH-NON-GET-REFUSED"
)
async def test_schemathesis_finds_no_server_error_bad_schema_content_type_or_method_handling(
    target: Target,
    http: Http,
) -> None:
    with openapi_document() as spec, tempfile.TemporaryDirectory(prefix="conformance-st-") as tmp:
        junit = Path(tmp) / "junit.xml"
        # From this interpreter, never an executable looked up on PATH: the suite must work
        # from a venv that is not activated (pipx, CI images, venv/bin/... scripts).
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(spec),
            "--url",
            target.url,
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "5",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            str(max(1, target.timeout_ms // 1000)),
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
        ]
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = (done.stdout + done.stderr).strip()
        if done.returncode not in (0, 1) or not junit.exists():
            # The tool could not run: the suite's problem (or the machine's), not a verdict.
            raise expect.SuiteError(
                f"schemathesis did not run (exit {done.returncode}): {output[-1500:]}"
            )
        cases = cases_of(junit)
    sent = f"schemathesis run openapi.yaml --url {target.url} --checks {CHECKS}"
    for path in (HEALTH, STATS):
        # An empty run proves nothing: each endpoint must have been exercised.
        ran = [c for c in cases if path in c[0]]
        if not ran:
            raise expect.SuiteError(
                f"schemathesis generated no test case for {path}: {output[-800:]}"
            )
    findings: dict[str, list[str]] = {}
    for operation, codes, text in cases:
        if text:
            rid = finding_requirement(operation, codes)
            findings.setdefault(rid, []).append(
                f"{operation}: {', '.join(sorted(codes)) or 'failure'}:\n{text.strip()[:1500]}"
            )
    expected = {
        "HEALTH-ENDPOINT": f"GET {HEALTH}: no 5xx, an answer to every request",
        "STATS-ENDPOINT": f"GET {STATS}: no 5xx, an answer to every request",
        "HEALTH-SHAPE": f"GET {HEALTH}: responses valid against the OpenAPI schema, JSON",
        "STATS-SHAPE": f"GET {STATS}: responses valid against the OpenAPI schema, JSON",
        "HEALTH-NON-GET-REFUSED": "methods other than GET are answered 405 with an Allow header",
    }
    # Documented findings first: they gate at every level.
    for rid in expected:
        expect.that(
            rid,
            rid not in findings,
            sent=f"{sent} ({len(cases)} test cases)",
            expected=expected[rid],
            actual="\n".join(findings.get(rid, [])[:2]),
        )
