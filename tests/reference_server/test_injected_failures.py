"""A real exception where the server accepts a connection (injected, as a black box cannot
do): refused with 500 and no internals, and the server goes on accepting. The conformance
suite judges the same rule through the fault switch (CONN-FAILURE-REFUSED-500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reference_server.harness import LiveServer


async def test_an_unexpected_failure_at_connect_refuses_with_500_and_no_internals(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals /srv/app.py")

    monkeypatch.setattr("reference_server.events.decode_token", broken)
    data = await server.refusal("alice")
    assert data["message"] == "Internal Server Error"
    assert data["data"]["statusCode"] == 500
    assert "internals" not in str(data) and ".py" not in str(data)
    monkeypatch.undo()
    await server.connect("bob")  # and the server goes on accepting
