"""The suite's command line against a live reference server: token sources, selection,
expectations (stale ones fail the run), levels, and the reports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_server.launcher import RunningServer

# Each check runs the suite in a child process: slow, so it runs once (tox -e selftest).
pytestmark = pytest.mark.slow

SECRET = "runner-test-secret-of-more-than-32-bytes"
FAST = ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with RunningServer({"JWT_SECRET": SECRET, "WS_RATE_LIMIT_WINDOW_MS": "3000"}) as running:
        yield running


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def against(server: RunningServer, *args: str) -> list[str]:
    return ["--target", server.url, "--env", "development", *args]


def test_a_passing_selection_exits_0_with_the_summary_last(
    server: RunningServer, tmp_path: Path
) -> None:
    report, data = tmp_path / "r.md", tmp_path / "r.json"
    done = conformance(
        *against(
            server,
            "--secret",
            SECRET,
            "--only",
            "EVT-JOIN-,EVT-LEAVE-",
            "--report",
            str(report),
            "--json-report",
            str(data),
        ),
        "--",
        *FAST,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    summary = [line for line in done.stdout.splitlines() if line.startswith("conformance: ")]
    assert summary and summary[-1].endswith("0 failed, 0 skipped")
    verdicts = {r["id"]: r["verdict"] for r in json.loads(data.read_text())["requirements"]}
    assert set(verdicts) == {rid for rid in verdicts if rid.startswith(("EVT-JOIN-", "EVT-LEAVE-"))}
    assert verdicts["EVT-JOIN-RESPONSE"] == "PASS"
    assert "# Chat Rooms WebSocket API: conformance report" in report.read_text()


def test_a_token_command_replaces_the_secret(server: RunningServer) -> None:
    command = f"chatrooms-token {{user_id}} --username {{username}} --secret {SECRET}"
    done = conformance(
        *against(server, "--token-cmd", command, "--only", "AUTH-CONNECT-PAYLOAD-TOKEN"),
        "--",
        *FAST,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "PASS                 AUTH-CONNECT-PAYLOAD-TOKEN" in done.stdout


def test_a_wrong_secret_fails_loudly_instead_of_passing(server: RunningServer) -> None:
    done = conformance(
        *against(server, "--secret", "not-the-secret", "--only", "EVT-JOIN-RESPONSE"), "--", *FAST
    )
    assert done.returncode == 1
    assert "refused a valid token" in done.stdout


def test_an_expected_failure_that_passes_is_stale_and_fails_the_run(
    server: RunningServer, tmp_path: Path
) -> None:
    expectations = tmp_path / "known.yaml"
    expectations.write_text("EVT-JOIN-RESPONSE: our server used to answer 'joined'\n")
    done = conformance(
        *against(
            server,
            "--secret",
            SECRET,
            "--only",
            "EVT-JOIN-RESPONSE",
            "--expectations",
            str(expectations),
        ),
        "--",
        *FAST,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "STALE" in done.stdout and "but passed" in done.stdout


def test_an_expectations_file_naming_unknown_ids_is_a_usage_error(
    server: RunningServer, tmp_path: Path
) -> None:
    expectations = tmp_path / "known.yaml"
    expectations.write_text("NOT-A-REQUIREMENT: whatever\n")
    done = conformance(
        *against(server, "--secret", SECRET, "--expectations", str(expectations)), "--", *FAST
    )
    assert done.returncode == 4
    assert "unknown requirement ids: NOT-A-REQUIREMENT" in done.stderr


def test_a_target_without_a_token_source_is_a_usage_error(server: RunningServer) -> None:
    done = conformance(*against(server, "--only", "EVT-JOIN-RESPONSE"), "--", *FAST)
    assert done.returncode != 0
    assert "--secret" in done.stdout + done.stderr
