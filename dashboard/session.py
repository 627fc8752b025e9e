"""Sign-in from a signed link: the token in the URL becomes the session's user id.

A ``?token=`` query parameter is checked once (:func:`smallq.signin.verify_token`) and
removed from the address bar. A valid token signs the session in as its user; a forged,
altered, expired or malformed one signs the session out and leaves a refusal to show. The
session's user id is the only user id account queries ever use.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import services
from smallq.errors import SignInError
from smallq.signin import verify_token

USER_KEY = "signed_in_user"
REFUSAL_KEY = "signin_refusal"


def handle_token() -> None:
    """Consume a ``token`` query parameter, if any."""
    token = st.query_params.get("token")
    if token is None:
        return
    del st.query_params["token"]
    try:
        user_id = verify_token(str(token), services.settings().secret, now=datetime.now(UTC))
    except SignInError as exc:
        st.session_state.pop(USER_KEY, None)
        st.session_state[REFUSAL_KEY] = exc.user_message()
        return
    st.session_state[USER_KEY] = user_id
    st.session_state.pop(REFUSAL_KEY, None)


def signed_in_user() -> int | None:
    """The session's user id, or None."""
    value = st.session_state.get(USER_KEY)
    return int(value) if value is not None else None


def refusal() -> str | None:
    """Why the last link did not sign in, if it did not."""
    value = st.session_state.get(REFUSAL_KEY)
    return str(value) if value else None


def sign_out() -> None:
    """Forget the session's user."""
    st.session_state.pop(USER_KEY, None)
