"""Proving the suite can fail: every mutant of tests/conformance/mutants.py must be reported
as a FAIL (through an expectation, never a suite ERROR) of the requirement it breaks, and
the unbroken reference server must pass everything, strict: no skip, no inconclusive
result, no error.

Each run starts its server with RunningServer on a free port (the managed run's short
settings) and runs the whole shipped suite against it in a subprocess, exactly as a user
would: --target, the matching declaration as flags, --strict. Every mutant runs the whole
suite, so no restriction to sections has to be proved sound, and failures under other
requirements are visible: the kill table lists them as collateral. Verdicts come from the
suite's JSON report. The runs are independent, so they go through a small thread pool,
started for whatever this session selected; each parametrized test waits for its own run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.catalogue import load_catalogue
from conformance.managed import (
    MANAGED_FAULT_ROOM,
    declaration_flags,
    managed_declaration,
    server_environment,
)
from conformance.plugin import selected_by
from reference_server.testing import RunningCluster, RunningServer, ServerStartError
from tests.conformance.conftest import KillLog
from tests.conformance.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance" / "suite"
INI = ROOT / "conformance" / "pytest.ini"
SECRET = "conformance-selftest-secret-0123456789abcdef"
ENVIRONMENTS = ("development", "production")
# Two cores: more concurrent suite runs than this make the timing checks of the suite
# (quiet windows, burst fairness) judge the machine instead of the server.
WORKERS = int(os.environ.get("SELFTEST_WORKERS", "4"))
RUN_TIMEOUT_S = 150
# Installed pytest plugins the suite never uses; each costs start-up time in every run.
UNUSED_PLUGINS = ["-p", "no:locust", "-p", "no:anyio", "-p", "no:timeout"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def chosen_mutants() -> list[str]:
    """SELFTEST_MUTANTS: `all` (the default, and what CI runs), `core` (the quicker set
    without the mutants marked extended), or a comma-separated list of names."""
    choice = os.environ.get("SELFTEST_MUTANTS", "all").strip()
    if choice == "core":
        return [name for name, m in MUTANTS.items() if not m.extended]
    if choice == "all":
        return list(MUTANTS)
    names = [n.strip() for n in choice.split(",") if n.strip()]
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise pytest.UsageError(f"SELFTEST_MUTANTS names unknown mutants: {unknown}")
    return names


@dataclass(frozen=True)
class SuiteRun:
    """One suite run against one server: the verdict per requirement and the evidence."""

    label: str
    returncode: int | None
    verdicts: dict[str, str]  # requirement id -> verdict, for the selected requirements
    details: dict[str, list[str]]
    broken: frozenset[str]  # every id a failing test reported, selected or not
    output: str
    seconds: float

    def failed(self) -> list[str]:
        return [rid for rid, verdict in self.verdicts.items() if verdict == "FAIL"]

    def tail(self, limit: int = 8000) -> str:
        return self.output[-limit:]


def plugin_requirements() -> set[str]:
    """Requirement ids named by suite modules that import schemathesis or hypothesis as
    libraries: selecting one of them needs those pytest plugins, which otherwise only cost
    start-up time (the suite runs schemathesis as a command)."""
    ids: set[str] = set()
    for module in SUITE.glob("test_*.py"):
        text = module.read_text("utf-8")
        if re.search(r"^\s*(?:import|from)\s+(?:schemathesis|hypothesis)\b", text, re.M):
            ids.update(re.findall(r"\"([A-Z]+(?:-[A-Z0-9]+)+)\"", text))
    return ids


def kill_by_pid_command(pids: list[int]) -> str:
    """A --kill-node-cmd that SIGKILLs node {index} of the nodes whose pids are `pids`."""
    return f"kill -9 $(echo {' '.join(map(str, pids))} | cut -d' ' -f$(({{index}}+1)))"


def start(command: list[str], env: dict[str, str], nodes: int) -> Any:
    """One server, or `nodes` of them sharing a Redis server of their own (D33)."""
    if nodes > 1:
        return RunningCluster(nodes, env, command=command)
    return RunningServer(env, command=command)


def run_suite(
    label: str,
    command: list[str],
    environment: str,
    only: tuple[str, ...] | None,
    nodes: int = 1,
) -> SuiteRun:
    """Start `command` as the server (NODE_ENV=environment; a cluster of `nodes`) and run the
    suite against it."""
    started = time.monotonic()
    env = {
        **server_environment(environment),
        "JWT_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="selftest-") as workdir:
        report = Path(workdir) / "report.json"
        try:
            server = start(command, env, nodes)
        except ServerStartError as error:
            return SuiteRun(label, None, {}, {}, frozenset(), f"server did not start: {error}", 0.0)
        with server:
            argv = [
                sys.executable,
                "-m",
                "pytest",
                str(SUITE),
                "-c",
                str(INI),
                "--rootdir",
                str(INI.parent),
                f"--target={','.join(server.urls) if nodes > 1 else server.url}",
                f"--secret={SECRET}",
                *declaration_flags(managed_declaration(environment)),
                f"--fault-room={MANAGED_FAULT_ROOM}",
                "--level=reference",
                "--strict",
                f"--json-report={report}",
                "-p",
                "no:randomly",
                *UNUSED_PLUGINS,
                "-q",
            ]
            if nodes > 1:
                pids = [node.process.pid for node in server.nodes]
                argv.append(f"--kill-node-cmd={kill_by_pid_command(pids)}")
            if only is not None:
                argv.append(f"--only={','.join(only)}")
            needs = plugin_requirements()
            if not (needs and (only is None or set(only) & needs)):
                argv += ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]
            try:
                done = subprocess.run(
                    argv,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=RUN_TIMEOUT_S,
                    check=False,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
                returncode, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as expired:
                returncode = None
                partial = expired.stdout or ""
                if isinstance(partial, bytes):
                    partial = partial.decode(errors="replace")
                output = f"suite timed out after {RUN_TIMEOUT_S} s\n{partial}"
            logs = [n.log() for n in server.nodes] if nodes > 1 else [server.log()]
            output += "".join(f"\n--- server log ---\n{log[-3000:]}" for log in logs)
        verdicts: dict[str, str] = {}
        details: dict[str, list[str]] = {}
        broken: set[str] = set()
        if report.exists():
            data = json.loads(report.read_text("utf-8"))
            for entry in data["requirements"]:
                verdicts[entry["id"]] = entry["verdict"]
                details[entry["id"]] = entry["details"]
            for test in data["tests"]:
                broken.update(test.get("failed_requirements") or ())
    seconds = time.monotonic() - started
    return SuiteRun(label, returncode, verdicts, details, frozenset(broken), output, seconds)


def mutant_command(name: str) -> list[str]:
    return [sys.executable, "-m", "tests.conformance.mutants", name]


def reference_command() -> list[str]:
    return [sys.executable, "-m", "reference_server"]


class Campaign:
    """All the runs this session selected, in a thread pool; longest (whole suite) first."""

    def __init__(self, mutants: list[Mutant], references: list[str]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="selftest")
        self.runs: dict[str, Future[SuiteRun]] = {}
        for reference in references:
            environment, nodes = REFERENCE_RUNS[reference]
            self.runs[reference] = self._pool.submit(
                run_suite, reference, reference_command(), environment, None, nodes
            )
        for m in mutants:
            self.runs[m.name] = self._pool.submit(
                run_suite, m.name, mutant_command(m.name), m.environment, m.only, m.nodes
            )

    def result(self, label: str) -> SuiteRun:
        return self.runs[label].result(timeout=RUN_TIMEOUT_S * len(self.runs))

    def close(self) -> None:
        for future in self.runs.values():
            future.cancel()
        self._pool.shutdown(wait=True)


# The unbroken server's runs: each environment as one node, and a cluster of three nodes
# sharing a Redis server (D33, D34), against which the cluster mutants are judged too.
CLUSTER_NODES = 3
REFERENCE_RUNS: dict[str, tuple[str, int]] = {
    **{f"reference-{e}": (e, 1) for e in ENVIRONMENTS},
    "reference-cluster": ("development", CLUSTER_NODES),
}


def reference_of(m: Mutant) -> str:
    return "reference-cluster" if m.nodes > 1 else f"reference-{m.environment}"


def _selected(session: pytest.Session, test: str) -> list[str]:
    return [
        item.callspec.params["name"]
        for item in session.items
        if getattr(item, "originalname", None) == test and hasattr(item, "callspec")
    ]


@pytest.fixture(scope="module")
def campaign(request: pytest.FixtureRequest, kill_log: KillLog) -> Iterator[Campaign]:
    names = _selected(request.session, "test_mutant_is_reported_under_its_requirement")
    environments = _selected(request.session, "test_the_unbroken_server_passes_everything")
    started = time.monotonic()
    running = Campaign([MUTANTS[n] for n in names], environments)
    try:
        yield running
    finally:
        running.close()
        kill_log.runs = len(running.runs)
        kill_log.seconds = time.monotonic() - started


def test_every_mutant_applies_and_names_catalogue_requirements() -> None:
    catalogue = load_catalogue()
    # --only takes exact ids and prefixes ending in "-": each targeted id must be selected.
    narrowed = {
        m.name
        for m in MUTANTS.values()
        if m.only and not all(selected_by(",".join(m.only), [rid]) for rid in m.requirements)
    }
    assert not narrowed, f"a mutant's selection leaves out the ids it targets: {narrowed}"
    unknown = {m.name: r for m in MUTANTS.values() for r in m.requirements if r not in catalogue}
    assert not unknown, f"mutants name requirements missing from the catalogue: {unknown}"
    assert {m.environment for m in MUTANTS.values()} <= set(ENVIRONMENTS)
    # Built in a child process: the mutations patch modules, never this process's.
    done = subprocess.run(
        mutant_command("--check"), cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", list(REFERENCE_RUNS))
def test_the_unbroken_server_passes_everything(campaign: Campaign, name: str) -> None:
    run = campaign.result(name)
    assert run.verdicts, f"no report from the suite:\n{run.tail()}"
    # Strict: every requirement passed or does not apply to this declaration; no skip,
    # no inconclusive result, no error of the suite, nothing stale.
    other = {rid: v for rid, v in run.verdicts.items() if v not in ("PASS", "N/A")}
    assert not other, (
        f"the unbroken reference server (NODE_ENV={name}) is not judged PASS on {other}:\n"
        + "\n".join(f"{rid}: {' | '.join(run.details.get(rid, []))[:1500]}" for rid in other)
        + f"\n{run.tail()}"
    )
    assert run.returncode == 0, f"suite exit code {run.returncode}:\n{run.tail()}"


def test_every_requirement_passes_in_some_environment(campaign: Campaign) -> None:
    runs = [campaign.result(label) for label in REFERENCE_RUNS]
    if any(not run.verdicts for run in runs):
        pytest.skip("an environment's run has no report (its own test says why)")
    never = [
        rid for rid in load_catalogue() if not any(run.verdicts.get(rid) == "PASS" for run in runs)
    ]
    assert not never, f"judged in no environment (N/A or absent everywhere): {never}"


@pytest.mark.parametrize("name", chosen_mutants())
def test_mutant_is_reported_under_its_requirement(
    campaign: Campaign, name: str, kill_log: KillLog
) -> None:
    m = MUTANTS[name]
    run = campaign.result(name)
    unbroken = reference_of(m)
    if unbroken in campaign.runs:
        # A mutant must run where its rule applies, or it proves nothing.
        verdicts = campaign.result(unbroken).verdicts
        idle = [rid for rid in m.requirements if verdicts.get(rid) == "N/A"]
        assert not idle, (
            f"mutant {name} runs with NODE_ENV={m.environment}, where {idle} do not apply "
            "to the managed declaration: give it the other environment"
        )
    # Killed only by a FAIL, which the suite gives only through an expectation; an ERROR of
    # the suite, a skip or an inconclusive result does not count.
    not_failed = {rid: run.verdicts.get(rid, "absent") for rid in m.requirements}
    not_failed = {rid: verdict for rid, verdict in not_failed.items() if verdict != "FAIL"}
    killed = bool(run.verdicts) and not not_failed
    collateral = sorted(
        f"{rid}={v}"
        for rid, v in run.verdicts.items()
        if rid not in m.requirements and v not in ("PASS", "N/A")
    )
    kill_log.kills[name] = (
        killed,
        (
            f"by {', '.join(sorted(m.requirements))} ({run.seconds:.0f} s)"
            if killed
            else ", ".join(f"{rid}={v}" for rid, v in not_failed.items())
        )
        + (f"; also {', '.join(collateral)}" if collateral else ""),
    )
    assert killed, (
        f"mutant {name} ({m.breaks}) survived: expected FAIL for {list(m.requirements)}, "
        f"got {not_failed}"
        + (f"; the suite reported {collateral} instead" if collateral else "")
        + f"\n--- suite output ---\n{run.tail()}"
    )
    if m.documented_clean:
        # It follows the API document and breaks a reference decision only: at --level
        # documented it must pass, so no documented requirement may FAIL.
        catalogue = load_catalogue()
        failed = {rid for rid, v in run.verdicts.items() if v == "FAIL"} | set(run.broken)
        documented = sorted(r for r in failed if catalogue[r].level == "documented")
        assert not documented, (
            f"mutant {name} ({m.breaks}) follows the document, yet documented requirements "
            f"failed: {documented}\n"
            + "\n".join(f"{r}: {' | '.join(run.details.get(r, []))[:1500]}" for r in documented)
        )
