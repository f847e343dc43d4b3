"""The pytest plugin behind the conformance suite (registered as the `conformance` pytest11
entry point; inert unless tests of `conformance.suite` are collected).

Options -> one frozen Target (see suite/conftest.py) -> tests that name requirement ids ->
per-requirement verdicts, a Markdown/JSON report and a grep-able last line.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.catalogue import Requirement, load_catalogue
from conformance.expect import ConformanceFailure, Inconclusive
from conformance.report import (
    CaseResult,
    RequirementResult,
    judge,
    render_markdown,
    render_terminal,
    summarize,
    to_json,
)

SUITE_PACKAGE = "conformance.suite"
SUITE_DIR = Path(__file__).parent / "suite"

results_key = pytest.StashKey[list[CaseResult]]()
judged_key = pytest.StashKey[list[RequirementResult]]()
transcript_key = pytest.StashKey[Any]()
active_key = pytest.StashKey[bool]()

# (option, env twin, default, help); the env twin is read when the flag is absent.
OPTIONS: list[tuple[str, str, Any, str]] = [
    (
        "--target",
        "CONFORMANCE_TARGET",
        None,
        "base URL of the server under test, e.g. http://localhost:3001 "
        "(default: start the reference server for the run)",
    ),
    (
        "--secret",
        "CONFORMANCE_SECRET",
        None,
        "the target's JWT_SECRET, to mint HS256 tokens (and the bad-token set)",
    ),
    (
        "--token-cmd",
        "CONFORMANCE_TOKEN_CMD",
        None,
        "shell command printing a valid token; {user_id} and {username} are substituted",
    ),
    (
        "--env",
        "CONFORMANCE_ENV",
        "development",
        "the NODE_ENV the target runs with: development or production (sets expected limits)",
    ),
    ("--namespace", "CONFORMANCE_NAMESPACE", "/chat", "Socket.IO namespace (default /chat)"),
    (
        "--level",
        "CONFORMANCE_LEVEL",
        None,
        "which requirements fail the run: documented or reference "
        "(default: documented against --target, reference against the reference server)",
    ),
    (
        "--expectations",
        "CONFORMANCE_EXPECTATIONS",
        None,
        "YAML file of known failures: `REQUIREMENT-ID: reason` per line",
    ),
    ("--transport", "CONFORMANCE_TRANSPORT", "websocket", "websocket or polling"),
    (
        "--fault-room",
        "CONFORMANCE_FAULT_ROOM",
        None,
        "a room id whose events make the target fail with 500 (500 checks skip without it)",
    ),
    ("--report", "CONFORMANCE_REPORT", None, "write the Markdown report to this file"),
    ("--json-report", "CONFORMANCE_JSON_REPORT", None, "write the JSON report to this file"),
    (
        "--window-ms",
        "CONFORMANCE_WINDOW_MS",
        None,
        "rate-limit window the target was configured with (default: read from health)",
    ),
    (
        "--heartbeat-interval-ms",
        "CONFORMANCE_HEARTBEAT_INTERVAL_MS",
        None,
        "the target's WS_HEARTBEAT_INTERVAL (default: health's D25 field, else 30000)",
    ),
    (
        "--typing-timeout-ms",
        "CONFORMANCE_TYPING_TIMEOUT_MS",
        None,
        "the target's typing timeout (default: health's D25 field, else 5000)",
    ),
    (
        "--allowed-origin",
        "CONFORMANCE_ALLOWED_ORIGIN",
        None,
        "an origin the target allows (default: the health endpoint's corsOrigin)",
    ),
    ("--timeout-ms", "CONFORMANCE_TIMEOUT_MS", "2000", "how long to wait for an answer"),
    ("--quiet-ms", "CONFORMANCE_QUIET_MS", "300", "how long a must-not-receive check listens"),
    (
        "--slow-threshold-ms",
        "CONFORMANCE_SLOW_THRESHOLD_MS",
        "10000",
        "waits longer than this (window reset, heartbeat cadence) are skipped unless --run-slow",
    ),
    (
        "--only",
        "CONFORMANCE_ONLY",
        None,
        "comma-separated requirement ids or id prefixes to run, e.g. RL-,AUTH-QUERY-TOKEN",
    ),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Chat Rooms API conformance suite")
    for flag, env, default, help_text in OPTIONS:
        group.addoption(flag, default=None, help=f"{help_text} [env {env}]")
        del default  # applied in option() so that env twins can sit in between
    group.addoption(
        "--run-slow",
        action="store_true",
        default=os.environ.get("CONFORMANCE_RUN_SLOW", "") not in ("", "0", "false"),
        help="also run waits longer than --slow-threshold-ms [env CONFORMANCE_RUN_SLOW]",
    )


def option(config: pytest.Config, flag: str) -> Any:
    """A conformance option: the flag, else its CONFORMANCE_* twin, else the default."""
    for name, env, default, _ in OPTIONS:
        if name == flag:
            value = config.getoption(flag.lstrip("-").replace("-", "_"))
            if value is None:
                value = os.environ.get(env) or default
            return value
    raise KeyError(flag)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(*ids): the requirement ids (fixtures/requirements.yaml) a "
        "conformance test checks",
    )
    config.stash[results_key] = []
    config.stash[active_key] = False


def level_of_name(level: str | None, *, managed: bool) -> str:
    """--level, defaulting to documented against a --target and reference otherwise."""
    level = level or ("reference" if managed else "documented")
    if level not in ("documented", "reference"):
        raise pytest.UsageError(f"--level must be documented or reference, got {level!r}")
    return level


def level_of(config: pytest.Config) -> str:
    return level_of_name(option(config, "--level"), managed=not option(config, "--target"))


def read_expectations(path: str | None) -> dict[str, str]:
    """The --expectations file: `REQUIREMENT-ID: reason` per known failure."""
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise pytest.UsageError(f"--expectations {path}: {error}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(
            f"--expectations {path}: expected a mapping `REQUIREMENT-ID: reason`"
        )
    unknown = sorted(str(k) for k in data if k not in load_catalogue())
    if unknown:
        raise pytest.UsageError(
            f"--expectations {path}: unknown requirement ids: {', '.join(unknown)}"
        )
    return {str(k): str(v if v is not None else "known failure") for k, v in data.items()}


def load_expectations(config: pytest.Config) -> dict[str, str]:
    return read_expectations(option(config, "--expectations"))


def _is_suite_item(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool(module is not None and module.__name__.startswith(SUITE_PACKAGE))


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids.extend(str(a) for a in marker.args)
    return ids


def selected_by(only: str | None, ids: list[str]) -> bool:
    """--only: exact ids, or prefixes ending in '-' (e.g. RL-)."""
    if not only:
        return True
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    return any(rid == w or (w.endswith("-") and rid.startswith(w)) for rid in ids for w in wanted)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    suite_items = [i for i in items if _is_suite_item(i)]
    if not suite_items:
        return
    config.stash[active_key] = True
    catalogue = load_catalogue()
    for item in suite_items:
        ids = requirement_ids(item)
        if not ids:
            raise pytest.UsageError(
                f"conformance test {item.nodeid} names no requirement: "
                "decorate it with @requirement('AREA-SUBJECT-ASPECT')"
            )
        unknown = [rid for rid in ids if rid not in catalogue]
        if unknown:
            raise pytest.UsageError(
                f"conformance test {item.nodeid} names unknown requirement ids {unknown}"
            )
    only = option(config, "--only")
    if only:
        keep = [i for i in items if not _is_suite_item(i) or selected_by(only, requirement_ids(i))]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not any("conformance" in str(a) for a in config.args) and not option(config, "--target"):
        return None
    target = option(config, "--target") or "the reference server, started for this run"
    tokens = (
        "--token-cmd"
        if option(config, "--token-cmd")
        else "--secret"
        if option(config, "--secret") or not option(config, "--target")
        else "none (pass --secret or --token-cmd)"
    )
    return [
        f"conformance target: {target} namespace {option(config, '--namespace')} "
        f"transport {option(config, '--transport')}",
        f"conformance environment: NODE_ENV={option(config, '--env')}; "
        f"level: {level_of(config)}; tokens: {tokens}; "
        f"fault room: {option(config, '--fault-room') or 'none (500 checks skip)'}",
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not _is_suite_item(item):
        return report
    config = item.config
    ids = requirement_ids(item)
    catalogue = load_catalogue()
    transcript = item.stash.get(transcript_key, None)
    wire_log = transcript.render() if transcript is not None else ""
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, Inconclusive):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"inconclusive: {excinfo.value}")
    if report.when == "call" or (report.when == "setup" and not report.passed):
        result = CaseResult(nodeid=item.nodeid, requirements=ids, outcome=report.outcome)
        if report.skipped:
            result.skip_reason = _skip_reason(report)
        elif report.failed:
            failure = excinfo.value if excinfo is not None else None
            if isinstance(failure, ConformanceFailure):
                result.failed_requirements = [failure.requirement]
                result.evidence = failure.evidence()
            else:
                result.failed_requirements = list(ids)
                result.evidence = f"     error:    {_short_error(excinfo)}"
            result.transcript = wire_log
            report.longrepr = _failure_text(catalogue, result)
            if wire_log:
                report.sections.append(("wire log", wire_log))
            reason = _non_gating_reason(config, catalogue, result.failed_requirements)
            if reason:
                # Shown by pytest as xfailed; the conformance report still says FAIL/XFAIL.
                report.outcome = "skipped"
                report.wasxfail = reason
        config.stash[results_key].append(result)
    for rid in ids:
        report.user_properties.append(("requirement", rid))
    return report


def _non_gating_reason(
    config: pytest.Config, catalogue: dict[str, Requirement], failed: list[str]
) -> str | None:
    expectations = load_expectations(config)
    if failed and all(rid in expectations for rid in failed):
        return "expected failure: " + "; ".join(expectations[r] for r in failed)
    if level_of(config) == "documented" and all(
        catalogue[r].level == "reference" for r in failed if r in catalogue
    ):
        return (
            "differs from the reference server (reference level, not gating at --level documented)"
        )
    return None


def _failure_text(catalogue: dict[str, Requirement], result: CaseResult) -> str:
    heads = [catalogue[r].title for r in result.failed_requirements if r in catalogue]
    return "FAILED " + "\n       ".join(heads) + "\n" + result.evidence


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _short_error(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    if excinfo is None:
        return "unknown error"
    text = f"{type(excinfo.value).__name__}: {excinfo.value}"
    return text if len(text) < 600 else text[:597] + "..."


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # For `python -m conformance`, which runs both environments in the background and
    # shows their progress: "done/total" in the file CONFORMANCE_PROGRESS_FILE names.
    path = os.environ.get("CONFORMANCE_PROGRESS_FILE")
    if path and report.when == "teardown":
        _progress[0] += 1
        Path(path).write_text(f"{_progress[0]}/{_progress[1]}")


_progress = [0, 0]  # tests finished, tests selected


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _progress[1] = len(session.items)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not config.stash.get(active_key, False):
        return
    judged = _judge(config)
    header = "Conformance by section of the API document"
    terminalreporter.write_sep("=", "conformance report")
    terminalreporter.write_line(render_terminal(judged, level=level_of(config), header=header))


def _judge(config: pytest.Config) -> list[RequirementResult]:
    if judged_key not in config.stash:
        only = option(config, "--only")
        catalogue = load_catalogue()
        selected = {rid for rid in catalogue if selected_by(only, [rid])} if only else None
        results: list[CaseResult] = config.stash[results_key]
        config.stash[judged_key] = judge(
            catalogue,
            results,
            level=level_of(config),
            expectations=load_expectations(config),
            selected=selected,
        )
    return config.stash[judged_key]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.stash.get(active_key, False):
        return
    judged = _judge(config)
    level = level_of(config)
    meta = {
        "target": option(config, "--target") or "reference server (managed)",
        "environment": option(config, "--env"),
        "transport": option(config, "--transport"),
        "namespace": option(config, "--namespace"),
    }
    header = (
        f"Target: {meta['target']}; NODE_ENV={meta['environment']}; "
        f"transport {meta['transport']}; level {level}."
    )
    if option(config, "--report"):
        Path(option(config, "--report")).write_text(
            render_markdown(judged, level=level, header=header), "utf-8"
        )
    if option(config, "--json-report"):
        Path(option(config, "--json-report")).write_text(
            to_json(judged, config.stash[results_key], level=level, meta=meta), "utf-8"
        )
    # Exit 0 only when no requirement at the chosen level failed unexpectedly and no
    # expectation went stale; reference-level failures below the level do not count.
    if summarize(judged).gating_failures:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
