"""Subscriptions, alert limits, linked chats and broadcasts.

* /subscribe weekly|monthly <day> <HH:MM> [Zone] — scheduled account checks (private chat);
  /unsubscribe stops them; /alerts lists limits and current alerts, ``/alerts set <name>
  <value>`` and ``/alerts reset`` change them.
* /link [portfolio id] and /unlink — in a group or channel, by its admins only: a member's
  status comes from getChatMember (administrator or creator); an anonymous admin posts as the
  group itself (``sender_chat == chat``); in a channel only admins can post at all. Messages
  sent on behalf of another chat (a linked channel's automatic forward) are refused.
* /broadcast [chat id] <text> — to the chats the sender linked; only bot admins
  (``SMALLQ_ADMIN_IDS``) may send to chats they did not link. A chat id is a negative number
  (groups and channels have negative ids), so a text starting with "2024" is just text.
  Broadcasts go through the delivery ledger like digests (rate limits, retries, 403 and
  migration handling).
* The bot's own membership changes (``my_chat_member``) mark chats unreachable or back; a
  group's migration to a supergroup (the ``migrate_to_chat_id`` service message) moves its
  links and schedules to the new id.

Storage work goes through :mod:`bot.services.chats`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time as dtime
from html import escape
from typing import TYPE_CHECKING

from telegram import Chat, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from bot.handlers.replies import best_effort, reply_html
from bot.parsing import ascii_int
from bot.ptb.membership import is_chat_admin
from bot.scheduler import jobs
from bot.scheduler.calendar import (
    Frequency,
    ScheduleSpec,
    describe,
    next_after,
    parse_schedule,
)
from bot.scheduler.dispatch import OutgoingMessage
from bot.services import chats
from bot.services.paper import assess_inputs, check_holdings_blocking
from bot.services.portfolio import UserInfo
from bot.telegram_text import MESSAGE_LIMIT, telegram_length
from bot.views.keyboards import (
    callback_value,
    subscribe_day_keyboard,
    subscribe_frequency_keyboard,
    subscribe_time_keyboard,
)
from bot.views.messages import split_blocks
from bot.views.texts import STALE_BUTTON
from bot.views.trading import alert_blocks, thresholds_blocks
from smallq.errors import InputError

if TYPE_CHECKING:
    from telegram.ext import Application

_LOG = logging.getLogger(__name__)
PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
IN_CHATS = (
    filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
) & ~filters.ChatType.PRIVATE
GONE_STATUSES = {ChatMemberStatus.BANNED, ChatMemberStatus.LEFT}
NOT_ADMIN = "Only this chat's admins can do that."
USE_IN_CHAT = "Send /link inside the group or channel (add me there first)."
SUBSCRIBE_HELP = (
    "Get a scheduled check of your paper portfolio: risk alerts and, when needed, rebalance "
    "signals. Tap how often below, or type it: <code>/subscribe weekly mon 09:00</code> or "
    "<code>/subscribe monthly 1 18:30 Europe/Berlin</code>"
)
BROADCAST_PREFIX = "📣 "
BROADCAST_USAGE = "Usage: <code>/broadcast [chat id] your text</code>"
LINK_USAGE = "Use /link, or /link <portfolio id> to follow one of your builds."
#: a first word that starts with a dash-like character and goes on in digits was meant as a
#: chat id ("−100…" with a Unicode minus, "–100", "-１００"); only ASCII "-123" is one
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
CHAT_ID_RANGE = (-(2**63), -1)


@dataclass(frozen=True, slots=True)
class ChatActor:
    """Who sent a command in a group or channel and was found to be its admin."""

    chat: Chat
    user_id: int | None
    kind: str  # "member", "anonymous_admin" or "channel"


async def chat_admin(update: Update, context: BotContext) -> ChatActor | None:
    """The sender, when they administer the chat the command was sent in; else ``None``."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or chat.type == Chat.PRIVATE:
        return None
    sender_chat = message.sender_chat
    if chat.type == Chat.CHANNEL:  # only a channel's admins can post in it
        return ChatActor(chat, None, "channel") if sender_chat in (None, chat) else None
    if sender_chat is not None:  # anonymous admin: posts as the group itself
        return ChatActor(chat, None, "anonymous_admin") if sender_chat.id == chat.id else None
    if message.from_user is None:
        return None
    admin = await is_chat_admin(context.bot, chat.id, message.from_user.id)
    return ChatActor(chat, message.from_user.id, "member") if admin else None


def _portfolio_arg(context: BotContext, actor: ChatActor) -> int | None:
    args = context.args or []
    if not args:
        return None
    portfolio_id = ascii_int(args[0], 1, 2**63 - 1) if len(args) == 1 else None
    if portfolio_id is None:
        raise InputError(LINK_USAGE)
    if not chats.linkable_portfolio(context.deps, actor.user_id, portfolio_id):
        raise InputError("I can only link a portfolio that you built yourself.")
    return portfolio_id


