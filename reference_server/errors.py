"""One error type for every refusal, and the D7 error object built from it."""

from __future__ import annotations

from typing import Any

# D7: "`error` is the status phrase" of the document's error table.
from chatrooms_fixtures.configuration import STATUS_PHRASES


class ApiError(Exception):
    """A refused client event or connection: a status from the doc's error table and a
    message a client developer can act on."""

    def __init__(self, status: int, message: str) -> None:
        if status not in STATUS_PHRASES:
            raise ValueError(f"status {status} is not in the document's error table")
        super().__init__(message)
        self.status = status
        self.message = message


def error_payload(error: ApiError, timestamp: str) -> dict[str, Any]:
    """D7: `{success: false, error, message, statusCode, timestamp}`."""
    return {
        "success": False,
        "error": STATUS_PHRASES[error.status],
        "message": error.message,
        "statusCode": error.status,
        "timestamp": timestamp,
    }
