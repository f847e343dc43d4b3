"""Verdicts per requirement from test results (conformance/report.py), as tables."""

from __future__ import annotations

import json

import pytest

from conformance.catalogue import Requirement
from conformance.report import (
    CaseResult,
    Verdict,
    judge,
    render_markdown,
    render_terminal,
    summarize,
    to_json,
)

DOC = Requirement("DOC-A", "documented", "Section One", "a documented sentence", ("D1",))
REF = Requirement("REF-B", "reference", "Section Two", "a reference sentence", ("D2",))
CATALOGUE = {DOC.id: DOC, REF.id: REF}


def passed(*ids: str) -> CaseResult:
    return CaseResult(nodeid=f"t::{'_'.join(ids)}", requirements=list(ids), outcome="passed")


def failed(ids: list[str], broke: list[str]) -> CaseResult:
    return CaseResult(
        nodeid="t::f",
        requirements=ids,
        outcome="failed",
        failed_requirements=broke,
        evidence="     expected: x\n     actual:   y",
    )


def skipped(*ids: str, reason: str = "needs --fault-room", run: str = "") -> CaseResult:
    return CaseResult(
        nodeid="t::s", requirements=list(ids), outcome="skipped", skip_reason=reason, run=run
    )


def outcome(kind: str, *ids: str, run: str = "") -> CaseResult:
    return CaseResult(
        nodeid=f"t::{kind}", requirements=list(ids), outcome=kind, skip_reason="why", run=run
    )


def in_run(result: CaseResult, run: str) -> CaseResult:
    result.run = run
    return result


@pytest.mark.parametrize(
    ("results", "expectations", "level", "doc", "ref", "gating"),
    [
        # both pass
        ([passed("DOC-A", "REF-B")], {}, "reference", Verdict.PASS, Verdict.PASS, 0),
        # a reference failure gates only at --level reference
        (
            [passed("DOC-A"), failed(["REF-B"], ["REF-B"])],
            {},
            "reference",
            Verdict.PASS,
            Verdict.FAIL,
            1,
        ),
        (
            [passed("DOC-A"), failed(["REF-B"], ["REF-B"])],
            {},
            "documented",
            Verdict.PASS,
            Verdict.FAIL,
            0,
        ),
        # a documented failure gates at both levels
        (
            [failed(["DOC-A"], ["DOC-A"]), passed("REF-B")],
            {},
            "documented",
            Verdict.FAIL,
            Verdict.PASS,
            1,
        ),
        # a failure counts against the requirement that broke, not the others named
        (
            [failed(["DOC-A", "REF-B"], ["REF-B"]), passed("DOC-A")],
            {},
            "reference",
            Verdict.PASS,
            Verdict.FAIL,
            1,
        ),
        # ... even when the test did not name it (a broken precondition); the requirement
        # the test was about is then not judged, which is said as a skip
        ([failed(["REF-B"], ["DOC-A"])], {}, "documented", Verdict.FAIL, Verdict.SKIP, 1),
        # a pass and a failure of one requirement: the failure stands
        (
            [passed("DOC-A"), failed(["DOC-A"], ["DOC-A"])],
            {},
            "documented",
            Verdict.FAIL,
            Verdict.NOT_RUN,
            1,
        ),
        # expected failures do not gate; an expected failure that passes is stale and does
        (
            [failed(["DOC-A"], ["DOC-A"])],
            {"DOC-A": "known"},
            "documented",
            Verdict.XFAIL,
            Verdict.NOT_RUN,
            0,
        ),
        ([passed("DOC-A")], {"DOC-A": "known"}, "documented", Verdict.STALE, Verdict.NOT_RUN, 1),
        # skipped everywhere
        ([skipped("DOC-A")], {}, "documented", Verdict.SKIP, Verdict.NOT_RUN, 0),
        # skipped in one environment, passed in the other: not passed everywhere it applies
        (
            [skipped("DOC-A", run="production"), in_run(passed("DOC-A"), "development")],
            {},
            "documented",
            Verdict.SKIP,
            Verdict.NOT_RUN,
            0,
        ),
        # not applicable in one environment, passed in the other: passed
        (
            [outcome("not_applicable", "DOC-A", run="p"), in_run(passed("DOC-A"), "d")],
            {},
            "documented",
            Verdict.PASS,
            Verdict.NOT_RUN,
            0,
        ),
        # not applicable everywhere: N/A, which does not gate
        (
            [outcome("not_applicable", "DOC-A")],
            {},
            "reference",
            Verdict.NOT_APPLICABLE,
            Verdict.NOT_RUN,
            0,
        ),
        # an error of the suite is its own verdict, and always fails the run
        (
            [outcome("error", "REF-B"), passed("DOC-A")],
            {},
            "documented",
            Verdict.PASS,
            Verdict.ERROR,
            1,
        ),
        # inconclusive is its own verdict, never a pass, even beside one
        (
            [outcome("inconclusive", "DOC-A"), passed("DOC-A")],
            {},
            "documented",
            Verdict.INCONCLUSIVE,
            Verdict.NOT_RUN,
            0,
        ),
    ],
)
def test_verdicts_follow_results_level_and_expectations(
    results: list[CaseResult],
    expectations: dict[str, str],
    level: str,
    doc: Verdict,
    ref: Verdict,
    gating: int,
) -> None:
    judged = {
        r.requirement.id: r
        for r in judge(CATALOGUE, results, level=level, expectations=expectations)
    }
    assert (judged["DOC-A"].verdict, judged["REF-B"].verdict) == (doc, ref)
    assert summarize(list(judged.values())).gating == gating