async def link_command(update: Update, context: BotContext) -> None:
    """Link this group or channel to a model portfolio's weekly digest (admins only)."""
    actor = await chat_admin(update, context)
    if actor is None:
        chat = update.effective_chat
        await reply_html(
            update, context, USE_IN_CHAT if chat and chat.type == Chat.PRIVATE else NOT_ADMIN
        )
        return
    portfolio_id = _portfolio_arg(context, actor)
    where = chats.ChatInfo(actor.chat.id, actor.chat.type, actor.chat.title)
    spec = await chats.link_chat(context.deps, where, actor.user_id, portfolio_id)
    followed = f"portfolio #{portfolio_id}" if portfolio_id else "the smallQ model portfolio"
    await reply_html(
        update,
        context,
        f"Linked: this chat follows {followed} and gets a digest "
        f"{escape(describe(spec))}. /unlink to stop.",
    )


async def unlink_command(update: Update, context: BotContext) -> None:
    """Stop this chat's digests (admins only)."""
    actor = await chat_admin(update, context)
    if actor is None:
        await reply_html(update, context, NOT_ADMIN)
        return
    done = await chats.unlink_chat(context.deps, actor.chat.id)
    await reply_html(
        update, context, "Unlinked: no more digests here." if done else "This chat was not linked."
    )


async def broadcast_command(update: Update, context: BotContext) -> None:
    """Queue a message to linked chats: your own, or any chat for bot admins."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    args = list(context.args or [])
    target: int | None = None
    if args and _looks_like_chat_id(args[0]):
        target = ascii_int(args[0], *CHAT_ID_RANGE)
        if target is None:
            await reply_html(
                update, context, "That is not a chat id: a chat id is a negative number in "
                f"plain digits, such as -1001234567890. Nothing was sent.\n{BROADCAST_USAGE}",
            )  # fmt: skip
            return
        args.pop(0)
    text = " ".join(args).strip()
    if not text:
        await reply_html(update, context, BROADCAST_USAGE)
        return
    body = BROADCAST_PREFIX + escape(text)
    length = telegram_length(body)
    if length > MESSAGE_LIMIT:
        await reply_html(
            update, context, f"Too long: {length} characters as Telegram counts them, at most "
            f"{MESSAGE_LIMIT}. Nothing was sent.",
        )  # fmt: skip
        return
    admin = user.id in deps.config.admin_ids
    chat_ids = chats.broadcast_targets(deps, user.id, admin=admin)
    if not admin:  # rights are checked now, not only at /link: a demoted linker loses them
        chat_ids = await _still_admin_in(context, chat_ids, user.id)
    if target is not None:
        if not admin and target not in chat_ids:
            await reply_html(
                update, context, "Only bot admins can broadcast to chats you did not link yourself."
            )
            return
        chat_ids = tuple(chat_id for chat_id in chat_ids if chat_id == target)
    if not chat_ids:
        await reply_html(
            update,
            context,
            "No linked chat to send to. Link one with /link inside a group or channel.",
        )
        return
    await chats.enqueue_broadcast(deps, chat_ids, OutgoingMessage(body), sender=user.id)
    jobs.kick(context.application)
    await reply_html(update, context, f"Queued for {len(chat_ids)} chat(s).")


def _looks_like_chat_id(word: str) -> bool:
    """Whether the first word was meant as a chat id: a dash of any kind, then digits."""
    return len(word) > 1 and word[0] in _DASHES and all(c.isdigit() for c in word[1:])


async def _still_admin_in(
    context: BotContext, chat_ids: tuple[int, ...], user_id: int
) -> tuple[int, ...]:
    """The chats where the user is still an admin (asked of Telegram now)."""
    kept = []
    for chat_id in chat_ids:
        if await is_chat_admin(context.bot, chat_id, user_id):
            kept.append(chat_id)
        else:
            _LOG.info("broadcast of %s to %s refused: no longer an admin", user_id, chat_id)
    return tuple(kept)


async def subscribe_command(update: Update, context: BotContext) -> None:
    """Schedule weekly or monthly checks in the user's timezone."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    if not context.args:
        current = chats.subscription(deps, user.id)
        state = (
            f"Now: {current.frequency} at {current.local_time} ({current.timezone})."
            if current
            else "You are not subscribed."
        )
        markup = subscribe_frequency_keyboard()
        await reply_html(update, context, f"{SUBSCRIBE_HELP}\n\n{escape(state)}", markup)
        return
    try:
        spec = parse_schedule(context.args, deps.config.timezone)
    except InputError as exc:
        await reply_html(update, context, escape(exc.user_message()))
        return
    await reply_html(update, context, await _subscribe(context, update, spec))


