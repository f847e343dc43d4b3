"""The self-test's kill table (test_selftest.py), printed at the end of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class KillLog:
    kills: dict[str, tuple[bool, str]] = field(default_factory=dict)  # name -> (killed, detail)
    runs: int = 0  # suite runs, the unbroken server's included
    seconds: float = 0.0  # wall time of all the runs


kill_log_key = pytest.StashKey[KillLog]()


@pytest.fixture(scope="session")
def kill_log(pytestconfig: pytest.Config) -> KillLog:
    return pytestconfig.stash.setdefault(kill_log_key, KillLog())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    log = config.stash.get(kill_log_key, None)
    if log is None or not log.kills:
        return
    terminalreporter.write_sep("=", "conformance self-test: mutants")
    for name, (killed, detail) in sorted(log.kills.items()):
        terminalreporter.write_line(f"{'killed  ' if killed else 'SURVIVED'} {name:<38} {detail}")
    count = sum(killed for killed, _ in log.kills.values())
    terminalreporter.write_line(
        f"killed {count}/{len(log.kills)} mutants ({log.runs} suite runs in {log.seconds:.0f} s)"
    )
