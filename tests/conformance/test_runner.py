"""The suite's command line against a live reference server: token sources, selection,
expectations (stale ones fail the run), the declaration (judged, never read from the
target's self-report), the installed console script run by path, and the reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_server.testing import RunningServer

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
    # The declaration of the server above: the document's defaults but the window.
    return ["--target", server.url, "--env", "development", "--window-ms", "3000", *args]


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
    mint = Path(sys.executable).parent / "chatrooms-token"
    command = f"{mint} {{user_id}} --username {{username}} --secret {SECRET}"
    done = conformance(
        *against(server, "--token-cmd", command, "--only", "AUTH-CONNECT-PAYLOAD-TOKEN"),
        "--",
        *FAST,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "PASS          AUTH-CONNECT-PAYLOAD-TOKEN" in done.stdout


def test_a_wrong_secret_fails_loudly_instead_of_passing(server: RunningServer) -> None:
    done = conformance(
        *against(server, "--secret", "not-the-secret", "--only", "EVT-JOIN-RESPONSE"), "--", *FAST
    )
    assert done.returncode == 1
    assert "FAIL          AUTH-VALID-TOKEN-ACCEPTED" in done.stdout
    assert "actual:   refused:" in done.stdout


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


@pytest.mark.parametrize("where", ["managed", "target", "plugin"])
def test_an_only_that_selects_nothing_is_a_usage_error_not_an_empty_pass(
    server: RunningServer, where: str
) -> None:
    # "RL-CLUSTER" (no trailing '-') matches no id: a run of nothing must not exit 0.
    if where == "plugin":
        # pytest on the suite as `python -m conformance --target` runs it, without its
        # own check first; the child builds the arguments from the conformance package it
        # imports itself (the installed one may not be the one this process imported).
        run_suite = (
            "import sys, pytest; from conformance.__main__ import pytest_argv; "
            "sys.exit(pytest.main(pytest_argv(sys.argv[1:])))"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                run_suite,
                *against(server, "--secret", SECRET, "--only", "RL-CLUSTER"),
                *FAST,
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    else:
        extra = against(server, "--secret", SECRET) if where == "target" else []
        done = conformance(*extra, "--only", "EVT-JOIN-RESPONSE,RL-CLUSTER")
        assert done.returncode == 2, done.stdout[-2000:]
    assert "--only 'RL-CLUSTER' selects no requirement" in done.stdout + done.stderr
    assert "RL-CLUSTER-" in done.stdout + done.stderr


def test_a_target_without_a_token_source_is_a_usage_error(server: RunningServer) -> None:
    done = conformance(*against(server, "--only", "EVT-JOIN-RESPONSE"), "--", *FAST)
    assert done.returncode != 0
    assert "--secret" in done.stdout + done.stderr


def test_the_installed_console_script_runs_by_path_without_the_venv_on_path(
    server: RunningServer,
) -> None:
    # pipx, CI images and venv/bin/... scripts run a tool by its path, venv not activated;
    # schemathesis (the HEALTH- checks) must still be found.
    script = Path(sys.executable).parent / "chatrooms-conformance"
    assert script.exists(), f"no console script next to {sys.executable}"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        [str(script), *against(server, "--secret", SECRET, "--only", "HEALTH-,STATS-ENDPOINT")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
        cwd="/",
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("conformance: ")
    assert " 0 failed" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--window-ms", "soon", "--window-ms must be a whole number of milliseconds"),
        ("--heartbeat", "maybe", "--heartbeat must be on or off"),
        ("--typing-timeout-ms", "0", "--typing-timeout-ms must be at least 1 ms"),
    ],
)
def test_a_bad_declared_setting_is_one_usage_error_at_start_up(
    server: RunningServer, flag: str, value: str, message: str
) -> None:
    done = conformance(*against(server, "--secret", SECRET, flag, value), "--", *FAST)
    assert done.returncode == 4, done.stdout[-2000:]
    assert (done.stdout + done.stderr).count(message) == 1


def test_any_node_env_is_accepted_and_means_development(server: RunningServer) -> None:
    # D21: any value other than production is development.
    done = conformance(
        "--target",
        server.url,
        "--env",
        "staging",
        "--window-ms",
        "3000",
        "--secret",
        SECRET,
        "--only",
        "CFG-NODE-ENV,RL-DEV-JOINS",
        "--",
        *FAST,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "NODE_ENV staging (declared)" in done.stdout


def test_the_declaration_is_judged_not_the_servers_self_report(
    tmp_path: Path,
) -> None:
    # A server whose heartbeat is off but whose user declared nothing: the documented
    # default (on, every 30000 ms) is expected, so its health report fails the check.
    with RunningServer({"JWT_SECRET": SECRET, "WS_ENABLE_HEARTBEAT": "false"}) as quiet:
        done = conformance(
            "--target",
            quiet.url,
            "--secret",
            SECRET,
            "--only",
            "CFG-WS-ENABLE-HEARTBEAT",
            "--",
            *FAST,
        )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "features.heartbeat == true (WS_ENABLE_HEARTBEAT the document's default" in done.stdout