async def _subscribe(context: BotContext, update: Update, spec: ScheduleSpec) -> str:
    """Store the schedule and return the confirmation text (HTML)."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    await chats.subscribe(deps, UserInfo(user.id, user.username, user.first_name), spec)
    first = next_after(spec, deps.clock()).local
    rule = (
        "calendar rebalance: signals whenever there is drift"
        if spec.frequency is Frequency.MONTHLY
        else "signals when drift reaches your band (see /alerts)"
    )
    return (
        f"Subscribed: {escape(describe(spec))}, {rule}. First "
        f"check {first:%a %d %b %H:%M}. /unsubscribe to stop."
    )


async def on_subscribe_button(update: Update, context: BotContext) -> None:
    """/subscribe by buttons: frequency, then day, then time (private chats only)."""
    query = update.callback_query
    assert query is not None
    chat = update.effective_chat
    parts = (callback_value(query.data, "sub") or "").split(":")
    frequency = parts[0] if parts[0] in ("weekly", "monthly") else None
    high = 6 if frequency == "weekly" else 31
    low = 0 if frequency == "weekly" else 1
    day = ascii_int(parts[1], low, high) if len(parts) > 1 else None
    at = _button_time(parts[2]) if len(parts) > 2 else None
    if chat is None or chat.type != Chat.PRIVATE or frequency is None or len(parts) > 3 or (
        len(parts) > 1 and day is None) or (len(parts) > 2 and at is None):
        await query.answer(STALE_BUTTON)
        return
    await query.answer()
    if day is None:
        markup, question = subscribe_day_keyboard(frequency), "Which day?"
    elif at is None:
        markup, question = subscribe_time_keyboard(frequency, day), "At what time?"
    else:
        current = chats.subscription(context.deps, chat.id)
        zone = current.timezone if current else context.deps.config.timezone
        spec = ScheduleSpec(Frequency(frequency), day, at, zone)
        done = await _subscribe(context, update, spec)
        if not await best_effort(query.edit_message_text(done, parse_mode="HTML"), "subscribe"):
            await reply_html(update, context, done)
        return
    shown = query.message
    if isinstance(shown, Message) and shown.text == question and shown.reply_markup == markup:
        return  # a second tap on the same step: Telegram refuses an identical edit
    if not await best_effort(query.edit_message_text(question, reply_markup=markup), "subscribe"):
        await reply_html(update, context, question, markup)


def _button_time(text: str) -> dtime | None:
    if len(text) != 4:
        return None
    hours, minutes = ascii_int(text[:2], 0, 23), ascii_int(text[2:], 0, 59)
    return dtime(hours, minutes) if hours is not None and minutes is not None else None


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """Stop the user's scheduled checks."""
    assert update.effective_user is not None
    done = await chats.unsubscribe(context.deps, update.effective_user.id)
    await reply_html(
        update,
        context,
        "Unsubscribed: no more scheduled checks." if done else "You had no active subscription.",
    )


async def alerts_command(update: Update, context: BotContext) -> None:
    """List alert limits and current alerts; ``set <name> <value>`` or ``reset`` them."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    args = list(context.args or [])
    try:
        await chats.change_alert_limits(deps, user.id, args)
    except InputError as exc:
        await reply_html(update, context, escape(exc.user_message()))
        return
    limits = chats.alert_limits(deps, user.id)
    blocks = thresholds_blocks(limits.thresholds, limits.overrides, limits.drift)
    inputs = assess_inputs(deps, user.id, calendar_due=False)
    if inputs is not None and not args:
        check, _ = await deps.run_blocking(check_holdings_blocking, deps, inputs)
        blocks += [
            f"<b>Now</b> (prices as of {check.as_of.isoformat()})",
            *alert_blocks(check.alerts),
        ]
    await reply_html(update, context, split_blocks(blocks))


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """Track whether the bot can still reach a chat (blocked, kicked, added back)."""
    change = update.my_chat_member
    if change is None:
        return
    chat_id, status = change.chat.id, change.new_chat_member.status
    if status in GONE_STATUSES:
        await chats.mark_unreachable(context.deps, chat_id, f"bot {status}")
    else:
        await chats.mark_reachable(context.deps, chat_id)


async def on_chat_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup: its links, schedules and pending sends follow it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if message.migrate_to_chat_id:  # sent in the old group
        await chats.migrate_chat(context.deps, chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:  # sent in the new supergroup
        await chats.migrate_chat(context.deps, message.migrate_from_chat_id, chat.id)


async def on_any_private_update(update: Update, context: BotContext) -> None:
    """A user who writes again after blocking the bot is reachable again."""
    chat = update.effective_chat
    if chat is not None and chat.type == Chat.PRIVATE:
        if not chats.is_reachable(context.deps, chat.id):
            await chats.mark_reachable(context.deps, chat.id)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the subscription, alert, link and broadcast handlers."""
    for name, callback in (
        ("subscribe", subscribe_command),
        ("unsubscribe", unsubscribe_command),
        ("alerts", alerts_command),
        ("broadcast", broadcast_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_subscribe_button, pattern=r"^sub:"))
    application.add_handler(CommandHandler("link", link_command, filters=IN_CHATS | PRIVATE))
    application.add_handler(CommandHandler("unlink", unlink_command, filters=IN_CHATS))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_chat_migrated))
    # before the handlers (group 0): a 403 while answering marks the chat unreachable again
    application.add_handler(TypeHandler(Update, on_any_private_update), group=-1)
