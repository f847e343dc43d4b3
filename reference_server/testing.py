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
"""

from __future__ import annotations

import os
import re
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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
