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

Writes go through :meth:`~bot.deps.Deps.run_storage` (off the event loop).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from html import escape
from typing import TYPE_CHECKING

import sqlite_utils
from telegram import Chat, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import ChatMemberHandler, CommandHandler, MessageHandler, TypeHandler, filters

from bot.context import BotContext
from bot.scheduler import jobs
from bot.scheduler.calendar import Frequency, ScheduleSpec, describe, next_after, parse_schedule
from bot.scheduler.dispatch import BROADCAST, DIGEST, OutgoingMessage, iso
from bot.services.paper import DRIFT_KEY, assess_inputs, check_holdings_blocking
from bot.services.portfolio import migrate_chat
from bot.views.messages import split_blocks
from bot.views.replies import reply_html
from bot.views.trading import alert_blocks, thresholds_blocks
from smallq.alerts import parse_threshold, thresholds_for
from smallq.errors import InputError
from smallq.types import RiskLevel
from storage.db import transaction
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.subscriptions import ChatRepository, ScheduleRepository, ThresholdRepository
from storage.users import UserRepository

if TYPE_CHECKING:
    from telegram.ext import Application

_LOG = logging.getLogger(__name__)
PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
IN_CHATS = (
    filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
) & ~filters.ChatType.PRIVATE
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
GONE_STATUSES = {ChatMemberStatus.BANNED, ChatMemberStatus.LEFT}
NOT_ADMIN = "Only this chat's admins can do that."
USE_IN_CHAT = "Send /link inside the group or channel (add me there first)."
SUBSCRIBE_HELP = (
    "Get a scheduled check of your paper portfolio: risk alerts and, when needed, rebalance "
    "signals.\n<code>/subscribe weekly mon 09:00</code> or "
    "<code>/subscribe monthly 1 18:30 Europe/Berlin</code>"
)
BROADCAST_PREFIX = "📣 "
MESSAGE_LIMIT = 4096


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
    try:
        member = await context.bot.get_chat_member(chat.id, message.from_user.id)
    except TelegramError:
        _LOG.info("getChatMember failed in chat %s", chat.id, exc_info=True)
        return None
    return (
        ChatActor(chat, message.from_user.id, "member") if member.status in ADMIN_STATUSES else None
    )


def _portfolio_arg(context: BotContext, actor: ChatActor) -> int | None:
    args = context.args or []
    if not args:
        return None
    if not args[0].isdigit():
        raise InputError("Use /link, or /link <portfolio id> to follow one of your builds.")
    record = context.deps.portfolios().get(int(args[0]))
    is_bot_admin = actor.user_id in context.deps.config.admin_ids
    if record is None or (record.user_id != actor.user_id and not is_bot_admin):
        raise InputError("I can only link a portfolio that you built yourself.")
    return int(args[0])


async def link_command(update: Update, context: BotContext) -> None:
    """Link this group or channel to a model portfolio's weekly digest (admins only)."""
    actor = await chat_admin(update, context)
    if actor is None:
        chat = update.effective_chat
        await reply_html(
            update, context, USE_IN_CHAT if chat and chat.type == Chat.PRIVATE else NOT_ADMIN
        )
        return
    deps, settings = context.deps, context.deps.scheduler
    portfolio_id = _portfolio_arg(context, actor)
    hour, minute = settings.link_time.split(":")
    spec = ScheduleSpec(
        Frequency.WEEKLY, settings.link_day, dtime(int(hour), int(minute)), deps.config.timezone
    )
    now = deps.clock()

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            ChatRepository(db).link(
                actor.chat.id, chat_type=actor.chat.type, title=actor.chat.title,
                linked_by=actor.user_id, portfolio_id=portfolio_id, now=iso(now),
            )  # fmt: skip
            _store_schedule(db, actor.chat.id, None, spec, now)

    await deps.run_storage(store)
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
    chat_id, now = actor.chat.id, iso(context.deps.clock())
    done = await context.deps.run_storage(lambda db: ChatRepository(db).unlink(chat_id, now=now))
    await reply_html(
        update, context, "Unlinked: no more digests here." if done else "This chat was not linked."
    )


