"""Checks that fail with the evidence a reader needs: the requirement, what was sent,
what was expected, what actually came back (h2spec's Expected/Actual).

Every function here records the requirement it evaluates: a test passes a requirement
only when an expectation that could have failed was evaluated for it (see
conformance.plugin). A requirement id that is not in the catalogue is an error of the
suite, never a verdict on the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from conformance.catalogue import load_catalogue
from conformance.evidence import show as show  # re-exported: suite modules read it here

if TYPE_CHECKING:
    from conformance.client import ChatClient, Reply, Where
    from conformance.http import Http

# The requirement a health/stats endpoint that does not answer with JSON breaks (D24).
ENDPOINT_REQUIREMENTS = {
    "/websocket/health": "HEALTH-ENDPOINT",
    "/websocket/stats": "STATS-ENDPOINT",
}


class ConformanceFailure(AssertionError):
    """A target broke one requirement. `str()` is the evidence block of the report."""

    def __init__(self, requirement: str, *, sent: str, expected: str, actual: str) -> None:
        super().__init__(f"{requirement}: expected {expected}, actual {actual}")
        self.requirement = requirement
        self.sent = sent
        self.expected = expected
        self.actual = actual

    def evidence(self) -> str:
        return (
            f"     sent:     {self.sent}\n"
            f"     expected: {self.expected}\n"
            f"     actual:   {self.actual}"
        )


class Inconclusive(Exception):
    """The check could not be judged fairly (e.g. the machine was too slow to finish a
    burst inside one rate-limit window): its own verdict, INCONCLUSIVE, never a pass, a
    failure or a skip. --strict (and the managed run) fail on it."""


class NotApplicable(Exception):
    """The requirement does not apply to the configuration the user declared (e.g. the
    "no ping when disabled" rule for a target declared with the heartbeat on): N/A."""


class SuiteError(Exception):
    """The suite itself is wrong (an unknown requirement id, a check that judged nothing):
    reported as ERROR, never charged to the server."""


# Requirement ids evaluated by an expectation since the current test started, and those
# the test found not applicable to the declared configuration (id -> why).
_judged: set[str] = set()
_not_applicable: dict[str, str] = {}


def start_test() -> None:
    _judged.clear()
    _not_applicable.clear()


def judged() -> frozenset[str]:
    return frozenset(_judged)


def not_applicable_here() -> dict[str, str]:
    return dict(_not_applicable)


def judging(requirement: str) -> str:
    """Record that an expectation for `requirement` is being evaluated; the id must be in
    the catalogue."""
    if requirement not in load_catalogue():
        raise SuiteError(
            f"the suite names requirement {requirement!r}, which is not in the catalogue"
        )
    _judged.add(requirement)
    return requirement


def not_applicable(reason: str) -> None:
    """The whole check does not apply to the declared configuration."""
    raise NotApplicable(reason)


def not_applicable_to(requirement: str, reason: str) -> None:
    """One of the check's requirements does not apply to the declared configuration; the
    check goes on to judge the others."""
    if requirement not in load_catalogue():
        raise SuiteError(
            f"the suite names requirement {requirement!r}, which is not in the catalogue"
        )
    _not_applicable[requirement] = reason


def that(requirement: str, ok: bool, *, sent: str, expected: str, actual: str) -> None:
    judging(requirement)
    if not ok:
        raise ConformanceFailure(requirement, sent=sent, expected=expected, actual=actual)


def fields(requirement: str, payload: Any, *, sent: str, **expected: Any) -> None:
    """Each named field of `payload` equals the expected value."""
    judging(requirement)
    if not isinstance(payload, Mapping):
        raise ConformanceFailure(
            requirement, sent=sent, expected="a JSON object", actual=show(payload)
        )
    for name, value in expected.items():
        if name not in payload or payload[name] != value:
            raise ConformanceFailure(
                requirement,
                sent=sent,
                expected=f"{name} == {show(value)}",
                actual=show(payload),
            )


def schema(
    requirement: str, name: str, payload: Any, *, sent: str, level: str = "documented"
) -> None:
    """`payload` validates against the contract's JSON Schema `name` at `level`
    (`reference` adds the reference server's stricter rules, e.g. D8 timestamps)."""
    from chatrooms_fixtures.schemas import validate as schema_errors

    judging(requirement)
    errors = schema_errors(name, payload, "reference" if level == "reference" else "documented")
    if errors:
        raise ConformanceFailure(
            requirement,
            sent=sent,
            expected=f"a payload valid against schema {name!r} ({level} level)",
            actual=f"{show(payload)}\n               schema errors: {'; '.join(errors[:3])}",
        )


def matches(
    requirement: str,
    payload: Any,
    check: Callable[[Any], bool],
    *,
    sent: str,
    expected: str,
) -> None:
    judging(requirement)
    if not _holds(check, payload):
        raise ConformanceFailure(requirement, sent=sent, expected=expected, actual=show(payload))


def response(requirement: str, reply: Reply, event: str, **expected: Any) -> dict[str, Any]:
    """D6: the documented "Response" object arrived by ack or as the emitted `event`; an
    emitted payload may leave out its `event` field (NestJS-style servers emit data only)."""
    that(
        requirement,
        reply.arrived and reply.event != "error",
        sent=reply.sent,
        expected=f"the {event} response (as the ack or as an emitted {event!r} event)",
        actual=reply.describe(),
    )
    payload = reply.payload
    that(
        requirement,
        isinstance(payload, Mapping),
        sent=reply.sent,
        expected=f"the {event} response object",
        actual=reply.describe(),
    )
    if reply.channel == "ack" or "event" in payload:
        fields(requirement, payload, sent=reply.sent, event=event)
    fields(requirement, payload, sent=reply.sent, **expected)
    return dict(payload)


def status_of_error(payload: Any) -> int | None:
    """The status an error object names. The document's `error` event requires `error` (a
    string) and makes `statusCode` optional, so a `statusCode` decides when present, and
    otherwise the `error` phrase of the document's Error Codes table ("Bad Request",
    "Unauthorized", "Too Many Requests", "Internal Server Error", ...) does."""
    if not isinstance(payload, Mapping):
        return None
    code = payload.get("statusCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    phrase = payload.get("error")
    if not isinstance(phrase, str):
        return None
    for status in HTTPStatus:
        if phrase.strip().lower().startswith(status.phrase.lower()):
            return int(status)
    return None


def error_reply(requirement: str, reply: Reply, status: int) -> dict[str, Any]:
    """doc "10. Error", D7: the request was refused with the error object for this status
    (its statusCode, or its `error` phrase when it has no statusCode), from the ack or the
    `error` event."""
    phrase = HTTPStatus(status).phrase
    that(
        requirement,
        reply.arrived,
        sent=reply.sent,
        expected=f"an error for {status} {phrase} (ack or `error` event)",
        actual=reply.describe(),
    )
    payload = reply.payload
    ok = (
        isinstance(payload, Mapping)
        and payload.get("success") is False
        and status_of_error(payload) == status
    )
    that(
        requirement,
        ok,
        sent=reply.sent,
        expected=f'{{success: false, error: "{phrase}", statusCode?: {status}, ...}}',
        actual=reply.describe(),
    )
    return dict(payload)


async def received(
    requirement: str,
    client: ChatClient,
    event: str,
    *,
    sent: str,
    where: Where | None = None,
    within_ms: int | None = None,
    expected: str | None = None,
) -> Any:
    """`client` receives `event` (matching `where`) within the time allowed; its payload."""
    judging(requirement)
    got = await client.next(event, where=where, within_ms=within_ms)
    if got is None:
        others = sorted({e.event for e in client.log})
        raise ConformanceFailure(
            requirement,
            sent=sent,
            expected=expected or f"{client.name} receives {event!r}",
            actual=f"no matching {event!r} at {client.name} within "
            f"{within_ms or client.timeout_ms} ms (events seen: {', '.join(others) or 'none'}; "
            f"{event!r} payloads: {show([e.payload for e in client.received(event)][-3:])})",
        )
    return got.payload


async def nothing(
    requirement: str,
    clients: list[ChatClient],
    event: str,
    *,
    sent: str,
    where: Where | None = None,
    within_ms: int,
) -> None:
    """None of `clients` receives `event` (matching `where`, and not already taken by an
    earlier check) during the whole quiet window. An `event` whose payload the predicate
    cannot read (a renamed or missing field) counts as received."""
    if not clients:
        raise SuiteError(f"a must-not-receive check of {event!r} names no client")
    judging(requirement)
    await asyncio.sleep(within_ms / 1000)
    for client in clients:
        stray = client.received(event, where, untaken=True, unreadable_matches=True)
        if stray:
            raise ConformanceFailure(
                requirement,
                sent=sent,
                expected=f"{client.name} does not receive {event!r} within {within_ms} ms",
                actual=f"{client.name} received {show(stray[0].payload)}",
            )


async def json_endpoint(http: Http, path: str, *, node: int | None = None) -> dict[str, Any]:
    """GET a health/stats endpoint (of `node`, else the next node): 200 with a JSON object,
    or a failure of that endpoint's requirement (D24)."""
    requirement = judging(ENDPOINT_REQUIREMENTS[path])
    try:
        reply = await http.get(path, node=node)
    except (TimeoutError, OSError) as error:
        raise ConformanceFailure(
            requirement,
            sent=f"GET {path}",
            expected="200 with a JSON object",
            actual=f"no HTTP answer ({type(error).__name__}: {error})",
        ) from None
    body = reply.json_object()
    media_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    if body is None or media_type != "application/json":
        raise ConformanceFailure(
            requirement,
            sent=f"GET {path}",
            expected="200 with Content-Type application/json and a JSON object",
            actual=f"{reply.status}, Content-Type {reply.headers.get('content-type')!r}, "
            f"body {reply.body[:300]!r}",
        )
    return body


def _holds(check: Callable[[Any], bool], payload: Any) -> bool:
    # A predicate over a foreign server's payload: an odd shape is a "no", not a crash.
    try:
        return bool(check(payload))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError):
        return False
