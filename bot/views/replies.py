"""Sending helpers shared by handlers: HTML texts, chat actions, portfolio results, charts.

A group that became a supergroup answers ``ChatMigrated``: :func:`send_html` records the
move (links, schedules and pending sends follow it) and sends once more at the new id.
Cosmetic calls (removing buttons, rewriting a question as its answer) go through
:func:`best_effort`: their failure never stops the reply that matters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from datetime import date

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, TelegramError

from bot.context import BotContext
from bot.services.chats import migrate_chat
from bot.services.portfolio import CHART_TITLES
from bot.views.keyboards import result_keyboard
from bot.views.messages import caption, format_portfolio
from storage.portfolios import PortfolioRecord

_LOG = logging.getLogger(__name__)


def chat_id_of(update: Update) -> int:
    """The chat to answer in."""
    if update.effective_chat is None:
        raise ValueError("update has no chat")
    return update.effective_chat.id


async def send_html(
    context: BotContext,
    chat_id: int,
    texts: str | Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send one or more HTML messages; ``markup`` goes on the last one.

    A group that migrated is followed once (see the module docstring).
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    sent = None
    for index, text in enumerate(items):
        last = index == len(items) - 1
        try:
            sent = await context.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup if last else None
            )
        except ChatMigrated as exc:
            _LOG.info("chat %s migrated to %s", chat_id, exc.new_chat_id)
            await migrate_chat(context.deps, chat_id, exc.new_chat_id)
            chat_id = exc.new_chat_id
            sent = await context.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup if last else None
            )
    return sent


async def reply_html(
    update: Update,
    context: BotContext,
    texts: str | Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send HTML messages to the update's chat."""
    return await send_html(context, chat_id_of(update), texts, markup)


async def best_effort(call: Awaitable[object], what: str) -> bool:
    """Await a cosmetic Bot API call; a failure is logged at DEBUG. Return whether it worked."""
    try:
        await call
    except TelegramError as exc:
        _LOG.debug("%s failed: %s", what, exc)
        return False
    return True


async def show_action(context: BotContext, chat_id: int, action: str) -> None:
    """Show "typing…" or "uploading photo…"; a failure here is logged, never fatal."""
    try:
        await context.bot.send_chat_action(chat_id, action)
    except TelegramError as exc:
        _LOG.info("chat action %s for chat %s failed: %s", action, chat_id, exc)


async def send_charts(
    context: BotContext, chat_id: int, charts: dict[str, bytes], as_of: date
) -> None:
    """Send PNG charts as photos with short plain-text captions.

    No "uploading photo…" action first: the photos follow at once, and every call to a chat
    waits on the 30-per-second limiter ("typing…" was shown before the work that drew them).
    """
    if not charts:
        return
    for name, png in charts.items():
        title = CHART_TITLES.get(name, name.replace("_", " ").title())
        await context.bot.send_photo(
            chat_id, photo=png, caption=caption(f"{title} · prices as of {as_of.isoformat()}")
        )


async def send_portfolio(
    context: BotContext,
    chat_id: int,
    record: PortfolioRecord,
    *,
    today: date | None = None,
    title: str = "Your portfolio",
) -> None:
    """The portfolio messages with the "Accept (paper trade)" button on the last one."""
    markup = result_keyboard(record.id) if record.id is not None else None
    await send_html(context, chat_id, format_portfolio(record, today=today, title=title), markup)
