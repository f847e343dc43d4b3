"""A scenario against several nodes of one logical server (D33): `--nodes N` starts a
managed cluster over a real Redis server, the users are spread over the nodes, and the
summary says which server and how many nodes."""

from __future__ import annotations

from typing import Any

from reference_server.testing import RedisServer
from tests.load.conftest import LOOSE_THRESHOLDS, needs_load_extra

pytestmark = needs_load_extra


def test_a_managed_cluster_of_two_nodes_delivers_across_them(
    run_load: Any, redis_server: RedisServer
) -> None:
    # redis_server: a redis-server must be on PATH (the run starts its own): skipped on a
    # developer's machine without one, failed in CI.
    del redis_server
    run = run_load(
        ["steady-chat", "--nodes", "2", "-u", "8", "-r", "8", "-t", "4s", "--rooms", "1"]
        + ["--message-rate", "2", *LOOSE_THRESHOLDS]
    )
    assert run.returncode == 0, run.explain()
    assert "2 nodes, users spread over them" in run.output, run.explain()
    # One room, its members on both nodes: messages crossed between the nodes.
    assert run.summary["deliveries"] > 0, run.explain()
