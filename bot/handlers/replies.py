"""Sending helpers shared by handlers: HTML texts, chat actions, portfolio results, charts.

A group that became a supergroup answers ``ChatMigrated``: :func:`send_html` records the
move (links, schedules and pending sends follow it) and sends once more at the new id.
Cosmetic calls (removing buttons, rewriting a question as its answer) go through
:func:`best_effort`: their failure never stops the reply that matters.

Priorities (:mod:`bot.ptb.ratelimit`): every call to a chat waits on the 30-per-second limiter.
A question or a result a user waits for is sent ``URGENT`` (``rate=URGENT``, or
:func:`edit_question`); a tick on a keyboard, a removed keyboard and "typing…" are
``COSMETIC`` (:func:`edit_keyboard_later`, :func:`show_action`): they start in the background,
go after everything else, and are dropped while still waiting when a later request makes
them obsolete. Anything else is ``NORMAL``.

A reply that Telegram answers with a server error (5xx) or that never reached it (a
connection error) is sent again, at most :data:`SEND_ATTEMPTS` times in all
(:func:`with_retry`). A timeout is not retried: Telegram may have accepted the message.
A build's charts go out as one album (``sendMediaGroup``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import date
from typing import Any, TypeVar

from telegram import CallbackQuery, InlineKeyboardMarkup, InputMediaPhoto, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, NetworkError, TelegramError, TimedOut

from bot.context import BotContext
from bot.ptb.ratelimit import COSMETIC, URGENT, RateLimitArgs
from bot.services.chats import migrate_chat
from bot.views.keyboards import result_keyboard
from bot.views.messages import CHART_TITLES, caption, render_portfolio
from bot.views.texts import result_extras
from smallq.presentation import PortfolioView

_LOG = logging.getLogger(__name__)
#: Telegram refuses an edit that changes nothing with this description (lower case)
NOT_MODIFIED = "message is not modified"
T = TypeVar("T")
#: sends of one reply after a 5xx or a connection error, the first included
SEND_ATTEMPTS = 3
RETRY_DELAY_S = 0.5
#: Telegram's album size
ALBUM_MAX = 10


def _retryable(exc: TelegramError) -> bool:
    """A 5xx answer or a connection that failed; not a refusal and not a timeout."""
    return isinstance(exc, NetworkError) and not isinstance(exc, (BadRequest, TimedOut))


async def with_retry(send: Callable[[], Awaitable[T]], what: str = "send") -> T:
    """Await ``send()``, again after a 5xx or connection error (bounded, short pauses)."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await send()
        except TelegramError as exc:
            if attempt == SEND_ATTEMPTS or not _retryable(exc):
                raise
            _LOG.info("%s failed (%s); attempt %d of %d", what, exc, attempt + 1, SEND_ATTEMPTS)
            await asyncio.sleep(RETRY_DELAY_S * attempt)
    raise AssertionError("unreachable")


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
    *,
    rate: RateLimitArgs | None = None,
) -> Message | None:
    """Send one or more HTML messages; ``markup`` goes on the last one.

    A group that migrated is followed once (see the module docstring). ``rate``: the
    limiter's priority (``URGENT`` for what a user waits for; default ``NORMAL``).
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    sent = None
    for index, text in enumerate(items):
        keyboard = markup if index == len(items) - 1 else None
        try:
            sent = await _send_one(context, chat_id, text, keyboard, rate)
        except ChatMigrated as exc:
            _LOG.info("chat %s migrated to %s", chat_id, exc.new_chat_id)
            await migrate_chat(context.deps, chat_id, exc.new_chat_id)
            chat_id = exc.new_chat_id
            sent = await _send_one(context, chat_id, text, keyboard, rate)
    return sent


async def _send_one(
    context: BotContext,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    rate: RateLimitArgs | None,
) -> Message:
    return await with_retry(
        lambda: context.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, rate_limit_args=rate
        ),
        "sendMessage",
    )


async def reply_html(
    update: Update,
    context: BotContext,
    texts: str | Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
    *,
    rate: RateLimitArgs | None = None,
) -> Message | None:
    """Send HTML messages to the update's chat."""
    return await send_html(context, chat_id_of(update), texts, markup, rate=rate)


