"""Signed dashboard links: the bot signs a user id, the dashboard verifies it.

A token is ``<user id>.<expiry>.<signature>``: the expiry in Unix seconds (UTC) and the
signature ``base64url(HMAC-SHA256(secret, "<user id>.<expiry>"))`` without padding. Pure:
no clock (``now`` is a parameter), no I/O, no storage, so both front ends may import it.
Verification compares signatures in constant time (:func:`hmac.compare_digest`) before
looking at the expiry, so a forged token learns nothing about timing or validity.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from smallq.errors import SignInError

#: how long a signed link signs a user in
LINK_TTL = timedelta(minutes=15)
#: shortest secret accepted (characters)
MIN_SECRET_LENGTH = 16

_TOKEN = re.compile(r"^(\d{1,19})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _check_secret(secret: str) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise SignInError("disabled")


def sign_token(user_id: int, secret: str, *, now: datetime, ttl: timedelta = LINK_TTL) -> str:
    """A token that signs ``user_id`` in until ``now + ttl``.

    Parameters
    ----------
    user_id : int
        Telegram user id (positive).
    secret : str
        ``SMALLQ_DASHBOARD_SECRET``; at least :data:`MIN_SECRET_LENGTH` characters.
    now : datetime
        Timezone-aware current time.

    Raises
    ------
    SignInError
        ``reason="disabled"`` when the secret is missing or too short.
    """
    _check_secret(secret)
    if user_id <= 0:
        raise SignInError("malformed")
    expires = int((now + ttl).timestamp())
    payload = f"{user_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_token(token: str, secret: str, *, now: datetime) -> int:
    """The user id a valid, unexpired token signs in.

    Raises
    ------
    SignInError
        ``malformed`` (not a token), ``forged`` (signature mismatch: altered, another
        user's id, another secret), ``expired``, or ``disabled`` (no usable secret).
    """
    _check_secret(secret)
    match = _TOKEN.match(token.strip()) if isinstance(token, str) else None
    if match is None:
        raise SignInError("malformed")
    user_id, expires, signature = match.groups()
    expected = _signature(secret, f"{user_id}.{expires}")
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignInError("forged")
    if now.timestamp() >= int(expires):
        raise SignInError("expired")
    return int(user_id)


def signed_link(base_url: str, user_id: int, secret: str, *, now: datetime) -> str:
    """``base_url`` with the account page and a fresh token (``…/account?token=…``)."""
    token = sign_token(user_id, secret, now=now)
    return f"{base_url.rstrip('/')}/account?token={token}"
