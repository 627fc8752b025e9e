"""/dashboard: a button that opens the web dashboard signed in as this user (15 minutes).

The link carries ``smallq.signin``'s token; the secret never leaves the process and the
link is never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, filters

from bot.context import BotContext
from bot.services.dashboard import dashboard_link
from bot.services.portfolio import UserInfo
from bot.views.replies import reply_html

if TYPE_CHECKING:
    from telegram.ext import Application

PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
NOT_SET_UP = "The web dashboard is not set up on this bot."
OPEN = (
    "Your dashboard: builds, paper holdings, tracking against the S&amp;P 500, alert limits "
    "and your schedule. The button signs you in for 15 minutes; do not share it."
)


async def dashboard_command(update: Update, context: BotContext) -> None:
    """Reply with a button that opens the dashboard signed in as this user."""
    user = update.effective_user
    assert user is not None
    info = UserInfo(user.id, user.username, user.first_name, user.language_code)
    link = await dashboard_link(context.deps, info)
    if link is None:
        await reply_html(update, context, NOT_SET_UP)
        return
    button = InlineKeyboardButton("Open my dashboard", url=link)
    await reply_html(update, context, OPEN, InlineKeyboardMarkup([[button]]))


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add /dashboard (private chats only: the link signs this user in)."""
    application.add_handler(CommandHandler("dashboard", dashboard_command, filters=PRIVATE))