@pytest.mark.parametrize("kind", ["skipped", "inconclusive"])
def test_strict_makes_skips_and_inconclusive_results_fail_the_run(kind: str) -> None:
    results = [outcome(kind, "DOC-A"), passed("REF-B")]
    lenient = judge(CATALOGUE, results, level="reference", expectations={})
    strict = judge(CATALOGUE, results, level="reference", expectations={}, strict=True)
    assert summarize(lenient).gating == 0
    assert summarize(strict).gating == 1


def test_a_requirement_a_passing_test_found_not_applicable_is_not_passed() -> None:
    result = passed("DOC-A", "REF-B")
    result.not_applicable = {"REF-B": "metrics declared off"}
    judged = {
        r.requirement.id: r for r in judge(CATALOGUE, [result], level="reference", expectations={})
    }
    assert judged["DOC-A"].verdict == Verdict.PASS
    assert judged["REF-B"].verdict == Verdict.NOT_APPLICABLE


def test_the_verdict_of_each_environment_is_shown() -> None:
    results = [
        in_run(passed("DOC-A"), "development"),
        outcome("not_applicable", "DOC-A", run="production"),
    ]
    (doc, _) = judge(CATALOGUE, results, level="reference", expectations={})
    assert doc.by_run == {"development": "PASS", "production": "N/A"}
    assert "development PASS, production N/A" in render_terminal([doc], level="reference")


def test_the_last_line_is_the_grep_able_summary() -> None:
    judged = judge(
        CATALOGUE,
        [passed("DOC-A"), failed(["REF-B"], ["REF-B"])],
        level="documented",
        expectations={},
    )
    terminal = render_terminal(judged, level="documented")
    assert terminal.splitlines()[-1] == "conformance: 1 passed, 1 failed, 0 skipped"
    assert "(not gating)" in terminal and "a reference sentence" in terminal
    markdown = render_markdown(judged, level="documented", header="h")
    assert markdown.rstrip().splitlines()[-1] == "conformance: 1 passed, 1 failed, 0 skipped"
    assert (
        "## Section One" in markdown and "| `REF-B` | reference | FAIL (not gating) |" in markdown
    )


def test_the_json_report_carries_verdicts_and_raw_results() -> None:
    results = [passed("DOC-A"), skipped("REF-B")]
    judged = judge(CATALOGUE, results, level="reference", expectations={})
    data = json.loads(to_json(judged, results, level="reference", meta={"target": "x"}))
    assert [r["verdict"] for r in data["requirements"]] == ["PASS", "SKIP"]
    assert data["summary"]["passed"] == 1 and len(data["tests"]) == 2


def test_selected_requirements_limit_the_verdicts() -> None:
    judged = judge(
        CATALOGUE, [passed("DOC-A")], level="reference", expectations={}, selected={"DOC-A"}
    )
    assert [r.requirement.id for r in judged] == ["DOC-A"]
