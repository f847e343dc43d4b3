"""`python -m reference_server` / `chatrooms-server`."""

from __future__ import annotations

import argparse
import os
import sys

from reference_server.config import ConfigError, Settings

ENVIRONMENT_HELP = """\
configuration (environment variables; flags override HOST and PORT):
  PORT                     port for HTTP and Socket.IO (default 3001; 0 picks a free one)
  HOST                     address to bind (default 0.0.0.0)
  NODE_ENV                 production or development (default development; sets the limits)
  JWT_SECRET               HS256 secret for tokens (required in production;
                           development falls back to the documented development secret)
  FRONTEND_URL             allowed CORS origin(s), comma-separated (default http://localhost:5173)
  WS_NAMESPACE             Socket.IO namespace (default /chat)
  WS_ENABLE_METRICS        count cumulative statistics (default true)
  WS_ENABLE_HEARTBEAT      emit the app-level `ping` (default true)
  WS_HEARTBEAT_INTERVAL    ping interval in ms (default 30000)
  WS_RATE_LIMIT_WINDOW_MS  rate-limit window in ms (default 60000)
  WS_TYPING_TIMEOUT        ms without `typing: true` before typing ends (default 5000)
  REFERENCE_FAULT_ROOM     test only: events naming this room, and a connection whose
                           token sub is this name, fail with 500 (default off)
  REFERENCE_GC             garbage collector: tuned (default, thresholds 50000/20/10),
                           stock (Python's own), or t0,t1,t2 for gc.set_threshold
  REFERENCE_GC_STATS_INTERVAL_MS  log RSS and gc.get_stats() every so many ms (default off)
  REDIS_URL                make this process a node of a cluster sharing this Redis
                           (D33; needs the [cluster] extra); unset: one process, in memory
  REFERENCE_LEASE_TTL_MS   a cluster node's lease: lost after this long unrenewed (default 7000)
  REFERENCE_LEASE_RENEW_MS how often a node renews it (default 2000; at most half the TTL)
  REFERENCE_LEASE_CHECK_MS how often nodes look for lost nodes (default 1000); TTL + check
                           at most 8000, so a lost node is swept within 10 s (D34)

a local cluster: --nodes N starts a redis-server from PATH on a free port (no persistence;
unless REDIS_URL or --redis-url is given), then N nodes on free ports, prints their URLs
and stops them all on Ctrl-C/SIGTERM.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chatrooms-server",
        description="The Chat Rooms WebSocket API reference server (Socket.IO v4 on /chat, "
        "plus GET /websocket/health and /websocket/stats).",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to bind (overrides HOST)")
    parser.add_argument("--port", type=int, help="port to bind (overrides PORT; 0 = any free)")
    parser.add_argument(
        "--redis-url", help="Redis URL: run as a node of a cluster (overrides REDIS_URL)"
    )
    parser.add_argument(
        "--nodes",
        type=int,
        metavar="N",
        help="start a local cluster of N nodes (and a Redis server unless one is given)",
    )
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.redis_url is not None:
        environ["REDIS_URL"] = args.redis_url
    if args.host is not None:
        environ["HOST"] = args.host
    if args.port is not None:
        environ["PORT"] = str(args.port)
    try:
        settings = Settings.from_env(environ)
    except ConfigError as error:
        print(f"chatrooms-server: error: {error}", file=sys.stderr)
        return 2

    if args.nodes is not None:
        if args.nodes < 1:
            print("chatrooms-server: error: --nodes must be at least 1", file=sys.stderr)
            return 2
        from reference_server.local_cluster import serve_cluster

        return serve_cluster(args.nodes, environ)

    from reference_server.serve import run  # imported late: --help and errors stay fast

    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
