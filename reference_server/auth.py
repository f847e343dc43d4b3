"""Finding and judging the JWT of a connection (doc: "Authentication"; D2, D3)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

import jwt

from reference_server.clock import iso_timestamp
from reference_server.errors import ApiError

ALGORITHM = (
    "HS256"  # D3 (reference): "HS256 signed with JWT_SECRET ... any other algorithm is refused"
)


class TokenSource(StrEnum):
    AUTH = "auth.token"
    HEADER = "Authorization header"
    QUERY = "token query parameter"


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str


def extract_token(auth: object, environ: Mapping[str, Any]) -> tuple[TokenSource, str]:
    """D2: the first source present, in the order auth.token, Authorization header,
    `token` query parameter, is the one judged; a present but bad one is never skipped."""
    if isinstance(auth, Mapping) and auth.get("token") is not None:
        token = auth["token"]
        if not isinstance(token, str):
            raise ApiError(401, "auth.token must be a string holding a JWT")
        # D2 (reference): a leading `Bearer ` inside auth.token is accepted.
        return TokenSource.AUTH, token.removeprefix("Bearer ")
    header = environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, token = str(header).partition(" ")
        if scheme.lower() != "bearer":
            raise ApiError(401, "the Authorization header must read 'Bearer <jwt>'")
        return TokenSource.HEADER, token.strip()
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if "token" in query:
        return TokenSource.QUERY, query["token"][0]
    raise ApiError(
        401,
        "missing token: send a JWT as auth.token, as an 'Authorization: Bearer' header, "
        "or as the 'token' query parameter",
    )


def decode_token(token: str, secret: str, now: datetime) -> Identity:
    """D3: verify an HS256 JWT against `secret` at time `now`; exp and nbf are enforced
    when present, with no leeway; `sub` and `username` must be non-empty strings."""
    if not token:
        raise ApiError(401, "the token is empty")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise ApiError(401, "the token is not a well-formed JWT") from None
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        raise ApiError(401, f"the token must be signed with {ALGORITHM}, not {algorithm!r}")
    try:
        # Expiry is judged below against the injected `now`, not the library's clock. D3
        # judges sub, username, exp and nbf only: with no audience, issuer or token id of
        # its own, the server has nothing to check aud, iss or jti against.
        claims = _quiet_decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_sub": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise ApiError(401, "the token's signature does not match the server's secret") from None
    except jwt.PyJWTError:
        raise ApiError(401, "the token is not a well-formed JWT") from None
    now_s = now.timestamp()
    expires = _time_claim(claims, "exp")
    if expires is not None and now_s >= expires:
        raise ApiError(401, f"the token expired at {_iso(expires)}")
    not_before = _time_claim(claims, "nbf")
    if not_before is not None and now_s < not_before:
        raise ApiError(401, f"the token is not valid before {_iso(not_before)}")
    return Identity(user_id=_text_claim(claims, "sub"), username=_text_claim(claims, "username"))


def _quiet_decode(token: str, secret: str, **kwargs: Any) -> dict[str, Any]:
    # A short secret is the operator's choice, reported once at start-up, not per token.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is")
        claims: dict[str, Any] = jwt.decode(token, secret, **kwargs)
    return claims


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    # JSON has no NaN or Infinity, but Python's json module reads them; neither is a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(401, f"the token's '{name}' claim must be a number of seconds")
    return float(value)


def _iso(seconds: float) -> str:
    try:
        return iso_timestamp(datetime.fromtimestamp(seconds, tz=UTC))
    except (OverflowError, OSError, ValueError):
        # Beyond what a datetime holds (years 1-9999): say it as the number it is.
        return f"{seconds:.0f} seconds after 1970-01-01T00:00:00.000Z"


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(401, f"the token's '{name}' claim must be a non-empty string")
    return value
