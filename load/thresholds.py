"""Throughput verification: thresholds from the command line, checked against the end
summary. Pure; the `quitting` listener in chat_user.py only prints the breaches and
sets Locust's process_exit_code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatrooms_load.summary import Summary

# limits: a burst not fully answered within its timeout is never judged; past this share
# of the bursts, the run proved too little about the limits and fails.
MAX_UNANSWERED_BURSTS = 0.05


@dataclass(frozen=True)
class Thresholds:
    min_deliveries_per_s: float | None = None
    max_fanout_p95_ms: float | None = None
    max_fanout_p99_ms: float | None = None
    max_error_ratio: float | None = None
    fail_on_saturation: bool = False

    @classmethod
    def from_options(cls, options: Any) -> Thresholds:
        return cls(
            min_deliveries_per_s=getattr(options, "min_deliveries_per_s", None),
            max_fanout_p95_ms=getattr(options, "max_fanout_p95_ms", None),
            max_fanout_p99_ms=getattr(options, "max_fanout_p99_ms", None),
            max_error_ratio=getattr(options, "max_error_ratio", None),
            fail_on_saturation=bool(getattr(options, "fail_on_saturation", False)),
        )

    @property
    def any_set(self) -> bool:
        return self.fail_on_saturation or any(
            value is not None
            for value in (
                self.min_deliveries_per_s,
                self.max_fanout_p95_ms,
                self.max_fanout_p99_ms,
                self.max_error_ratio,
            )
        )


@dataclass(frozen=True)
class Breach:
    threshold: str
    message: str


def check(summary: Summary, limits: Thresholds) -> list[Breach]:
    """Every threshold the run missed, each with how far off it was."""
    out: list[Breach] = []
    if limits.min_deliveries_per_s is not None:
        want, got = limits.min_deliveries_per_s, summary.deliveries_per_s
        if got < want:
            short = want - got
            share = f" ({short / want:.1%})" if want > 0 else ""
            out.append(
                Breach(
                    "min-deliveries-per-s",
                    f"deliveries/s {got:.1f} is below the minimum {want:g} by {short:.1f}{share}",
                )
            )
    for name, limit, value in (
        ("max-fanout-p95-ms", limits.max_fanout_p95_ms, summary.fanout_p95_ms),
        ("max-fanout-p99-ms", limits.max_fanout_p99_ms, summary.fanout_p99_ms),
    ):
        if limit is None:
            continue
        label = name.removeprefix("max-").removesuffix("-ms").replace("fanout-", "fan-out ")
        if value is None:
            out.append(Breach(name, f"{label} was not measured: no message was delivered"))
        elif value > limit:
            out.append(
                Breach(
                    name,
                    f"{label} {value:.1f} ms exceeds the maximum {limit:g} ms "
                    f"by {value - limit:.1f} ms",
                )
            )
    if limits.max_error_ratio is not None and summary.error_ratio > limits.max_error_ratio:
        over = summary.error_ratio - limits.max_error_ratio
        out.append(
            Breach(
                "max-error-ratio",
                f"error ratio {summary.error_ratio:.4f} ({summary.failures} of "
                f"{summary.attempts}) exceeds the maximum {limits.max_error_ratio:g} "
                f"by {over:.4f}",
            )
        )
    if summary.bursts and summary.bursts_unanswered / summary.bursts > MAX_UNANSWERED_BURSTS:
        out.append(
            Breach(
                "unanswered-bursts",
                f"{summary.bursts_unanswered} of {summary.bursts} bursts over the limit "
                f"({summary.bursts_unanswered / summary.bursts:.0%}) were not fully answered "
                f"within their timeout, more than {MAX_UNANSWERED_BURSTS:.0%}: the limits "
                "were not checked",
            )
        )
    if limits.fail_on_saturation and summary.saturation:
        out.append(
            Breach(
                "fail-on-saturation",
                "the load generator was saturated: " + "; ".join(summary.saturation),
            )
        )
    return out


def format_breaches(breaches: list[Breach], limits: Thresholds | None = None) -> str:
    """The thresholds line(s) of the summary; "no thresholds set" when `limits` has none,
    so a run without any never reads as one that met them."""
    if not breaches:
        if limits is not None and not limits.any_set:
            return "thresholds: no thresholds set"
        return "thresholds: all met"
    return "\n".join(f"THRESHOLD MISSED ({b.threshold}): {b.message}" for b in breaches)
