"""A test helper for any test suite that needs a Chat Rooms server to talk to (as
Starlette ships `testclient`): the reference server, or a variant of it, as a child
process on a free port.

    from reference_server.testing import RunningServer

    with RunningServer({"NODE_ENV": "production", "JWT_SECRET": "s3cret"}) as server:
        ...  # server.url is http://127.0.0.1:<port>; Socket.IO at /socket.io/, /chat
        ...  # server.log() is what it printed so far

The child binds port 0 itself and reports the port in its start-up line, so parallel runs
never collide; `command=[...]` starts another program that prints the same line. Used by
the conformance runner, the load runner and this project's own tests.

Several nodes of one server (D33), sharing a Redis server of their own (`redis-server`
from PATH, on a free port, no persistence), or the one at `redis_url`:

    from reference_server.testing import RunningCluster

    with RunningCluster(3, {"NODE_ENV": "development"}) as cluster:
        ...  # cluster.urls, one per node; cluster.nodes[i] is a RunningServer
        ...  # cluster.nodes[1].kill() stops a node without closing its sockets (D34)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

_LISTENING = re.compile(r"listening on (http://[^\s]+) ")


class ServerStartError(RuntimeError):
    pass


REDIS_MISSING = (
    "no redis-server on PATH: install one (Debian/Ubuntu: apt-get install redis-server; "
    "macOS: brew install redis) or run one in a container (docker run -p 6379:6379 redis:7) "
    "and pass REDIS_URL"
)


class RedisMissingError(ServerStartError):
    pass


class RunningServer:
    """A server process; use as a context manager, or call stop()."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        command: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        timeout_s: float = 20.0,
    ) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="chatrooms-server-", suffix=".log")[1])
        child_env = {**os.environ, **(env or {}), "HOST": host, "PORT": "0"}
        argv = list(command or [sys.executable, "-m", "reference_server"])
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, env=child_env, stdout=log, stderr=subprocess.STDOUT
            )
        self.url = self._wait_until_ready(timeout_s)

    def _wait_until_ready(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        url = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"server exited with code {self.process.returncode}:\n{self.log()}"
                )
            if url is None:
                match = _LISTENING.search(self.log())
                url = match.group(1) if match else None
            if url is not None and _answers(url + "/websocket/health"):
                return url
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"server not ready within {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the node dies without closing anything (D34)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, wait, and return the exit code (SIGKILL if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


class RedisServer:
    """A throwaway `redis-server` from PATH on a free local port, without persistence."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisMissingError(REDIS_MISSING)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = Path(tempfile.mkstemp(prefix="chatrooms-redis-", suffix=".log")[1])
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tempfile.gettempdir(),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"redis-server exited:\n{self.log()}")
            if _redis_answers(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"redis-server not ready within {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RunningCluster:
    """`count` nodes of the reference server (or of `command`) sharing one Redis (D33):
    `redis_url`, else REDIS_URL in `env`, else a RedisServer of its own."""

    def __init__(
        self,
        count: int,
        env: Mapping[str, str] | None = None,
        *,
        redis_url: str | None = None,
        command: Sequence[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.redis: RedisServer | None = None
        url = redis_url or (env or {}).get("REDIS_URL") or None
        if url is None:
            self.redis = RedisServer()
            url = self.redis.url
        self.redis_url = url
        self.env = {**(env or {}), "REDIS_URL": url}
        self._command = command
        self._host = host
        self.nodes: list[RunningServer] = []
        try:
            for _ in range(count):
                self.add_node()
        except BaseException:
            self.stop()
            raise

    def add_node(self) -> RunningServer:
        """Start one more node (a restarted node rejoins this way, D34)."""
        node = RunningServer(self.env, command=self._command, host=self._host)
        self.nodes.append(node)
        return node

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
            node.log_path.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> RunningCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
