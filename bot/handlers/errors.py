"""The one error handler.

* :class:`~smallq.errors.SmallQError` → its ``user_message()`` (logged at INFO, or WARNING
  when it is not an input error);
* Telegram ``Forbidden`` (the user blocked the bot) → the chat is marked unreachable, as a
  scheduled send does (until the user writes again), and logged;
* ``ChatMigrated`` (the group became a supergroup) → its links, schedules and pending sends
  move to the new id; nobody is told, the old chat is gone;
* ``BadRequest`` (Telegram refused what we sent: markup, length, a bad id) → handled like a
  bug, *before* network errors, because PTB makes it a subclass of ``NetworkError``;
* other network errors and a ``RetryAfter`` that outlasted the rate limiter's retries →
  logged only: there is no way to tell;
* anything else, and ``BadRequest`` → a short apology to the user (and an answer to the
  button press, so its spinner stops), the full traceback in the log, and a notice to the
  admin chat when ``SMALLQ_ADMIN_CHAT_ID`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.context import BotContext
from bot.ptb.redaction import redact
from bot.services.chats import mark_unreachable, migrate_chat
from bot.views import texts
from smallq.errors import InputError, SmallQError

_LOG = logging.getLogger(__name__)


async def error_handler(update: object, context: BotContext) -> None:
    """Tell the user what went wrong, in one place."""
    error = context.error
    chat_id = _chat_id(update)
    if isinstance(error, SmallQError):
        level = logging.INFO if isinstance(error, InputError) else logging.WARNING
        _LOG.log(level, "user-facing error for chat %s: %s", chat_id, error)
        await _tell(context, chat_id, escape(error.user_message()))
        return
    if isinstance(error, Forbidden):
        _LOG.info("chat %s cannot be reached: %s", chat_id, error)
        await _mark_unreachable(context, chat_id, f"forbidden: {error}")
        return
    if isinstance(error, ChatMigrated):
        _LOG.info("chat %s migrated to %s", chat_id, error.new_chat_id)
        if chat_id is not None:
            await _quietly(migrate_chat(context.deps, chat_id, error.new_chat_id))
        return
    if isinstance(error, (NetworkError, RetryAfter)) and not isinstance(error, BadRequest):
        _LOG.warning("network error while handling an update of chat %s: %s", chat_id, error)
        return
    _LOG.error("unhandled error for chat %s", chat_id, exc_info=error)
    await _stop_spinner(update)
    await _tell(context, chat_id, texts.APOLOGY)
    await _notify_admin(context, update, error)


async def _stop_spinner(update: object) -> None:
    """Answer the button press whose handler failed (if nobody did), so its spinner stops."""
    if isinstance(update, Update) and update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except TelegramError:  # already answered, or too old
            pass


async def _mark_unreachable(context: BotContext, chat_id: int | None, reason: str) -> None:
    if chat_id is None:
        return
    await _quietly(mark_unreachable(context.deps, chat_id, reason))


async def _quietly(call: Awaitable[object]) -> None:
    """Storage work of the error handler: a failure is logged, never raised."""
    try:
        await call
    except SmallQError as exc:
        _LOG.warning("error handler could not record a chat change: %s", exc)


def _chat_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


async def _tell(context: BotContext, chat_id: int | None, text: str) -> None:
    if chat_id is None:
        return
    try:
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        _LOG.warning("could not send the error message to chat %s: %s", chat_id, exc)


async def _notify_admin(context: BotContext, update: object, error: BaseException | None) -> None:
    deps = context.deps
    admin_chat = deps.config.admin_chat_id
    if admin_chat is None:
        return
    user = (
        update.effective_user.id if isinstance(update, Update) and update.effective_user else None
    )
    detail = redact(f"{type(error).__name__}: {error}", [deps.config.token])[:1500]
    await _tell(
        context, admin_chat, f"⚠️ Unhandled error (user {user}):\n<pre>{escape(detail)}</pre>"
    )
