"""From test results to per-requirement verdicts, and the Markdown, JSON and terminal
reports built from them (grouped by section of the API document, catalogue order)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from conformance.catalogue import Requirement


class Verdict(StrEnum):
    PASS = "PASS"  # an expectation that could fail was evaluated, everywhere it applies
    FAIL = "FAIL"
    ERROR = "ERROR"  # the suite's own code failed: no verdict on the server
    INCONCLUSIVE = "INCONCLUSIVE"  # could not be judged fairly (too slow a burst, ...)
    SKIP = "SKIP"  # applies, but was not judged (no --fault-room, not --run-slow, ...)
    NOT_APPLICABLE = "N/A"  # does not apply to the declared configuration
    XFAIL = "XFAIL"  # failed, and listed in the expectations file
    STALE = "STALE"  # listed as an expected failure, but passed: the expectation is stale
    NOT_RUN = "NOT RUN"  # no selected test checks it


class Outcome(StrEnum):
    """One test's outcome, as the plugin classifies it."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


@dataclass
class CaseResult:
    """One test's outcome, as the plugin records it."""

    nodeid: str
    requirements: list[str]
    outcome: str  # an Outcome
    failed_requirements: list[str] = field(default_factory=list)
    judged: list[str] = field(default_factory=list)  # ids an expectation evaluated
    not_applicable: dict[str, str] = field(default_factory=dict)  # id -> why, in a pass
    evidence: str = ""
    skip_reason: str = ""
    transcript: str = ""
    run: str = ""  # which run (environment) produced it


@dataclass
class RequirementResult:
    requirement: Requirement
    verdict: Verdict
    gating: bool  # makes the run fail at the chosen level (and strictness)
    details: list[str] = field(default_factory=list)  # evidence or reasons
    tests: list[str] = field(default_factory=list)
    by_run: dict[str, str] = field(default_factory=dict)  # run -> its verdict, when several


# When tests (or runs) disagree about one requirement, the first of these that occurs
# decides: a requirement passes only when it passed wherever it applies.
_PRECEDENCE = [
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.INCONCLUSIVE,
    Verdict.SKIP,
    Verdict.PASS,
    Verdict.NOT_APPLICABLE,
]


def _case_verdict(rid: str, case: CaseResult) -> tuple[Verdict, str]:
    """What one test says about one of the requirements it touches, with the detail."""
    where = _prefixed(case, inline=True)
    if case.outcome == Outcome.FAILED:
        if rid in case.failed_requirements:
            return Verdict.FAIL, _prefixed(case) + case.evidence
        if rid in case.judged:
            return Verdict.PASS, ""  # it held before the check stopped at another failure
        # It stopped at another requirement's failure before judging this one: a gap only
        # when no other check judged it (that failure fails the run anyway).
        return Verdict.NOT_RUN, (
            where + f"not judged: the check stopped when {', '.join(case.failed_requirements)} "
            "failed"
        )
    if case.outcome == Outcome.ERROR:
        return Verdict.ERROR, _prefixed(case) + case.evidence
    if case.outcome == Outcome.INCONCLUSIVE:
        return Verdict.INCONCLUSIVE, where + "inconclusive: " + case.skip_reason
    if case.outcome == Outcome.SKIPPED:
        return Verdict.SKIP, where + case.skip_reason
    if case.outcome == Outcome.NOT_APPLICABLE:
        return Verdict.NOT_APPLICABLE, where + "n/a: " + case.skip_reason
    if rid in case.not_applicable:
        return Verdict.NOT_APPLICABLE, where + "n/a: " + case.not_applicable[rid]
    return Verdict.PASS, ""


def _combine(verdicts: Iterable[Verdict]) -> Verdict:
    present = set(verdicts)
    for verdict in _PRECEDENCE:
        if verdict in present:
            return verdict
    # Only checks that stopped before judging it: not judged, said as a skip.
    return Verdict.SKIP if Verdict.NOT_RUN in present else Verdict.NOT_RUN


