"""The meta-test: every requirement of the catalogue is checked by at least one suite
test, and every suite test names only requirements that exist (issue: both directions)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import conformance.suite
from conformance.catalogue import load_catalogue


def suite_tests() -> Iterator[tuple[str, Any]]:
    for module_info in pkgutil.iter_modules(conformance.suite.__path__):
        if not module_info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"conformance.suite.{module_info.name}")
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj):
                yield f"{module_info.name}::{name}", obj


def requirement_ids(test: Any) -> list[str]:
    """The ids on the test itself and on each of its parametrized cases."""
    ids = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "requirement":
            ids += [str(rid) for rid in mark.args]
        if mark.name == "parametrize":
            for param in mark.args[1]:
                for case_mark in getattr(param, "marks", ()):
                    if case_mark.name == "requirement":
                        ids += [str(rid) for rid in case_mark.args]
    return ids


def cases_without_requirements(test: Any) -> bool:
    """A parametrized test with no test-level ids needs one axis whose every case names
    its ids."""
    marks = getattr(test, "pytestmark", [])
    if any(m.name == "requirement" and m.args for m in marks):
        return False
    return not any(
        all(any(cm.name == "requirement" for cm in getattr(p, "marks", ())) for p in m.args[1])
        for m in marks
        if m.name == "parametrize"
    )


def test_every_suite_test_names_known_requirements() -> None:
    catalogue = load_catalogue()
    unnamed = [
        name
        for name, test in suite_tests()
        if not requirement_ids(test) or cases_without_requirements(test)
    ]
    unknown = {
        name: [rid for rid in requirement_ids(test) if rid not in catalogue]
        for name, test in suite_tests()
    }
    assert unnamed == [], f"suite tests without @requirement: {unnamed}"
    assert {k: v for k, v in unknown.items() if v} == {}


def test_every_requirement_is_checked_by_at_least_one_test() -> None:
    covered = {rid for _, test in suite_tests() for rid in requirement_ids(test)}
    missing = [rid for rid in load_catalogue() if rid not in covered]
    assert missing == [], f"requirements no suite test checks: {missing}"


def test_the_catalogue_has_unique_well_formed_ids_and_sections() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 80
    for requirement in catalogue.values():
        assert requirement.level in ("documented", "reference"), requirement.id
        assert requirement.section and requirement.quote, requirement.id
        assert requirement.id.upper() == requirement.id and requirement.id.count("-") >= 1
