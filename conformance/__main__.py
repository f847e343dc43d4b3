"""`python -m conformance` / `chatrooms-conformance`.

Without --target: start the reference server twice (NODE_ENV=development and production,
short windows), run the whole suite against both at once, print one report. With
--target: run the suite against that server, in this process. Arguments after `--` go
to pytest unchanged (e.g. `-- --junitxml=conformance.xml -x`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.managed import ENVIRONMENTS, managed_declaration
from conformance.plugin import OPTIONS, STRICT_HELP, SUITE_DIR, SWITCHES
from conformance.target import SETTING_FLAGS

INI = Path(__file__).parent / "pytest.ini"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatrooms-conformance",
        description=(
            "Check a Chat Rooms WebSocket API server against the API document, requirement "
            "by requirement. With no --target it tests the reference server in both "
            "environments."
        ),
        epilog=(
            "examples:\n"
            "  chatrooms-conformance\n"
            "  chatrooms-conformance --target http://localhost:3001 --secret S --env development\n"
            "  chatrooms-conformance --target http://localhost:3001 "
            "--token-cmd 'node mint.js {user_id} {username}'\n"
            "  chatrooms-conformance --target URL --secret S --expectations known.yaml "
            "--report report.md -- --junitxml=conformance.xml\n"
            "every option also reads a CONFORMANCE_* environment variable (see pytest --help)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, _env, default, help_text in OPTIONS:
        action = "append" if flag == "--target" else "store"
        parser.add_argument(flag, action=action, default=None, help=help_text)
        del default
    for flag, _env, help_text in SWITCHES:
        parser.add_argument(flag, action="store_true", help=help_text)
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    return parser


def forwarded(args: argparse.Namespace, skip: set[str]) -> list[str]:
    out = []
    for flag, *_ in OPTIONS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if isinstance(value, list):
            value = ",".join(value)
        if value is not None and flag not in skip:
            out.append(f"{flag}={value}")
    for flag, *_ in [*SWITCHES, ("--strict",)]:
        if getattr(args, flag.lstrip("-").replace("-", "_")):
            out.append(flag)
    return out


def pytest_argv(extra: list[str]) -> list[str]:
    return [str(SUITE_DIR), "-c", str(INI), "--rootdir", str(INI.parent), *extra]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.target:
        described = [
            flag
            for name, flag in SETTING_FLAGS.items()
            if name != "node_env" and getattr(args, flag.lstrip("-").replace("-", "_"))
        ]
        if args.settings_from_health:
            described.append("--settings-from-health")
        if described:
            parser.error(
                f"{', '.join(described)} describes a --target; without one the suite starts "
                "the reference server and declares its settings"
            )
    from conformance.catalogue import load_catalogue
    from conformance.plugin import selection_problem

    problem = selection_problem(args.only, load_catalogue())
    if problem:
        parser.error(problem)
    if args.target:
        import pytest

        return int(pytest.main(pytest_argv([*forwarded(args, set()), *args.pytest_args])))
    if args.env:
        print(
            "conformance: --env applies to --target runs; both environments are tested "
            "when the suite starts the reference server",
            file=sys.stderr,
        )
    return run_both_environments(args)


def run_both_environments(args: argparse.Namespace) -> int:
    """Both environments in parallel, each against its own reference server; one verdict
    per requirement over both runs."""
    from conformance.catalogue import load_catalogue
    from conformance.plugin import level_of_name, read_expectations
    from conformance.report import (
        CaseResult,
        judge,
        render_markdown,
        render_terminal,
        summarize,
        to_json,
    )

    workdir = Path(tempfile.mkdtemp(prefix="conformance-"))
    common = forwarded(args, {"--report", "--json-report", "--env"})
    runs = {}
    started = time.monotonic()
    for environment in ENVIRONMENTS:
        out = workdir / f"{environment}.out"
        report = workdir / f"{environment}.json"
        argv = [
            sys.executable,
            "-m",
            "pytest",
            *pytest_argv(
                [
                    *common,
                    f"--env={environment}",
                    f"--json-report={report}",
                    "-q",
                    *args.pytest_args,
                ]
            ),
        ]
        progress = out.with_suffix(".progress")
        with out.open("wb") as sink:
            process = subprocess.Popen(
                argv,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "CONFORMANCE_PROGRESS_FILE": str(progress)},
            )
        runs[environment] = (process, out, report)
    print(
        f"conformance: testing the reference server with NODE_ENV="
        f"{' and '.join(ENVIRONMENTS)} in parallel",
        flush=True,
    )
    _wait_with_progress(runs, started)

    results: list[CaseResult] = []
    crashed = []
    for environment, (process, out, report) in runs.items():
        if not report.exists():
            crashed.append(environment)
            print(
                f"\n--- the {environment} run ended with exit code {process.returncode} "
                f"and no report; its output:\n{out.read_text(errors='replace')[-6000:]}"
            )
            continue
        for raw in json.loads(report.read_text("utf-8"))["tests"]:
            results.append(CaseResult(**{**raw, "run": environment}))
        _print_failures(environment, out)
    level = level_of_name(args.level, managed=True)
    expectations = read_expectations(args.expectations)
    judged = judge(
        load_catalogue(),
        results,
        level=level,
        strict=True,
        expectations=expectations,
        selected=_selection(args.only),
    )
    header = "\n".join(
        [
            f"Target: the reference server, started for this run in each environment; "
            f"transport {args.transport or 'websocket'}; level {level}; strict.",
            *(
                f"Declared for {environment}: {managed_declaration(environment).describe()}"
                for environment in ENVIRONMENTS
            ),
            "A requirement passes only when it passed in every environment where it applies.",
        ]
    )
    print(render_terminal(judged, level=level, strict=True, header=header).rsplit("\n", 1)[0])
    if args.report:
        Path(args.report).write_text(
            render_markdown(judged, level=level, strict=True, header=header), "utf-8"
        )
    if args.json_report:
        meta = {"target": "reference server (managed)", "environment": list(ENVIRONMENTS)}
        Path(args.json_report).write_text(to_json(judged, results, level=level, meta=meta))
    summary = summarize(judged)
    failed = crashed or summary.gating
    print(f"conformance: finished in {time.monotonic() - started:.0f} s")
    if crashed:
        print(f"conformance: the {' and '.join(crashed)} run ended without a report")
    print(summary.line())
    return 1 if failed else 0


def _wait_with_progress(
    runs: dict[str, tuple[subprocess.Popen[bytes], Path, Path]], started: float
) -> None:
    last = 0.0
    while any(p.poll() is None for p, _, _ in runs.values()):
        time.sleep(0.5)
        if time.monotonic() - last >= 10:
            last = time.monotonic()
            states = []
            for environment, (process, out, _) in runs.items():
                progress = out.with_suffix(".progress")
                counted = progress.read_text() if progress.exists() else "starting"
                done = "done" if process.poll() is not None else f"{counted} checks"
                states.append(f"{environment} {done}")
            print(
                f"conformance: {int(time.monotonic() - started)} s: {', '.join(states)}", flush=True
            )


def _print_failures(environment: str, out: Path) -> None:
    text = out.read_text(errors="replace")
    start = text.find("= FAILURES =")
    if start != -1:
        end = text.find("= conformance report =", start)
        section = text[start : end if end != -1 else None]
        print(f"\n--- failures in the {environment} run ---\n{section[-12000:]}")


def _selection(only: str | None) -> set[str] | None:
    if not only:
        return None
    from conformance.catalogue import load_catalogue
    from conformance.plugin import selected_by

    return {rid for rid in load_catalogue() if selected_by(only, [rid])}


if __name__ == "__main__":
    sys.exit(main())