async def broadcast_command(update: Update, context: BotContext) -> None:
    """Queue a message to linked chats: your own, or any chat for bot admins."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    args = list(context.args or [])
    target = int(args.pop(0)) if args and re.fullmatch(r"-\d+", args[0]) else None
    text = " ".join(args).strip()
    if not text:
        await reply_html(update, context, "Usage: <code>/broadcast [chat id] your text</code>")
        return
    body = BROADCAST_PREFIX + escape(text)
    if len(body) > MESSAGE_LIMIT:
        await reply_html(
            update, context, f"Too long: {len(body)} characters with formatting, at most "
            f"{MESSAGE_LIMIT}. Nothing was sent.",
        )  # fmt: skip
        return
    admin = user.id in deps.config.admin_ids
    chats = ChatRepository(deps.db())
    links = chats.links() if admin else chats.links(linked_by=user.id)
    if target is not None:
        if not admin and target not in {link.chat_id for link in links}:
            await reply_html(
                update, context, "Only bot admins can broadcast to chats you did not link yourself."
            )
            return
        links = [link for link in links if link.chat_id == target]
    if not links:
        await reply_html(
            update,
            context,
            "No linked chat to send to. Link one with /link inside a group or channel.",
        )
        return
    message = OutgoingMessage(body)
    now, period = deps.clock(), f"b{deps.clock():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

    def enqueue(db: sqlite_utils.Database) -> None:
        repo = DeliveryRepository(db)
        with transaction(db):
            for link in links:
                repo.enqueue(
                    NewOccurrence(link.chat_id, BROADCAST, period, iso(now), None),
                    now=iso(now),
                    parts=[message.to_part()],
                )

    await deps.run_storage(enqueue)
    jobs.kick(context.application)
    await reply_html(update, context, f"Queued for {len(links)} chat(s).")


def _store_schedule(
    db: sqlite_utils.Database,
    chat_id: int,
    user_id: int | None,
    spec: ScheduleSpec,
    now: datetime,
) -> None:
    """Save the chat's digest schedule and mark the chat reachable (one transaction)."""
    with transaction(db):
        ScheduleRepository(db).upsert(
            chat_id, DIGEST, frequency=spec.frequency.value, day=spec.day,
            local_time=spec.at.strftime("%H:%M"), timezone=spec.timezone,
            next_due_at=iso(next_after(spec, now).due_at), user_id=user_id,
            rule="calendar" if spec.frequency is Frequency.MONTHLY else "drift", now=iso(now),
        )  # fmt: skip
        ChatRepository(db).set_reachable(chat_id, now=iso(now))


async def subscribe_command(update: Update, context: BotContext) -> None:
    """Schedule weekly or monthly checks in the user's timezone."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    if not context.args:
        current = ScheduleRepository(deps.db()).get(user.id, DIGEST)
        state = (
            f"Now: {current.frequency} at {current.local_time} ({current.timezone})."
            if current and current.active
            else "You are not subscribed."
        )
        await reply_html(update, context, f"{SUBSCRIBE_HELP}\n\n{escape(state)}")
        return
    try:
        spec = parse_schedule(context.args, deps.config.timezone)
    except InputError as exc:
        await reply_html(update, context, escape(exc.user_message()))
        return
    now = deps.clock()

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            UserRepository(db).touch(user.id, username=user.username, first_name=user.first_name)
            _store_schedule(db, user.id, user.id, spec, now)

    await deps.run_storage(store)
    first = next_after(spec, now).local
    rule = (
        "calendar rebalance: signals whenever there is drift"
        if spec.frequency is Frequency.MONTHLY
        else "signals when drift reaches your band (see /alerts)"
    )
    await reply_html(
        update,
        context,
        f"Subscribed: {escape(describe(spec))}, {rule}. First "
        f"check {first:%a %d %b %H:%M}. /unsubscribe to stop.",
    )


async def unsubscribe_command(update: Update, context: BotContext) -> None:
    """Stop the user's scheduled checks."""
    assert update.effective_user is not None
    user_id = update.effective_user.id
    done = await context.deps.run_storage(
        lambda db: ScheduleRepository(db).deactivate(user_id, DIGEST)
    )
    await reply_html(
        update,
        context,
        "Unsubscribed: no more scheduled checks." if done else "You had no active subscription.",
    )


