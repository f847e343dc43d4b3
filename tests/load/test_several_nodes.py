"""A scenario against several nodes of one logical server (D33): `--nodes N` starts a
managed cluster over a real Redis server, the users are spread over the nodes, and the
summary says which server and how many nodes."""

from __future__ import annotations

import subprocess
import sys
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


NODE_SPREAD = r"""
from chatrooms_load.chat_user import node_of
for rooms in range(1, 13):
    for nodes in range(2, 5):
        users = rooms * nodes * 2
        placed = {}
        for n in range(users):
            placed.setdefault(n % rooms, set()).add(node_of(n, rooms, nodes))
        spread = [len(on) for on in placed.values()]
        assert spread == [nodes] * rooms, (rooms, nodes, spread)
        counts = [sum(node_of(n, rooms, nodes) == k for n in range(users)) for k in range(nodes)]
        assert max(counts) - min(counts) <= rooms, (rooms, nodes, counts)
print("ok")
"""


def test_every_room_has_members_on_every_node_whatever_the_number_of_rooms() -> None:
    # User n sits in room n mod rooms; with n mod nodes, 10 rooms over 2 nodes put each
    # room on one node and no delivery crossed the nodes. A child process: importing
    # Locust monkey-patches the importer with gevent.
    done = subprocess.run(
        [sys.executable, "-c", NODE_SPREAD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
