"""/dashboard: a signed link for the sender only, or a plain refusal when not set up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from smallq.errors import SignInError
from smallq.signin import verify_token
from tests.bot.fakes import CHAT, USER, Harness, make_config, make_deps

SECRET = "bot-test-dashboard-secret-0123"
NOW = datetime(2023, 1, 2, 12, 0, tzinfo=UTC)  # the fakes' clock


async def test_dashboard_sends_a_link_signed_for_the_sender(tmp_path) -> None:
    config = make_config(
        tmp_path, dashboard_url="https://dash.example.org/", dashboard_secret=SECRET
    )
    async with Harness(config, make_deps(config)) as bot:
        await bot.text("/dashboard")
        call = bot.api.calls_of("sendMessage", CHAT)[-1]
        button = call.json("reply_markup")["inline_keyboard"][0][0]
        link = urlparse(button["url"])
        assert (link.scheme, link.netloc, link.path) == ("https", "dash.example.org", "/account")
        token = parse_qs(link.query)["token"][0]
        assert verify_token(token, SECRET, now=NOW + timedelta(minutes=14)) == USER
        with pytest.raises(SignInError, match="expired"):
            verify_token(token, SECRET, now=NOW + timedelta(minutes=15))
        assert SECRET not in str(bot.api.calls)
        assert bot.deps.users().get(USER) is not None


async def test_dashboard_without_settings_says_so(tmp_path) -> None:
    config = make_config(tmp_path)
    async with Harness(config, make_deps(config)) as bot:
        await bot.text("/dashboard")
        assert "not set up" in bot.texts()[-1]
        assert "reply_markup" not in bot.api.calls_of("sendMessage", CHAT)[-1].params
