"""Signed dashboard links: round trip, forged, altered, another user's id, expired."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from smallq.errors import SignInError
from smallq.signin import LINK_TTL, sign_token, signed_link, verify_token

SECRET = "s" * 12 + "-secret-for-tests"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_round_trip_and_independent_signature() -> None:
    token = sign_token(42, SECRET, now=NOW)
    user, expires, signature = token.split(".")
    assert (user, int(expires)) == ("42", int((NOW + LINK_TTL).timestamp()))
    digest = hmac.new(SECRET.encode(), f"42.{expires}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == digest
    assert verify_token(token, SECRET, now=NOW + timedelta(minutes=14, seconds=59)) == 42


def test_expires_after_fifteen_minutes() -> None:
    token = sign_token(42, SECRET, now=NOW)
    with pytest.raises(SignInError) as info:
        verify_token(token, SECRET, now=NOW + timedelta(minutes=15))
    assert info.value.reason == "expired"
    assert "expired" in info.value.user_message()


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: "43" + t[2:],  # another user's id under this user's signature
        lambda t: ".".join([t.split(".")[0], str(int(t.split(".")[1]) + 3600), t.split(".")[2]]),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    ],
    ids=["other-user", "longer-expiry", "signature"],
)
def test_altered_tokens_are_forged(alter: object) -> None:
    token = sign_token(42, SECRET, now=NOW)
    with pytest.raises(SignInError) as info:
        verify_token(alter(token), SECRET, now=NOW)  # type: ignore[operator]
    assert info.value.reason == "forged"


def test_another_secret_and_garbage_are_refused() -> None:
    token = sign_token(42, "another-secret-of-length", now=NOW)
    with pytest.raises(SignInError, match="forged"):
        verify_token(token, SECRET, now=NOW)
    for garbage in ("", "42", "42.1.x", "abc.def.ghi", "-1.99999.aaaa"):
        with pytest.raises(SignInError, match="malformed"):
            verify_token(garbage, SECRET, now=NOW)


def test_short_secret_disables_sign_in() -> None:
    with pytest.raises(SignInError, match="disabled"):
        sign_token(42, "short", now=NOW)
    with pytest.raises(SignInError, match="disabled"):
        verify_token("42.1.x", "", now=NOW)


def test_signed_link_points_at_the_account_page() -> None:
    link = signed_link("https://example.org/dash/", 7, SECRET, now=NOW)
    assert link.startswith("https://example.org/dash/account?token=7.")
    assert verify_token(link.split("token=")[1], SECRET, now=NOW) == 7
