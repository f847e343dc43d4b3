"""D2 token sources and D3 token judging, as tables over the pure functions of auth.py."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from reference_server.auth import Identity, TokenSource, decode_token, extract_token
from reference_server.errors import ApiError

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
NOW = datetime(2026, 11, 25, 19, 43, 25, 123_000, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
CLAIMS: dict[str, Any] = {"sub": "u-1", "username": "Alice", "iat": NOW_S - 10}


def encode(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forged(token: str) -> str:
    """The same header and claims under a signature that is not theirs."""
    header, claims, signature = token.split(".")
    return f"{header}.{claims}.{'A' * len(signature)}"


def refused(token: str, now: datetime = NOW) -> str:
    with pytest.raises(ApiError) as caught:
        decode_token(token, SECRET, now)
    assert caught.value.status == 401
    return caught.value.message


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="no time claims"),
        pytest.param({"exp": NOW_S + 1}, id="exp a second ahead"),
        pytest.param({"exp": NOW_S + 3600, "nbf": NOW_S}, id="nbf now"),
        pytest.param({"exp": NOW_S + 0.5}, id="fractional exp ahead"),
        pytest.param({"role": "admin", "iss": "someone"}, id="other claims"),
        # D3 judges sub, username, exp and nbf only; a server that names no audience or
        # token id has nothing to check them against (as jsonwebtoken's verify does).
        pytest.param({"aud": "chat-frontend"}, id="an audience"),
        pytest.param({"aud": ["a", "b"]}, id="several audiences"),
        pytest.param({"jti": 12345}, id="a numeric token id"),
    ],
)
def test_a_valid_hs256_token_gives_the_identity_of_sub_and_username(extra: dict[str, Any]) -> None:
    token = encode({**CLAIMS, **extra})
    assert decode_token(token, SECRET, NOW) == Identity(user_id="u-1", username="Alice")


# (claims/token, words of the message) -- D3: every one of these is refused with 401.
@pytest.mark.parametrize(
    ("token", "words"),
    [
        pytest.param(encode({**CLAIMS, "exp": NOW_S}), "expired at", id="exp now (no leeway)"),
        pytest.param(encode({**CLAIMS, "exp": NOW_S - 1}), "expired at", id="exp a second ago"),
        pytest.param(encode({**CLAIMS, "exp": NOW_S - 3600}), "expired at", id="exp an hour ago"),
        pytest.param(
            encode({**CLAIMS, "nbf": NOW_S + 1}), "not valid before", id="nbf a second ahead"
        ),
        pytest.param(
            encode({**CLAIMS, "nbf": NOW_S + 3600}), "not valid before", id="nbf an hour ahead"
        ),
        pytest.param(
            encode(CLAIMS, secret="another-secret-of-the-same-length-or-so"),
            "signature does not match",
            id="wrong secret",
        ),
        pytest.param(unsigned(CLAIMS), "must be signed with HS256, not 'none'", id="alg none"),
        pytest.param(
            encode(CLAIMS, secret=SECRET * 2, algorithm="HS512"),
            "must be signed with HS256, not 'HS512'",
            id="HS512 with the right secret",
        ),
        pytest.param(
            encode(CLAIMS, secret=SECRET * 2, algorithm="HS384"),
            "not 'HS384'",
            id="HS384",
        ),
        pytest.param(
            encode({"username": "Alice"}), "'sub' claim must be a non-empty string", id="no sub"
        ),
        pytest.param(
            encode({"sub": "u-1"}), "'username' claim must be a non-empty string", id="no username"
        ),
        pytest.param(
            encode({**CLAIMS, "sub": ""}), "'sub' claim must be a non-empty", id="empty sub"
        ),
        pytest.param(
            encode({**CLAIMS, "username": ""}),
            "'username' claim must be a non-empty",
            id="empty username",
        ),
        pytest.param(
            encode({**CLAIMS, "sub": 42}), "'sub' claim must be a non-empty", id="numeric sub"
        ),
        pytest.param(
            encode({**CLAIMS, "username": None}), "'username' claim must be", id="null username"
        ),
        pytest.param(
            encode({**CLAIMS, "exp": "tomorrow"}),
            "'exp' claim must be a number of seconds",
            id="non-numeric exp",
        ),
        pytest.param(
            encode({**CLAIMS, "exp": True}), "'exp' claim must be a number", id="boolean exp"
        ),
        pytest.param(
            encode({**CLAIMS, "nbf": "now"}), "'nbf' claim must be a number", id="non-numeric nbf"
        ),
        pytest.param(
            encode({**CLAIMS, "exp": float("nan")}), "'exp' claim must be a number", id="exp NaN"
        ),
        pytest.param(
            encode({**CLAIMS, "exp": float("inf")}),
            "'exp' claim must be a number",
            id="exp Infinity",
        ),
        pytest.param(
            encode({**CLAIMS, "nbf": float("-inf")}),
            "'nbf' claim must be a number",
            id="nbf -Infinity",
        ),
        pytest.param(
            encode({**CLAIMS, "nbf": 1e20}), "not valid before", id="nbf beyond the year 9999"
        ),
        pytest.param(encode({**CLAIMS, "exp": -1e20}), "expired at", id="exp before year 1"),
        pytest.param("", "the token is empty", id="empty string"),
        pytest.param("not-a-jwt", "not a well-formed JWT", id="not a JWT"),
        pytest.param("a.b.c", "not a well-formed JWT", id="three garbage parts"),
        pytest.param(forged(encode(CLAIMS)), "signature does not match", id="forged signature"),
        pytest.param(
            "Bearer " + encode(CLAIMS), "not a well-formed JWT", id="Bearer prefix left in"
        ),
    ],
)
def test_tokens_that_are_not_valid_are_refused_with_401_saying_why(token: str, words: str) -> None:
    assert words in refused(token)


def test_the_expiry_message_gives_the_moment_in_iso_8601() -> None:
    message = refused(encode({**CLAIMS, "exp": NOW_S - 60}))
    assert message == "the token expired at 2026-11-25T19:42:25.000Z"


def test_tokens_are_judged_against_the_given_time_not_the_wall_clock() -> None:
    token = encode({**CLAIMS, "nbf": NOW_S, "exp": NOW_S + 60})
    assert decode_token(token, SECRET, NOW + timedelta(seconds=59)).user_id == "u-1"
    assert "expired" in refused(token, NOW + timedelta(seconds=60))
    assert "not valid before" in refused(token, NOW - timedelta(seconds=1))


AUTH_TOKEN = "token-from-auth"
HEADER_TOKEN = "token-from-header"
QUERY_TOKEN = "token-from-query"


def environ(header: str | None = None, query: str = "") -> dict[str, Any]:
    env: dict[str, Any] = {"QUERY_STRING": query}
    if header is not None:
        env["HTTP_AUTHORIZATION"] = header
    return env


# (auth payload, environ, expected (source, token)) -- D2: "The first source present in
# that order is the one judged".
@pytest.mark.parametrize(
    ("auth", "env", "expected"),
    [
        pytest.param(
            {"token": AUTH_TOKEN},
            environ(f"Bearer {HEADER_TOKEN}", f"token={QUERY_TOKEN}"),
            (TokenSource.AUTH, AUTH_TOKEN),
            id="auth.token beats header and query",
        ),
        pytest.param(
            None,
            environ(f"Bearer {HEADER_TOKEN}", f"token={QUERY_TOKEN}"),
            (TokenSource.HEADER, HEADER_TOKEN),
            id="header beats query",
        ),
        pytest.param(
            {},
            environ(None, f"EIO=4&transport=polling&token={QUERY_TOKEN}"),
            (TokenSource.QUERY, QUERY_TOKEN),
            id="query when nothing else",
        ),
        pytest.param(
            {"token": f"Bearer {AUTH_TOKEN}"},
            environ(),
            (TokenSource.AUTH, AUTH_TOKEN),
            id="Bearer prefix inside auth.token is accepted",
        ),
        pytest.param(
            {"token": None},
            environ(f"Bearer {HEADER_TOKEN}"),
            (TokenSource.HEADER, HEADER_TOKEN),
            id="auth.token null is absent",
        ),
        pytest.param(
            {"other": "x"},
            environ(f"bearer {HEADER_TOKEN}"),
            (TokenSource.HEADER, HEADER_TOKEN),
            id="auth without token, scheme in any case",
        ),
        pytest.param(
            "not-a-mapping",
            environ(None, f"token={QUERY_TOKEN}"),
            (TokenSource.QUERY, QUERY_TOKEN),
            id="auth that is not an object is no source",
        ),
        pytest.param(
            {"token": ""},
            environ(f"Bearer {HEADER_TOKEN}"),
            (TokenSource.AUTH, ""),
            id="empty auth.token is present, so it is the one judged",
        ),
        pytest.param(
            None,
            environ("Bearer ", f"token={QUERY_TOKEN}"),
            (TokenSource.HEADER, ""),
            id="empty Bearer header is present, so it is the one judged",
        ),
        pytest.param(
            None,
            environ(None, "token="),
            (TokenSource.QUERY, ""),
            id="empty token parameter is present",
        ),
    ],
)
def test_the_first_present_source_is_the_one_judged(
    auth: object, env: dict[str, Any], expected: tuple[TokenSource, str]
) -> None:
    assert extract_token(auth, env) == expected


@pytest.mark.parametrize(
    ("auth", "env", "words"),
    [
        pytest.param(None, environ(), "missing token", id="no source at all"),
        pytest.param({}, environ(None, "EIO=4"), "missing token", id="empty auth, no token"),
        pytest.param(
            {"token": 123}, environ(), "auth.token must be a string", id="numeric auth.token"
        ),
        pytest.param(
            None,
            environ(f"Basic {HEADER_TOKEN}", f"token={QUERY_TOKEN}"),
            "must read 'Bearer <jwt>'",
            id="Basic header is refused, not skipped for the query",
        ),
        pytest.param(
            None, environ(HEADER_TOKEN), "must read 'Bearer <jwt>'", id="header without scheme"
        ),
    ],
)
def test_sources_that_cannot_hold_a_token_are_refused_with_401(
    auth: object, env: dict[str, Any], words: str
) -> None:
    with pytest.raises(ApiError) as caught:
        extract_token(auth, env)
    assert caught.value.status == 401
    assert words in caught.value.message


def judge(auth: object, env: dict[str, Any]) -> Identity:
    _, token = extract_token(auth, env)
    return decode_token(token, SECRET, NOW)


GOOD = encode(CLAIMS)
BAD = encode(CLAIMS, secret="not-the-secret-of-this-server-at-all")


@pytest.mark.parametrize(
    ("auth", "env"),
    [
        pytest.param({"token": BAD}, environ(f"Bearer {GOOD}"), id="bad auth.token, good header"),
        pytest.param({"token": BAD}, environ(None, f"token={GOOD}"), id="bad auth, good query"),
        pytest.param(None, environ(f"Bearer {BAD}", f"token={GOOD}"), id="bad header, good query"),
        pytest.param({"token": ""}, environ(f"Bearer {GOOD}"), id="empty auth, good header"),
    ],
)
def test_a_present_but_invalid_first_source_is_refused_never_skipped(
    auth: object, env: dict[str, Any]
) -> None:
    with pytest.raises(ApiError) as caught:
        judge(auth, env)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("auth", "env"),
    [
        pytest.param({"token": GOOD}, environ(f"Bearer {BAD}"), id="good auth, bad header"),
        pytest.param(None, environ(f"Bearer {GOOD}", f"token={BAD}"), id="good header, bad query"),
        pytest.param({"token": f"Bearer {GOOD}"}, environ(None, f"token={BAD}"), id="Bearer auth"),
    ],
)
def test_a_valid_first_source_wins_over_invalid_later_ones(
    auth: object, env: dict[str, Any]
) -> None:
    assert judge(auth, env).user_id == "u-1"
