"""The self-test's kill table, printed at the end of the run."""

from __future__ import annotations

from typing import Any

import pytest

kills_key = pytest.StashKey[dict[str, tuple[bool, str]]]()


@pytest.fixture
def kill_log(request: pytest.FixtureRequest) -> dict[str, tuple[bool, str]]:
    """mutant name -> (killed, what killed it or why it survived)."""
    return request.config.stash.setdefault(kills_key, {})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    kills = config.stash.get(kills_key, {})
    if not kills:
        return
    terminalreporter.write_sep("=", "conformance self-test: mutants")
    for name, (killed, detail) in sorted(kills.items()):
        terminalreporter.write_line(f"{'killed ' if killed else 'SURVIVED'} {name:<38} {detail}")
    count = sum(killed for killed, _ in kills.values())
    terminalreporter.write_line(f"killed {count}/{len(kills)} mutants")
