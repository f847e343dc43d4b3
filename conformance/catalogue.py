"""The requirement catalogue (fixtures/requirements.yaml) and the marker that ties a test
to the requirements it checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeVar

import pytest
import yaml

Level = Literal["documented", "reference"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Requirement:
    id: str
    level: Level
    section: str
    quote: str
    decisions: tuple[str, ...]

    @property
    def title(self) -> str:
        decisions = f"  ({', '.join(self.decisions)})" if self.decisions else ""
        return f"{self.id} [{self.level}] {self.section}\n  -> {self.quote!r}{decisions}"


@cache
def load_catalogue() -> dict[str, Requirement]:
    """Every requirement by id, in the order of the API document's sections."""
    text = resources.files("chatrooms_fixtures").joinpath("requirements.yaml").read_text("utf-8")
    entries = yaml.safe_load(text)["requirements"]
    catalogue: dict[str, Requirement] = {}
    for entry in entries:
        requirement = Requirement(
            id=entry["id"],
            level=entry["level"],
            section=entry["section"],
            quote=str(entry["quote"]).strip(),
            decisions=tuple(entry.get("decisions") or ()),
        )
        if requirement.id in catalogue:
            raise ValueError(f"requirements.yaml lists {requirement.id} twice")
        catalogue[requirement.id] = requirement
    return catalogue


def case(value: Any, *ids: str, id: str | None = None) -> Any:
    """One parameter of a parametrized check, with the requirement ids that case checks,
    so that --only and the report see each case's own requirements."""
    return pytest.param(value, marks=pytest.mark.requirement(*ids), id=id)


def requirement(*ids: str) -> Callable[[F], F]:
    """Name the requirement ids a suite test checks: `@requirement("EVT-JOIN-RESPONSE")`.

    A failure raised through `expect` names the exact id it broke. Parametrized checks
    may name their ids per case instead (`case(...)`), with `@requirement()` empty."""

    def mark(test: F) -> F:
        marked: F = pytest.mark.requirement(*ids)(test)
        return marked

    return mark
