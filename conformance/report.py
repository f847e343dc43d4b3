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
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    XFAIL = "XFAIL"  # failed, and listed in the expectations file
    STALE = "STALE"  # listed as an expected failure, but passed: the expectation is stale
    NOT_RUN = "NOT RUN"  # no selected test checks it


@dataclass
class CaseResult:
    """One test's outcome, as the plugin records it."""

    nodeid: str
    requirements: list[str]
    outcome: str  # passed | failed | skipped
    failed_requirements: list[str] = field(default_factory=list)
    evidence: str = ""
    skip_reason: str = ""
    transcript: str = ""
    run: str = ""  # which run (environment) produced it


@dataclass
class RequirementResult:
    requirement: Requirement
    verdict: Verdict
    gating: bool  # a FAIL or STALE that makes the run fail at the chosen level
    details: list[str] = field(default_factory=list)  # evidence or skip reasons
    tests: list[str] = field(default_factory=list)


def judge(
    catalogue: Mapping[str, Requirement],
    results: Iterable[CaseResult],
    *,
    level: str,
    expectations: Mapping[str, str],
    selected: set[str] | None = None,
) -> list[RequirementResult]:
    """One verdict per requirement (catalogue order) from every test that names it."""
    by_requirement: dict[str, list[CaseResult]] = {rid: [] for rid in catalogue}
    for result in results:
        # A precondition that broke (e.g. a join inside a message check) counts against
        # the requirement that broke, even when the test names another one.
        for rid in dict.fromkeys([*result.requirements, *result.failed_requirements]):
            by_requirement.setdefault(rid, []).append(result)
    judged = []
    for rid, requirement in catalogue.items():
        if selected is not None and rid not in selected:
            continue
        tests = by_requirement[rid]
        failed = [t for t in tests if t.outcome == "failed" and rid in t.failed_requirements]
        passed = [t for t in tests if t.outcome == "passed"]
        skipped = [t for t in tests if t.outcome == "skipped"]
        # A test that stopped at another requirement's failure did not judge this one.
        stopped = [t for t in tests if t.outcome == "failed" and rid not in t.failed_requirements]
        details: list[str] = []
        if failed:
            verdict = Verdict.XFAIL if rid in expectations else Verdict.FAIL
            details = [_prefixed(t) + t.evidence for t in failed]
            if rid in expectations:
                details.insert(0, f"expected to fail: {expectations[rid]}")
        elif passed:
            verdict = Verdict.STALE if rid in expectations else Verdict.PASS
            if rid in expectations:
                details = [f"listed as an expected failure ({expectations[rid]}) but passed"]
        elif skipped or stopped:
            verdict = Verdict.SKIP
            details = sorted({_prefixed(t, inline=True) + t.skip_reason for t in skipped})
            details += sorted(
                {
                    _prefixed(t, inline=True)
                    + f"not judged: the check stopped when {', '.join(t.failed_requirements)} "
                    "failed"
                    for t in stopped
                }
            )
        else:
            verdict = Verdict.NOT_RUN
        gating = verdict == Verdict.STALE or (
            verdict == Verdict.FAIL and (level == "reference" or requirement.level == "documented")
        )
        judged.append(
            RequirementResult(requirement, verdict, gating, details, [t.nodeid for t in tests])
        )
    return judged


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    skipped: int
    expected: int
    stale: int
    gating_failures: int

    def line(self, label: str = "conformance") -> str:
        """The grep-able last line: `conformance: N passed, M failed, K skipped`."""
        return f"{label}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    def detail(self, level: str) -> str:
        extra = []
        if self.expected:
            extra.append(f"{self.expected} expected failures (XFAIL)")
        if self.stale:
            extra.append(f"{self.stale} stale expectations")
        non_gating = self.failed - (self.gating_failures - self.stale)
        if non_gating:
            extra.append(f"{non_gating} failures below --level {level} do not fail the run")
        return f"level={level}" + ("; " + "; ".join(extra) if extra else "")


def summarize(results: list[RequirementResult]) -> Summary:
    count = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
    return Summary(
        passed=count[Verdict.PASS],
        failed=count[Verdict.FAIL] + count[Verdict.STALE],
        skipped=count[Verdict.SKIP],
        expected=count[Verdict.XFAIL],
        stale=count[Verdict.STALE],
        gating_failures=sum(1 for r in results if r.gating),
    )


def by_section(results: list[RequirementResult]) -> dict[str, list[RequirementResult]]:
    sections: dict[str, list[RequirementResult]] = {}
    for result in results:
        sections.setdefault(result.requirement.section, []).append(result)
    return sections


def render_terminal(results: list[RequirementResult], *, level: str, header: str = "") -> str:
    lines = [header] if header else []
    for section, items in by_section(results).items():
        lines.append(f"\n{section}")
        for item in items:
            if item.verdict == Verdict.NOT_RUN:
                continue
            mark = item.verdict.value + (
                "" if item.gating or item.verdict != Verdict.FAIL else " (not gating)"
            )
            lines.append(f"  {mark:<20} {item.requirement.id} [{item.requirement.level}]")
            if item.verdict in (Verdict.FAIL, Verdict.STALE, Verdict.XFAIL):
                lines.append(f"      -> {item.requirement.quote!r}")
                lines.extend("      " + d.replace("\n", "\n      ") for d in item.details[:3])
            elif item.verdict == Verdict.SKIP and item.details:
                lines.append(f"      skipped: {item.details[0]}")
    summary = summarize(results)
    lines += ["", summary.detail(level), summary.line()]
    return "\n".join(lines)


def render_markdown(results: list[RequirementResult], *, level: str, header: str) -> str:
    summary = summarize(results)
    out = [
        "# Chat Rooms WebSocket API: conformance report",
        "",
        header,
        "",
        f"**{summary.line()}** ({summary.detail(level)})",
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
            verdict = item.verdict.value
            if item.verdict == Verdict.FAIL and not item.gating:
                verdict += " (not gating)"
            quote = item.requirement.quote.replace("|", "\\|").replace("\n", " ")
            out.append(
                f"| `{item.requirement.id}` | {item.requirement.level} | {verdict} | {quote} |"
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