async def alerts_command(update: Update, context: BotContext) -> None:
    """List alert limits and current alerts; ``set <name> <value>`` or ``reset`` them."""
    deps, user = context.deps, update.effective_user
    assert user is not None
    args, repo = list(context.args or []), ThresholdRepository(deps.db())
    try:
        await _change_thresholds(context, user.id, args)
    except InputError as exc:
        await reply_html(update, context, escape(exc.user_message()))
        return
    profile = deps.users().get_profile(user.id)
    overrides = repo.overrides(user.id)
    drift = overrides.pop(DRIFT_KEY, deps.scheduler.drift_threshold)
    level = profile.risk_level if profile else RiskLevel.MODERATE
    blocks = thresholds_blocks(thresholds_for(level, overrides), repo.overrides(user.id), drift)
    inputs = assess_inputs(deps, user.id, calendar_due=False)
    if inputs is not None and not args:
        check, _ = await deps.run_blocking(check_holdings_blocking, deps, inputs)
        blocks += [
            f"<b>Now</b> (prices as of {check.as_of.isoformat()})",
            *alert_blocks(check.alerts),
        ]
    await reply_html(update, context, split_blocks(blocks))


async def _change_thresholds(context: BotContext, user_id: int, args: list[str]) -> None:
    deps = context.deps
    if not args:
        return
    if args == ["reset"]:
        await deps.run_storage(lambda db: ThresholdRepository(db).reset(user_id))
        return
    if len(args) != 3 or args[0] != "set":
        raise InputError("Use /alerts, /alerts set <name> <value> or /alerts reset.")
    if args[1].lower() == "drift":
        field, value = DRIFT_KEY, parse_threshold("var", args[2])[1]
        if not 0.005 <= value <= 0.5:
            raise InputError("drift must be between 0.5% and 50%.")
    else:
        field, value = parse_threshold(args[1], args[2])
    now = iso(deps.clock())

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            UserRepository(db).touch(user_id)
            ThresholdRepository(db).set(user_id, field, value, now=now)

    await deps.run_storage(store)


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """Track whether the bot can still reach a chat (blocked, kicked, added back)."""
    change = update.my_chat_member
    if change is None:
        return
    chat_id, status = change.chat.id, change.new_chat_member.status

    def store(db: sqlite_utils.Database) -> None:
        if status in GONE_STATUSES:
            ChatRepository(db).mark_unreachable(chat_id, f"bot {status}")
        else:
            ChatRepository(db).set_reachable(chat_id)

    await context.deps.run_storage(store)


async def on_chat_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup: its links, schedules and pending sends follow it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if message.migrate_to_chat_id:  # sent in the old group
        await migrate_chat(context.deps, chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:  # sent in the new supergroup
        await migrate_chat(context.deps, message.migrate_from_chat_id, chat.id)


async def on_any_private_update(update: Update, context: BotContext) -> None:
    """A user who writes again after blocking the bot is reachable again."""
    chat = update.effective_chat
    if chat is not None and chat.type == Chat.PRIVATE:
        chat_id = chat.id
        if not ChatRepository(context.deps.db()).is_reachable(chat_id):
            await context.deps.run_storage(lambda db: ChatRepository(db).set_reachable(chat_id))


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the subscription, alert, link and broadcast handlers."""
    for name, callback in (
        ("subscribe", subscribe_command),
        ("unsubscribe", unsubscribe_command),
        ("alerts", alerts_command),
        ("broadcast", broadcast_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=PRIVATE))
    application.add_handler(CommandHandler("link", link_command, filters=IN_CHATS | PRIVATE))
    application.add_handler(CommandHandler("unlink", unlink_command, filters=IN_CHATS))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_chat_migrated))
    # before the handlers (group 0): a 403 while answering marks the chat unreachable again
    application.add_handler(TypeHandler(Update, on_any_private_update), group=-1)