async def best_effort(call: Awaitable[object], what: str) -> bool:
    """Await a cosmetic Bot API call; a failure is logged at DEBUG. Return whether it worked."""
    try:
        await call
    except BadRequest as exc:
        if NOT_MODIFIED in exc.message.lower():
            return True  # the message already shows it (a stale update, a second tap)
        _LOG.debug("%s failed: %s", what, exc)
        return False
    except TelegramError as exc:
        _LOG.debug("%s failed: %s", what, exc)
        return False
    return True


async def edit_question(
    context: BotContext,
    query: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    rate: RateLimitArgs | None = None,
) -> object:
    """Rewrite the pressed message (HTML) with new buttons, at the limiter's ``rate``."""
    message = query.message
    if message is None:  # an inline message: no chat to pace, no priority to give
        return await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    return await context.bot.edit_message_text(
        text,
        chat_id=message.chat.id,
        message_id=message.message_id,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        rate_limit_args=rate,
    )


async def edit_keyboard_later(
    context: BotContext, query: CallbackQuery, markup: InlineKeyboardMarkup | None, what: str
) -> None:
    """Set the pressed message's buttons (a tick, or none) in the background, ``COSMETIC``.

    Returns once the edit is queued in the limiter (or sent): a later edit of the same
    message goes after it, or replaces it while it still waits.
    """
    message = query.message
    if message is None:
        edit = query.edit_message_reply_markup(markup)
    else:
        edit = context.bot.edit_message_reply_markup(
            chat_id=message.chat.id,
            message_id=message.message_id,
            reply_markup=markup,
            rate_limit_args=COSMETIC,
        )
    await _in_background(context, best_effort(edit, what), what)


async def show_action(context: BotContext, chat_id: int, action: str) -> None:
    """Show "typing…" or "uploading photo…" in the background, ``COSMETIC``.

    Dropped while it waits when the message it announces goes out first; a failure is
    logged, never fatal.
    """
    await _in_background(context, _send_action(context, chat_id, action), f"chat action {action}")


async def _send_action(context: BotContext, chat_id: int, action: str) -> None:
    try:
        await context.bot.send_chat_action(chat_id, action, rate_limit_args=COSMETIC)
    except TelegramError as exc:
        _LOG.info("chat action %s for chat %s failed: %s", action, chat_id, exc)


async def _in_background(
    context: BotContext, work: Coroutine[Any, Any, object], name: str
) -> None:
    """Start ``work`` without waiting for it; return once it ran to its first wait.

    One loop turn is enough for a Bot API call to reach the rate limiter (PTB awaits nothing
    on the way), so requests made after this keep their order in the limiter.
    """
    context.deps.start_background(work, name)
    await asyncio.sleep(0)


async def send_charts(
    context: BotContext, chat_id: int, charts: dict[str, bytes], as_of: date
) -> None:
    """Send PNG charts with short plain-text captions: one photo, or one album of several.

    No "uploading photo…" action first: the photos follow at once, and every call to a chat
    waits on the 30-per-second limiter ("typing…" was shown before the work that drew them).
    """
    if not charts:
        return
    items = [
        (png, caption(f"{CHART_TITLES.get(name, name.replace('_', ' ').title())} · "
                      f"prices as of {as_of.isoformat()}"))
        for name, png in charts.items()
    ]  # fmt: skip
    if not 2 <= len(items) <= ALBUM_MAX:  # an album holds 2 to 10 photos
        for png, text in items:
            await _send_photo(context, chat_id, png, text)
        return
    album = [
        InputMediaPhoto(png, caption=text, filename=f"chart{index}.png")
        for index, (png, text) in enumerate(items)
    ]
    await with_retry(lambda: context.bot.send_media_group(chat_id, album), "sendMediaGroup")


async def _send_photo(context: BotContext, chat_id: int, png: bytes, text: str) -> None:
    await with_retry(lambda: context.bot.send_photo(chat_id, photo=png, caption=text), "sendPhoto")


async def send_portfolio(
    context: BotContext,
    chat_id: int,
    view: PortfolioView,
    portfolio_id: int | None,
    *,
    today: date | None = None,
    title: str = "Your portfolio",
) -> None:
    """The portfolio with the "Accept (paper trade)" button, then where its risk level sits
    and its out-of-sample record (stored with the view, so /portfolio shows them too)."""
    markup = result_keyboard(portfolio_id) if portfolio_id is not None else None
    text = render_portfolio(view, today=today, title=title)
    await send_html(context, chat_id, text, markup, rate=URGENT)
    extras = result_extras(view)
    if extras:
        await send_html(context, chat_id, extras)
