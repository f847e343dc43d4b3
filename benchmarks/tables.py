"""The published tables, built from the raw results next to the commands that made them
(benchmarks/README.md). Prints Markdown.

    python benchmarks/tables.py generator benchmarks/results/load/generator-capacity.json
    python benchmarks/tables.py capacity benchmarks/results/load/capacity-fan-out/capacity.json
    python benchmarks/tables.py cluster benchmarks/results/cluster/table-TIME.json
    python benchmarks/tables.py cluster-costs benchmarks/results/cluster/costs-TIME.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def generator(data: dict[str, Any]) -> str:
    groups: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in data["runs"]:
        groups[(run["scenario"], run["message_rate"])].append(run)
    lines = [
        "| shape (200 users) | msg/s per sender | deliveries/s | harness p50 / p99 ms | "
        "observer's probes p50 (P4) | generator CPU | saturation warning | self-check |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- | --- |",
    ]
    shapes = {"steady-chat": "10 rooms of 20, all send", "fan-out": "1 room of 200, 5 senders"}
    for (scenario, rate), runs in groups.items():
        h = [r["harness"] for r in runs]
        cpu = [max(c["share"] for c in x["cpu"]) for x in h if x["cpu"]]
        p4 = [r["selfcheck"]["views"][3]["p50"] for r in runs if r["selfcheck"]["views"]]
        warned = sum(1 for x in h if x["saturation"])
        verdicts = [{True: "agrees", False: "disagrees", None: "inconclusive"}[r["selfcheck"]["ok"]]
                    for r in runs]  # fmt: skip
        summary = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
        lines.append(
            f"| {scenario}: {shapes.get(scenario, '')} | {rate} | "
            f"{_median([x['deliveries_per_s'] for x in h]):,.0f} | "
            f"{_ms(_median([x['fanout_p50_ms'] for x in h if x['fanout_p50_ms'] is not None]))} / "
            f"{_ms(_median([x['fanout_p99_ms'] for x in h if x['fanout_p99_ms'] is not None]))} | "
            f"{_ms(_median([v for v in p4 if v is not None]))} | "
            f"{_median(cpu) or 0:.0%} | {warned} of {len(runs)} | {summary} |"
        )
    n = max((r["repetition"] for r in data["runs"]), default=0)
    lines.append("")
    lines.append(f"Medians of {n} repetitions; raw results and machine in the JSON file.")
    return "\n".join(lines)


def capacity(data: dict[str, Any]) -> str:
    lines = []
    for server, steps in data["steps"].items():
        lines += [
            f"**{server}**",
            "",
            "| step | deliveries/s | p50 / p95 / p99 ms | errors | generator CPU | verdict |",
            "| --- | ---: | --- | ---: | ---: | --- |",
        ]
        for step in steps:
            s = step["summary"]
            cpu = max((c["share"] for c in s.get("cpu", [])), default=0.0)
            lines.append(
                f"| {data['vary'].split('=')[0]} {step['value']} (#{step['attempt']}) | "
                f"{s.get('deliveries_per_s', 0):,.0f} | {_ms(s.get('fanout_p50_ms'))} / "
                f"{_ms(s.get('fanout_p95_ms'))} / {_ms(s.get('fanout_p99_ms'))} | "
                f"{s.get('failures', 0)} | {cpu:.0%} | {step['verdict']}: {step['why']} |"
            )
        lines.append("")
    lines += [f"- {line}" for line in data["results"]]
    return "\n".join(lines)


def cluster(data: dict[str, Any]) -> str:
    """benchmarks/cluster_capacity.py table: nodes x store x scenario, ratios to one
    in-memory node of the same repetition."""
    from cluster_capacity import summarize, table

    return table(summarize(data["runs"]))


def cluster_costs(data: dict[str, Any]) -> str:
    """benchmarks/cluster_capacity.py costs: Redis round-trips and CPU per event kind."""
    from cluster_capacity import costs_table

    return costs_table(data)


def main(argv: list[str]) -> int:
    kind, path = argv
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    kinds = {
        "generator": generator,
        "capacity": capacity,
        "cluster": cluster,
        "cluster-costs": cluster_costs,
    }
    print(kinds[kind](data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
