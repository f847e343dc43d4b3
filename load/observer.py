"""An independent fan-out observer: a plain-asyncio process with python-socketio's
AsyncClient that joins one room and times every harness message it receives, with its
own clock and nothing of the harness's client. The self-check compares its p50 with the
harness's (issue 5: "the harness's p50 must agree within 5 ms").

    python -m chatrooms_load.observer --host http://127.0.0.1:3001 --room load-fan-out \\
        --seconds 30 --json observer.json

It prints `observer: ready` once it has joined, and its result as one JSON line at the
end (after --seconds, or on SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from typing import Any

import socketio

from chatrooms_load.latency import Histogram, decode_probe


def _token(args: argparse.Namespace, user_id: str) -> str:
    if args.token_cmd:
        command = args.token_cmd.format(user_id=user_id, username=user_id)
        done = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
        return done.stdout.strip()
    from chatrooms_fixtures.tokens import mint

    return mint(user_id, user_id) if args.secret is None else mint(user_id, secret=args.secret)


async def observe(args: argparse.Namespace) -> dict[str, Any]:
    latency = Histogram()
    first: float | None = None
    last: float | None = None
    client = socketio.AsyncClient(reconnection=False)

    async def on_message(message: Any) -> None:
        nonlocal first, last
        now = time.time()
        probe = decode_probe(message.get("content") if isinstance(message, dict) else None)
        if probe is None:
            return
        latency.record((now - probe.sent_at) * 1000)
        first = now if first is None else first
        last = now

    client.on("receiveMessage", on_message, namespace=args.namespace)
    await client.connect(
        args.host,
        namespaces=[args.namespace],
        transports=["websocket"],
        auth={"token": _token(args, args.user)},
    )
    reply = await client.call("joinRoom", {"roomId": args.room}, namespace=args.namespace)
    if not isinstance(reply, dict) or reply.get("success") is not True:
        raise SystemExit(f"observer: joinRoom failed: {reply!r}")
    print("observer: ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.seconds)
    except TimeoutError:
        pass
    await client.disconnect()
    return {
        "room": args.room,
        "samples": latency.total,
        "p50_ms": latency.percentile(0.50),
        "p95_ms": latency.percentile(0.95),
        "p99_ms": latency.percentile(0.99),
        "first": first,
        "last": last,
        "histogram": latency.to_wire(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatrooms_load.observer")
    parser.add_argument("--host", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--namespace", default="/chat")
    parser.add_argument("--user", default="load-observer")
    parser.add_argument("--secret", default=None)
    parser.add_argument("--token-cmd", default=None)
    parser.add_argument("--json", default=None, metavar="PATH")
    args = parser.parse_args(argv)
    result = asyncio.run(observe(args))
    line = json.dumps({k: v for k, v in result.items() if k != "histogram"})
    print(f"observer: {line}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
