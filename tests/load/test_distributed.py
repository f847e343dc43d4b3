"""Distributed mode: one master and two workers on this machine, a few seconds; the
master's summary must hold the workers' aggregated numbers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.load.conftest import LOOSE_THRESHOLDS, LoadRun, needs_load_extra

pytestmark = needs_load_extra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_master_with_two_workers_aggregates_their_numbers(tmp_path: Path) -> None:
    port = str(_free_port())
    out = tmp_path / "master"
    master = subprocess.Popen(
        [sys.executable, "-m", "chatrooms_load.run", "steady-chat", "--out", str(out),
         "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
         "--expect-workers", "2", "--expect-workers-max-wait", "60",
         "-u", "10", "-r", "10", "-t", "5s", "--rooms", "2", "--message-rate", "2",
         *LOOSE_THRESHOLDS],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatrooms_load.run",
                "steady-chat",
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                port,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        output, _ = master.communicate(timeout=120)
    finally:
        for worker in [master, *workers]:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
    run = LoadRun(master.returncode, output, out)
    assert run.returncode == 0, run.explain()
    summary = run.summary
    # Both workers' CPU arrived, and so did their deliveries and connects.
    assert sorted(c["process"] for c in summary["cpu"]) == ["worker 0", "worker 1"], run.explain()
    assert summary["deliveries"] > 0 and summary["fanout_samples"] > 0
    assert summary["client_disconnects"] == 10  # all ten users, from both workers
    stats = (out / "locust_stats.csv").read_text()
    assert "receiveMessage" in stats and "connect" in stats
    assert all(w.returncode == 0 for w in workers)
