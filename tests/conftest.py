"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from reference_server.testing import REDIS_MISSING, RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server from PATH on a free port, no persistence, for the whole session
    (fakeredis is no substitute for the cluster tests). Without one: skipped on a
    developer's machine, FAILED in CI (CI set), where .ci/run installs it."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").strip().lower() in ("", "0", "false", "no"):
            pytest.skip(REDIS_MISSING)
        pytest.fail(f"CI is set and {REDIS_MISSING}")
    with RedisServer() as server:
        yield server
