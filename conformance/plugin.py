"""The pytest plugin behind the conformance suite (registered as the `conformance` pytest11
entry point; inert unless tests of `conformance.suite` are collected).

Options -> one frozen Target with the user's Declaration, built and validated in
pytest_configure -> tests that name requirement ids -> one outcome per test, from what it
observed: PASS only for the ids an expectation evaluated, FAIL only through an
expectation, N/A and SKIP and INCONCLUSIVE by their exceptions, anything else an ERROR
of the suite -> per-requirement verdicts, a Markdown/JSON report and a grep-able last
line.
"""

from __future__ import annotations

import os
import secrets
import traceback
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import expect
from conformance.catalogue import Requirement, load_catalogue
from conformance.expect import ConformanceFailure, Inconclusive, NotApplicable
from conformance.managed import ENVIRONMENTS, MANAGED_FAULT_ROOM, managed_declaration
from conformance.report import (
    CaseResult,
    Outcome,
    RequirementResult,
    judge,
    render_markdown,
    render_terminal,
    summarize,
    to_json,
)
from conformance.target import (
    SETTING_FLAGS,
    DeclarationError,
    Target,
    declare,
    read_health_now,
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
        "base URL of the server under test, e.g. http://localhost:3001; several nodes of "
        "one logical server: comma-separated or repeated (default: start the reference "
        "server for the run)",
    ),
    (
        "--nodes",
        "CONFORMANCE_NODES",
        "1",
        "without --target: start the reference server as a cluster of this many nodes "
        "sharing a Redis server (D33)",
    ),
    (
        "--kill-node-cmd",
        "CONFORMANCE_KILL_NODE_CMD",
        None,
        "with several --target nodes: a shell command that kills node {index} ({url}) "
        "without closing its sockets, for the node-loss check (D34)",
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
        None,
        "the NODE_ENV the target runs with (default development); production selects the "
        "strict limits, any other value the development ones (D21)",
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
        "the target's rate-limit window in ms (default 60000, the document's)",
    ),
    (
        "--heartbeat",
        "CONFORMANCE_HEARTBEAT",
        None,
        "on or off: the target's WS_ENABLE_HEARTBEAT (default on)",
    ),
    (
        "--heartbeat-interval-ms",
        "CONFORMANCE_HEARTBEAT_INTERVAL_MS",
        None,
        "the target's WS_HEARTBEAT_INTERVAL (default 30000)",
    ),
    (
        "--metrics",
        "CONFORMANCE_METRICS",
        None,
        "on or off: the target's WS_ENABLE_METRICS (default on)",
    ),
    (
        "--typing-timeout-ms",
        "CONFORMANCE_TYPING_TIMEOUT_MS",
        None,
        "the target's typing timeout (default 5000, D18)",
    ),
    (
        "--allowed-origins",
        "CONFORMANCE_ALLOWED_ORIGINS",
        None,
        "the target's FRONTEND_URL: allowed origin(s), comma-separated "
        "(default http://localhost:5173)",
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
# (flag, env twin, help) of the on/off switches.
SWITCHES: list[tuple[str, str, str]] = [
    ("--run-slow", "CONFORMANCE_RUN_SLOW", "also run waits longer than --slow-threshold-ms"),
    (
        "--settings-from-health",
        "CONFORMANCE_SETTINGS_FROM_HEALTH",
        "take the settings you do not declare from the target's health endpoint (D25) "
        "instead of the document's defaults; the report says so",
    ),
]
# Declaration setting -> its flag (conformance.target.SETTING_FLAGS), for option().
SETTING_OPTIONS = dict(SETTING_FLAGS)

config_key = pytest.StashKey[Target]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Chat Rooms API conformance suite")
    for flag, env, default, help_text in OPTIONS:
        # --target may be repeated (the nodes of one server); the others take one value.
        action = "append" if flag == "--target" else "store"
        group.addoption(flag, action=action, default=None, help=f"{help_text} [env {env}]")
        del default  # applied in option() so that env twins can sit in between
    for flag, env, help_text in SWITCHES:
        group.addoption(flag, action="store_true", default=None, help=f"{help_text} [env {env}]")


# pytest's own --strict (pytest >= 9: "enables all strictness options") also makes the
# verdicts strict: any inconclusive result or skip fails the run. CONFORMANCE_STRICT=1 is
# its twin; the managed run is always strict.
STRICT_HELP = "fail the run on any inconclusive result or skip (the managed run is always strict)"


def strict_requested(config: pytest.Config) -> bool:
    if os.environ.get("CONFORMANCE_STRICT", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    return bool(config.getini("strict"))


def option(config: pytest.Config, flag: str) -> Any:
    """A conformance option: the flag, else its CONFORMANCE_* twin, else the default."""
    for name, env, default, _ in OPTIONS:
        if name == flag:
            value = config.getoption(flag.lstrip("-").replace("-", "_"))
            if isinstance(value, list):
                value = ",".join(value)
            if value is None:
                value = os.environ.get(env) or default
            return value
    for name, env, _ in SWITCHES:
        if name == flag:
            if config.getoption(flag.lstrip("-").replace("-", "_")):
                return True
            return os.environ.get(env, "").strip().lower() not in ("", "0", "false", "no")
    raise KeyError(flag)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(*ids): the requirement ids (fixtures/requirements.yaml) a "
        "conformance test checks",
    )
    config.stash[results_key] = []
    config.stash[active_key] = False
    only = option(config, "--only")
    problem = selection_problem(only, load_catalogue()) if only is not None else None
    if problem:
        raise pytest.UsageError(problem)
    config.stash[config_key] = build_target(config)
    config.stash[expectations_key] = read_expectations(option(config, "--expectations"))


expectations_key = pytest.StashKey[dict[str, str]]()


def _whole(config: pytest.Config, flag: str) -> int:
    value = option(config, flag)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{flag} must be a whole number, got {value!r}") from None
    if number < 1:
        raise pytest.UsageError(f"{flag} must be at least 1, got {number}")
    return number


def build_target(config: pytest.Config) -> Target:
    """The frozen Target every fixture, the report header and the verdicts read. Bad values
    stop the run here, once, with a usage error naming the flag."""
    url = option(config, "--target")
    urls = tuple(u.strip().rstrip("/") for u in (url or "").split(",") if u.strip())
    nodes = _whole(config, "--nodes")
    transport = option(config, "--transport")
    if transport not in ("websocket", "polling"):
        raise pytest.UsageError(f"--transport must be websocket or polling, got {transport!r}")
    managed = url is None
    level = level_of_name(option(config, "--level"), managed=managed)
    secret = option(config, "--secret")
    fault_room = option(config, "--fault-room")
    given = {name: option(config, flag) for name, flag in SETTING_FLAGS.items()}
    if url is not None and not urls:
        raise pytest.UsageError(f"--target names no URL: {url!r}")
    if nodes > 1 and not managed:
        raise pytest.UsageError(
            "--nodes starts a managed cluster; for your own cluster give each node's URL "
            "to --target (comma-separated or repeated)"
        )
    if managed:
        # The managed run declares exactly what it starts.
        extra = [SETTING_FLAGS[n] for n, v in given.items() if v is not None and n != "node_env"]
        if extra or option(config, "--settings-from-health"):
            raise pytest.UsageError(
                f"{', '.join(extra) or '--settings-from-health'} describes a --target; "
                "without one the suite starts the reference server and declares its settings"
            )
        environment = given["node_env"] or "development"
        if environment not in ENVIRONMENTS:
            raise pytest.UsageError(
                f"--env must be development or production when the suite starts the "
                f"reference server, got {environment!r}"
            )
        declared = managed_declaration(environment)
        fault_room = fault_room or MANAGED_FAULT_ROOM
        secret = secret or secrets.token_hex(24)
    else:
        if secret is None and option(config, "--token-cmd") is None:
            raise pytest.UsageError(
                "--target needs a token source: --secret S (the target's JWT_SECRET) "
                "or --token-cmd CMD (prints a token for {user_id} {username})"
            )
        health = None
        if option(config, "--settings-from-health"):
            health = read_health_now(url, _whole(config, "--timeout-ms"))
            if health is None:
                raise pytest.UsageError(
                    f"--settings-from-health: {url}/websocket/health did not answer with a "
                    "JSON object; declare the settings with flags instead"
                )
        try:
            declared = declare(given, health=health)
        except DeclarationError as error:
            raise pytest.UsageError(str(error)) from None
    return Target(
        urls=urls,
        namespace=option(config, "--namespace"),
        declared=declared,
        level=level,  # type: ignore[arg-type]
        transport=transport,
        secret=secret,
        token_cmd=option(config, "--token-cmd"),
        fault_room=fault_room,
        timeout_ms=_whole(config, "--timeout-ms"),
        quiet_ms=_whole(config, "--quiet-ms"),
        slow_threshold_ms=_whole(config, "--slow-threshold-ms"),
        run_slow=bool(option(config, "--run-slow")),
        strict=managed or strict_requested(config),
        managed=managed,
        nodes=nodes,
        kill_node_cmd=option(config, "--kill-node-cmd"),
    )


def configured_target(config: pytest.Config) -> Target:
    return config.stash[config_key]


def level_of_name(level: str | None, *, managed: bool) -> str:
    """--level, defaulting to documented against a --target and reference otherwise."""
    level = level or ("reference" if managed else "documented")
    if level not in ("documented", "reference"):
        raise pytest.UsageError(f"--level must be documented or reference, got {level!r}")
    return level


def level_of(config: pytest.Config) -> str:
    return configured_target(config).level


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


def selection_problem(only: str | None, catalogue: Iterable[str]) -> str | None:
    """Why --only is unusable, or None: a word that selects no requirement would make a
    run that checks nothing look like a clean pass."""
    if only is None:
        return None
    ids = list(catalogue)
    words = [w.strip() for w in only.split(",") if w.strip()]
    if not words:
        return f"--only names no requirement: {only!r}"
    for word in words:
        if not selected_by(word, ids):
            hint = ""
            if not word.endswith("-") and any(rid.startswith(word + "-") for rid in ids):
                hint = f"; a prefix ends in '-': {word}-"
            return (
                f"--only {word!r} selects no requirement (exact ids, or prefixes ending "
                f"in '-', e.g. RL-){hint}"
            )
    return None


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
    # D34's check kills a node, which stays dead: it runs last.
    items.sort(key=lambda i: _is_suite_item(i) and "SRV-CLUSTER-NODE-LOSS" in requirement_ids(i))
    only = option(config, "--only")
    if only:
        keep = [i for i in items if not _is_suite_item(i) or selected_by(only, requirement_ids(i))]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not config.stash.get(active_key, False) and not option(config, "--target"):
        return None
    return header_lines(configured_target(config))


def header_lines(target: Target) -> list[str]:
    if target.urls:
        where = ", ".join(target.urls) + (
            f" ({len(target.urls)} nodes)" if target.several_nodes else ""
        )
    elif target.nodes > 1:
        where = f"the reference server as a cluster of {target.nodes} nodes, started for this run"
    else:
        where = "the reference server, started for this run"
    from_health = any(s == "health" for s in target.declared.sources.values())
    return [
        f"conformance target: {where} namespace {target.namespace} transport "
        f"{target.transport}; level {target.level}; tokens {target.token_source}; "
        f"fault room {target.fault_room or 'none (500 checks skip)'}"
        + ("; strict" if target.strict else ""),
        f"conformance declaration: {target.declared.describe()}"
        + (
            " -- settings marked (health) were taken from the target's own report "
            "(--settings-from-health), so the checks that rest on them judge the server "
            "by its self-description"
            if from_health
            else ""
        ),
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_suite_item(item):
        expect.start_test()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not _is_suite_item(item):
        return report
    config = item.config
    ids = requirement_ids(item)
    for rid in ids:
        report.user_properties.append(("requirement", rid))
    decides = report.when == "call" or (report.when == "setup" and not report.passed)
    if not decides:
        return report
    transcript = item.stash.get(transcript_key, None)
    result = classify(ids, report, call.excinfo, expect.judged(), expect.not_applicable_here())
    result.nodeid = item.nodeid
    result.transcript = transcript.render() if transcript is not None else ""
    config.stash[results_key].append(result)
    _show_in_pytest(report, result, config)
    return report


def classify(
    ids: list[str],
    report: pytest.TestReport,
    excinfo: pytest.ExceptionInfo[BaseException] | None,
    judged: frozenset[str],
    not_applicable: dict[str, str] | None = None,
) -> CaseResult:
    """One test's outcome from what it observed (see the module docstring)."""
    result = CaseResult(nodeid="", requirements=list(ids), outcome=Outcome.PASSED)
    error = excinfo.value if excinfo is not None else None
    result.judged = sorted(judged & set(ids))
    result.not_applicable = {
        rid: why for rid, why in (not_applicable or {}).items() if rid in ids and rid not in judged
    }
    if report.passed:
        silent = [rid for rid in ids if rid not in judged and rid not in result.not_applicable]
        if silent:
            result.outcome = Outcome.ERROR
            result.evidence = (
                "     error:    the check passed without evaluating any expectation for "
                f"{', '.join(silent)}: a suite bug, not a verdict on the server"
            )
        return result
    if isinstance(error, ConformanceFailure):
        result.outcome = Outcome.FAILED
        result.failed_requirements = [error.requirement]
        result.evidence = error.evidence()
    elif isinstance(error, NotApplicable):
        result.outcome = Outcome.NOT_APPLICABLE
        result.skip_reason = str(error)
    elif isinstance(error, Inconclusive):
        result.outcome = Outcome.INCONCLUSIVE
        result.skip_reason = str(error)
    elif report.skipped:
        result.outcome = Outcome.SKIPPED
        result.skip_reason = _skip_reason(report)
    else:
        result.outcome = Outcome.ERROR
        result.evidence = f"     error:    {_suite_error(excinfo)}"
    return result


def _show_in_pytest(report: pytest.TestReport, result: CaseResult, config: pytest.Config) -> None:
    """pytest's own view of the outcome (terminal, JUnit): failures and errors fail, the
    verdicts that are neither pass nor fail show as skips with their reason."""
    catalogue = load_catalogue()
    if result.outcome in (Outcome.NOT_APPLICABLE, Outcome.INCONCLUSIVE):
        label = "n/a" if result.outcome == Outcome.NOT_APPLICABLE else "inconclusive"
        report.outcome = "skipped"
        report.longrepr = (
            report.location[0],
            report.location[1] or 0,
            f"{label}: {result.skip_reason}",
        )
        return
    if result.outcome not in (Outcome.FAILED, Outcome.ERROR):
        return
    report.outcome = "failed"
    if result.outcome == Outcome.ERROR:
        heads = ["ERROR of the conformance suite (not a verdict on the server), in a check of"]
        heads += [catalogue[r].title for r in result.requirements if r in catalogue]
    else:
        heads = ["FAILED " + catalogue[r].title for r in result.failed_requirements]
    report.longrepr = "\n       ".join(heads) + "\n" + result.evidence
    if result.transcript:
        report.sections.append(("wire log", result.transcript))
    reason = _non_gating_reason(config, catalogue, result)
    if reason:
        # Shown by pytest as xfailed; the conformance report still says FAIL/XFAIL.
        report.outcome = "skipped"
        report.wasxfail = reason


def _non_gating_reason(
    config: pytest.Config, catalogue: dict[str, Requirement], result: CaseResult
) -> str | None:
    if result.outcome != Outcome.FAILED:
        return None
    failed = result.failed_requirements
    expectations = config.stash[expectations_key]
    if failed and all(rid in expectations for rid in failed):
        return "expected failure: " + "; ".join(expectations[r] for r in failed)
    if level_of(config) == "documented" and all(catalogue[r].level == "reference" for r in failed):
        return (
            "differs from the reference server (reference level, not gating at --level documented)"
        )
    return None


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _suite_error(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    """The exception and the suite's own line that raised it."""
    if excinfo is None:
        return "unknown error"
    text = f"{type(excinfo.value).__name__}: {excinfo.value}"
    if len(text) > 600:
        text = text[:597] + "..."
    frames = traceback.extract_tb(excinfo.tb)
    ours = [f for f in frames if "conformance" in f.filename.replace("\\", "/")]
    if ours:
        last = ours[-1]
        text += f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


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
    target = configured_target(config)
    terminalreporter.write_sep("=", "conformance report")
    terminalreporter.write_line(
        render_terminal(
            judged, level=target.level, strict=target.strict, header="\n".join(header_lines(target))
        )
    )


def _judge(config: pytest.Config) -> list[RequirementResult]:
    if judged_key not in config.stash:
        target = configured_target(config)
        only = option(config, "--only")
        catalogue = load_catalogue()
        selected = {rid for rid in catalogue if selected_by(only, [rid])} if only else None
        results: list[CaseResult] = config.stash[results_key]
        expectations: dict[str, str] = config.stash[expectations_key]
        config.stash[judged_key] = judge(
            catalogue,
            results,
            level=target.level,
            strict=target.strict,
            expectations=expectations,
            selected=selected,
        )
    return config.stash[judged_key]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.stash.get(active_key, False):
        return
    judged = _judge(config)
    target = configured_target(config)
    meta = {
        "target": ",".join(target.urls) or "reference server (managed)",
        "environment": target.declared.node_env,
        "declaration": target.declared.describe(),
        "transport": target.transport,
        "namespace": target.namespace,
        "strict": target.strict,
    }
    header = "\n\n".join(header_lines(target))
    if option(config, "--report"):
        Path(option(config, "--report")).write_text(
            render_markdown(judged, level=target.level, strict=target.strict, header=header),
            "utf-8",
        )
    if option(config, "--json-report"):
        Path(option(config, "--json-report")).write_text(
            to_json(judged, config.stash[results_key], level=target.level, meta=meta), "utf-8"
        )
    # Exit 0 only when nothing at the chosen level failed unexpectedly, no expectation went
    # stale, the suite had no error, and (strict) nothing was left inconclusive or skipped.
    if summarize(judged).gating:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    # The grep-able last line comes after pytest's own summary line.
    if not config.stash.get(active_key, False) or judged_key not in config.stash:
        return
    if config.getoption("collectonly", False):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = summarize(config.stash[judged_key]).line()
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)
