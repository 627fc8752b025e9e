"""The /dashboard link: the user row exists, then a link signed for that user (15 minutes)."""

from __future__ import annotations

import sqlite_utils

from bot.config import BotConfig
from bot.deps import Deps
from bot.services.portfolio import UserInfo
from smallq.errors import SignInError
from smallq.signin import MIN_SECRET_LENGTH, signed_link
from storage.users import UserRepository


def dashboard_enabled(config: BotConfig) -> bool:
    """Whether /dashboard can sign links: a URL and a long enough secret are set."""
    return bool(config.dashboard_url) and len(config.dashboard_secret) >= MIN_SECRET_LENGTH


async def dashboard_link(deps: Deps, user: UserInfo) -> str | None:
    """A link that opens the dashboard signed in as ``user``; None when it is not set up.

    The user row is written first (the dashboard's account queries are keyed by it).
    """
    config = deps.config
    if not config.dashboard_url:
        return None
    try:
        link = signed_link(config.dashboard_url, user.id, config.dashboard_secret, now=deps.clock())
    except SignInError:
        return None

    def touch(db: sqlite_utils.Database) -> None:
        UserRepository(db).touch(
            user.id, username=user.username, first_name=user.first_name,
            language_code=user.language_code,
        )  # fmt: skip

    await deps.run_storage(touch)
    return link