def judge(
    catalogue: Mapping[str, Requirement],
    results: Iterable[CaseResult],
    *,
    level: str,
    expectations: Mapping[str, str],
    strict: bool = False,
    selected: set[str] | None = None,
) -> list[RequirementResult]:
    """One verdict per requirement (catalogue order) from every test, in every run, that
    names it, or that failed under it (a broken precondition counts against the
    requirement that broke, even when the test names another one)."""
    by_requirement: dict[str, list[CaseResult]] = {rid: [] for rid in catalogue}
    for result in results:
        for rid in dict.fromkeys([*result.requirements, *result.failed_requirements]):
            by_requirement.setdefault(rid, []).append(result)
    judged = []
    for rid, requirement in catalogue.items():
        cases = by_requirement[rid]
        # A requirement outside --only is still reported when a selected check broke it.
        broke = any(rid in c.failed_requirements for c in cases)
        if selected is not None and rid not in selected and not broke:
            continue
        seen = [(case, *_case_verdict(rid, case)) for case in cases]
        verdict = _combine(v for _, v, _ in seen)
        runs = sorted({case.run for case in cases if case.run})
        by_run = (
            {run: _combine(v for c, v, _ in seen if c.run == run).value for run in runs}
            if len(runs) > 1
            else {}
        )
        details = sorted({d for _, v, d in seen if d and (v == verdict or verdict == Verdict.SKIP)})
        if verdict == Verdict.FAIL and rid in expectations:
            verdict = Verdict.XFAIL
            details.insert(0, f"expected to fail: {expectations[rid]}")
        elif verdict == Verdict.PASS and rid in expectations:
            verdict = Verdict.STALE
            details = [f"listed as an expected failure ({expectations[rid]}) but passed"]
        gating = (
            verdict in (Verdict.STALE, Verdict.ERROR)
            or (
                verdict == Verdict.FAIL
                and (level == "reference" or requirement.level == "documented")
            )
            or (strict and verdict in (Verdict.INCONCLUSIVE, Verdict.SKIP))
        )
        judged.append(
            RequirementResult(
                requirement, verdict, gating, details, [c.nodeid for c in cases], by_run
            )
        )
    return judged


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    skipped: int
    errors: int
    inconclusive: int
    not_applicable: int
    expected: int
    stale: int
    gating: int  # requirements that make the run fail

    def line(self, label: str = "conformance") -> str:
        """The grep-able last line: `conformance: N passed, M failed, K skipped`, then the
        other verdicts that occurred."""
        line = f"{label}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        extra = [
            (self.inconclusive, "inconclusive"),
            (self.errors, "suite errors"),
            (self.expected, "xfail"),
            (self.not_applicable, "not applicable"),
        ]
        return line + "".join(f", {count} {name}" for count, name in extra if count)

    def detail(self, level: str, strict: bool = False) -> str:
        extra = []
        if self.expected:
            extra.append(f"{self.expected} expected failures (XFAIL)")
        if self.stale:
            extra.append(f"{self.stale} stale expectations")
        if self.errors:
            extra.append(f"{self.errors} requirements hit an ERROR of the suite itself")
        if strict and (self.inconclusive or self.skipped):
            extra.append("strict: inconclusive results and skips fail the run")
        return (
            f"level={level}"
            + (", strict" if strict else "")
            + ("; " + "; ".join(extra) if extra else "")
        )


def summarize(results: list[RequirementResult]) -> Summary:
    count = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
    return Summary(
        passed=count[Verdict.PASS],
        failed=count[Verdict.FAIL] + count[Verdict.STALE],
        skipped=count[Verdict.SKIP],
        errors=count[Verdict.ERROR],
        inconclusive=count[Verdict.INCONCLUSIVE],
        not_applicable=count[Verdict.NOT_APPLICABLE],
        expected=count[Verdict.XFAIL],
        stale=count[Verdict.STALE],
        gating=sum(1 for r in results if r.gating),
    )


