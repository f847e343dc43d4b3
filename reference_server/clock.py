"""The one seam through which server code reads time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: rate-limit windows."""
        ...

    def now(self) -> datetime:
        """The current UTC time: timestamps and token expiry."""
        ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` once after `delay_s` seconds (typing timeouts), unless the
        returned timer is cancelled first; a test clock runs it when moved past."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay_s, callback)


def iso_timestamp(moment: datetime) -> str:
    """D8: UTC ISO 8601 with milliseconds and `Z`, as JavaScript's toISOString() gives."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
