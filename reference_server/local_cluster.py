"""`chatrooms-server --nodes N`: a local cluster (D33) to try out or to test against."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping

from reference_server.testing import RedisMissingError, RunningCluster, ServerStartError


def serve_cluster(count: int, environ: Mapping[str, str]) -> int:
    """Start the cluster, print its URLs, wait for Ctrl-C/SIGTERM, stop every process."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # Each node binds a free port of its own: PORT/--port is for a single node.
    env = {k: v for k, v in environ.items() if k not in ("PORT",)}
    host = environ.get("HOST", "").strip() or "127.0.0.1"
    try:
        cluster = RunningCluster(count, env, host=host)
    except RedisMissingError as missing:
        print(f"chatrooms-server: {missing}", file=sys.stderr)
        return 1
    except ServerStartError as failure:
        print(f"chatrooms-server: the cluster did not start: {failure}", file=sys.stderr)
        return 1
    with cluster:
        where = "its own redis-server" if cluster.redis is not None else "REDIS_URL"
        print(f"cluster of {count} nodes sharing {cluster.redis_url} ({where}):", flush=True)
        for url in cluster.urls:
            print(f"  {url}", flush=True)
        print("Ctrl-C stops them all.", flush=True)
        while not stop.wait(0.5):
            for node in cluster.nodes:
                if node.process.poll() is not None:
                    print(
                        f"chatrooms-server: node {node.url} exited with "
                        f"{node.process.returncode}; stopping the cluster",
                        file=sys.stderr,
                    )
                    return 1
    return 0
