"""Checks that fail with the evidence a reader needs: the requirement, what was sent,
what was expected, what actually came back (h2spec's Expected/Actual)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.client import ChatClient, Reply, Where
    from conformance.target import Target

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
    burst inside one rate-limit window); reported as a skip, never as a failure."""


def show(value: Any, limit: int = 400) -> str:
    """Compact JSON for evidence lines."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def that(requirement: str, ok: bool, *, sent: str, expected: str, actual: str) -> None:
    if not ok:
        raise ConformanceFailure(requirement, sent=sent, expected=expected, actual=actual)


def fields(requirement: str, payload: Any, *, sent: str, **expected: Any) -> None:
    """Each named field of `payload` equals the expected value."""
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
    if not check(payload):
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


def error_reply(requirement: str, reply: Reply, status: int) -> dict[str, Any]:
    """D7: the request was refused with the error object and this statusCode, from the
    ack or the `error` event."""
    that(
        requirement,
        reply.arrived,
        sent=reply.sent,
        expected=f"an error with statusCode {status} (ack or `error` event)",
        actual=reply.describe(),
    )
    payload = reply.payload
    ok = (
        isinstance(payload, Mapping)
        and payload.get("success") is False
        and payload.get("statusCode") == status
    )
    that(
        requirement,
        ok,
        sent=reply.sent,
        expected=f"{{success: false, statusCode: {status}, ...}}",
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
    earlier check) within the quiet window."""
    if not clients:
        return
    await asyncio.sleep(within_ms / 1000)
    for client in clients:
        stray = client.received(event, where, untaken=True)
        if stray:
            raise ConformanceFailure(
                requirement,
                sent=sent,
                expected=f"{client.name} does not receive {event!r}",
                actual=f"{client.name} received {show(stray[0].payload)}",
            )


async def json_endpoint(target: Target, path: str) -> dict[str, Any]:
    """GET a health/stats endpoint: 200 with a JSON object, or a failure of that endpoint's
    requirement (D24)."""
    reply = await asyncio.to_thread(target.http_get, path)
    try:
        body = reply.json() if reply.status == 200 else None
    except ValueError:
        body = None
    that(
        ENDPOINT_REQUIREMENTS[path],
        isinstance(body, dict),
        sent=f"GET {path}",
        expected="200 with a JSON object",
        actual=f"{reply.status} {reply.body[:300]!r}",
    )
    assert isinstance(body, dict)
    return body
