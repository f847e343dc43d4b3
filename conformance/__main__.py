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

from conformance.plugin import OPTIONS, SUITE_DIR

INI = Path(__file__).parent / "pytest.ini"
ENVIRONMENTS = ("development", "production")


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
        parser.add_argument(flag, default=None, help=help_text)
        del default
    parser.add_argument("--run-slow", action="store_true", help="also run long waits")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    return parser


def forwarded(args: argparse.Namespace, skip: set[str]) -> list[str]:
    out = []
    for flag, *_ in OPTIONS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None and flag not in skip:
            out.append(f"{flag}={value}")
    if args.run_slow:
        out.append("--run-slow")
    return out


def pytest_argv(extra: list[str]) -> list[str]:
    return [str(SUITE_DIR), "-c", str(INI), "--rootdir", str(INI.parent), *extra]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    from conformance.report import CaseResult, judge, render_markdown, render_terminal, to_json

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
        expectations=expectations,
        selected=_selection(args.only),
    )
    header = (
        f"Target: the reference server, NODE_ENV=development and production "
        "(short windows; metrics and heartbeat off in production); "
        f"transport {args.transport or 'websocket'}; level {level}."
    )
    print(render_terminal(judged, level=level, header=header))
    if args.report:
        Path(args.report).write_text(render_markdown(judged, level=level, header=header), "utf-8")
    if args.json_report:
        meta = {"target": "reference server (managed)", "environment": list(ENVIRONMENTS)}
        Path(args.json_report).write_text(to_json(judged, results, level=level, meta=meta))
    print(f"conformance: finished in {time.monotonic() - started:.0f} s")
    failed = crashed or any(r.gating for r in judged)
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