def by_section(results: list[RequirementResult]) -> dict[str, list[RequirementResult]]:
    sections: dict[str, list[RequirementResult]] = {}
    for result in results:
        sections.setdefault(result.requirement.section, []).append(result)
    return sections


def _mark(item: RequirementResult) -> str:
    mark = item.verdict.value
    if item.verdict == Verdict.FAIL and not item.gating:
        mark += " (not gating)"
    if item.by_run:
        mark += " [" + ", ".join(f"{run} {v}" for run, v in item.by_run.items()) + "]"
    return mark


_EXPLAINED = (Verdict.FAIL, Verdict.STALE, Verdict.XFAIL, Verdict.ERROR)


def render_terminal(
    results: list[RequirementResult], *, level: str, strict: bool = False, header: str = ""
) -> str:
    lines = [header] if header else []
    for section, items in by_section(results).items():
        lines.append(f"\n{section}")
        for item in items:
            if item.verdict == Verdict.NOT_RUN:
                continue
            lines.append(
                f"  {item.verdict.value:<13} {item.requirement.id} [{item.requirement.level}]"
            )
            if item.by_run or (item.verdict == Verdict.FAIL and not item.gating):
                lines[-1] += "  " + _mark(item).removeprefix(item.verdict.value).strip()
            if item.verdict in _EXPLAINED:
                lines.append(f"      -> {item.requirement.quote!r}")
                lines.extend("      " + d.replace("\n", "\n      ") for d in item.details[:3])
            elif item.details and item.verdict != Verdict.PASS:
                lines.append(f"      {item.details[0]}")
    summary = summarize(results)
    lines += ["", summary.detail(level, strict), summary.line()]
    return "\n".join(lines)


def render_markdown(
    results: list[RequirementResult], *, level: str, header: str, strict: bool = False
) -> str:
    summary = summarize(results)
    out = [
        "# Chat Rooms WebSocket API: conformance report",
        "",
        header,
        "",
        f"**{summary.line()}** ({summary.detail(level, strict)})",
        "",
    ]
    for section, items in by_section(results).items():
        out += [
            f"## {section}",
            "",
            "| Requirement | Level | Verdict | Sentence |",
            "|---|---|---|---|",
        ]
        for item in items:
            quote = item.requirement.quote.replace("|", "\\|").replace("\n", " ")
            out.append(
                f"| `{item.requirement.id}` | {item.requirement.level} | {_mark(item)} | {quote} |"
            )
        notes = [i for i in items if i.details and i.verdict != Verdict.PASS]
        for item in notes:
            out += ["", f"**{item.requirement.id}** ({item.verdict.value})", "", "```"]
            out += [d for d in item.details[:5]]
            out.append("```")
        out.append("")
    out.append(summary.line())
    return "\n".join(out) + "\n"


def to_json(
    results: list[RequirementResult],
    tests: list[CaseResult],
    *,
    level: str,
    meta: Mapping[str, Any],
) -> str:
    """The machine report: verdicts per requirement, plus every test's raw result (so runs
    of several environments can be judged together)."""
    summary = summarize(results)
    return json.dumps(
        {
            "meta": dict(meta),
            "level": level,
            "summary": asdict(summary),
            "tests": [asdict(t) for t in tests],
            "requirements": [
                {
                    **asdict(r.requirement),
                    "verdict": r.verdict.value,
                    "gating": r.gating,
                    "details": r.details,
                    "tests": r.tests,
                    "by_run": r.by_run,
                }
                for r in results
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def _prefixed(result: CaseResult, *, inline: bool = False) -> str:
    where = f"[{result.run}] " if result.run else ""
    return f"{where}{result.nodeid.split('::')[-1]}:" + (" " if inline else "\n")
