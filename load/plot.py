"""The PNG the runner writes: deliveries/s and fan-out latency over time, from the
per-second timeline of the end summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Row = Sequence[float | int | None]


def write_timeline_csv(rows: Sequence[Row], path: Path) -> None:
    lines = ["second,deliveries,fanout_p50_ms,fanout_p95_ms,fanout_p99_ms"]
    for row in rows:
        lines.append(",".join("" if value is None else f"{value}" for value in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_timeline(rows: Sequence[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display; never import pyplot before this
    import matplotlib.pyplot as plt

    if not rows:
        rows = [(0, 0, None, None, None)]
    start = rows[0][0] or 0
    t = [float(r[0] or 0) - float(start) for r in rows]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.step(t, [r[1] or 0 for r in rows], where="post", color="tab:blue")
    top.set_ylabel("deliveries/s")
    top.set_title(title)
    top.grid(alpha=0.3)
    for column, label, color in (
        (2, "p50", "tab:green"),
        (3, "p95", "tab:orange"),
        (4, "p99", "tab:red"),
    ):
        bottom.plot(t, [r[column] for r in rows], label=label, color=color, marker=".")
    bottom.set_ylabel("fan-out latency (ms)")
    bottom.set_xlabel("seconds since the first delivery")
    bottom.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter

    bottom.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    bottom.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    bottom.grid(alpha=0.3, which="both")
    bottom.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
