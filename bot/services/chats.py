"""Chats, subscriptions, alert limits and broadcasts, without Telegram types.

What the /subscribe, /alerts, /link, /unlink and /broadcast handlers and the error handler
ask of storage. Every write runs through :meth:`bot.deps.Deps.run_storage` (off the event
loop); writes that touch several tables run in one transaction. Reads stay on the calling
(event-loop) thread.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime

import sqlite_utils

from bot.deps import Deps
from bot.parsing import ascii_decimal
from bot.scheduler.calendar import Frequency, ScheduleSpec, next_after
from bot.scheduler.dispatch import BROADCAST, DIGEST, OutgoingMessage, iso
from bot.services.paper import DRIFT_KEY
from bot.services.portfolio import UserInfo
from bot.telegram_text import shorten
from smallq.alerts import THRESHOLD_NAMES, AlertThresholds, parse_threshold, thresholds_for
from smallq.errors import InputError
from smallq.types import RiskLevel
from storage.db import transaction
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.subscriptions import (
    ChatRepository,
    ScheduleRecord,
    ScheduleRepository,
    ThresholdRepository,
)
from storage.users import UserRepository


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """The Telegram chat fields stored with a link."""

    id: int
    type: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class AlertLimits:
    """A user's alert limits: the effective thresholds, the user's overrides and drift band."""

    thresholds: AlertThresholds
    overrides: dict[str, float]
    drift: float


# --------------------------------------------------------------------------- reachability
async def migrate_chat(deps: Deps, old_id: int, new_id: int) -> None:
    """Move a group's links, schedules and pending sends to its new supergroup id."""
    now = deps.clock().astimezone(UTC).isoformat(timespec="seconds")
    await deps.run_storage(lambda db: ChatRepository(db).migrate(old_id, new_id, now=now))


async def mark_unreachable(deps: Deps, chat_id: int, reason: str) -> None:
    """Stop sending to a chat that blocked or removed the bot."""
    await deps.run_storage(lambda db: ChatRepository(db).mark_unreachable(chat_id, reason))


async def mark_reachable(deps: Deps, chat_id: int) -> None:
    """Send to a chat again (the bot was added back, or the user wrote again)."""
    await deps.run_storage(lambda db: ChatRepository(db).set_reachable(chat_id))


def is_reachable(deps: Deps, chat_id: int) -> bool:
    """Whether scheduled sends go to the chat."""
    return ChatRepository(deps.db()).is_reachable(chat_id)


# --------------------------------------------------------------------------- links
def linkable_portfolio(deps: Deps, user_id: int | None, portfolio_id: int) -> bool:
    """Whether ``user_id`` may link a chat to the portfolio: their own, or any for bot admins."""
    record = deps.portfolios().get(portfolio_id)
    is_bot_admin = user_id in deps.config.admin_ids
    return record is not None and (record.user_id == user_id or is_bot_admin)


def digest_spec(deps: Deps) -> ScheduleSpec:
    """When linked chats get their weekly digest (the configured day, time and zone)."""
    settings = deps.scheduler
    hour, minute = settings.link_time.split(":")
    return ScheduleSpec(
        Frequency.WEEKLY, settings.link_day, dtime(int(hour), int(minute)), deps.config.timezone
    )


async def link_chat(
    deps: Deps, chat: ChatInfo, linked_by: int | None, portfolio_id: int | None
) -> ScheduleSpec:
    """Link a chat to a portfolio and schedule its digest (one transaction); return when."""
    spec, now = digest_spec(deps), deps.clock()

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            ChatRepository(db).link(
                chat.id, chat_type=chat.type, title=chat.title,
                linked_by=linked_by, portfolio_id=portfolio_id, now=iso(now),
            )  # fmt: skip
            _store_schedule(db, chat.id, None, spec, now)

    await deps.run_storage(store)
    return spec


async def unlink_chat(deps: Deps, chat_id: int) -> bool:
    """Stop a chat's digests; return whether it was linked."""
    now = iso(deps.clock())
    return await deps.run_storage(lambda db: ChatRepository(db).unlink(chat_id, now=now))


def broadcast_targets(deps: Deps, user_id: int, *, admin: bool) -> tuple[int, ...]:
    """The linked chats a user may broadcast to: the ones they linked, or all for bot admins."""
    chats = ChatRepository(deps.db())
    links = chats.links() if admin else chats.links(linked_by=user_id)
    return tuple(link.chat_id for link in links)


async def enqueue_broadcast(
    deps: Deps, chat_ids: tuple[int, ...], message: OutgoingMessage, *, sender: int | None = None
) -> None:
    """Queue one message to each chat in the delivery ledger (one transaction).

    ``sender`` is stored as the delivery's user: a broadcast that fails tells them.
    """
    now = deps.clock()
    period = f"b{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

    def enqueue(db: sqlite_utils.Database) -> None:
        repo = DeliveryRepository(db)
        with transaction(db):
            if sender is not None:  # deliveries.user_id references users
                UserRepository(db).touch(sender)
            for chat_id in chat_ids:
                repo.enqueue(
                    NewOccurrence(chat_id, BROADCAST, period, iso(now), sender),
                    now=iso(now),
                    parts=[message.to_part()],
                )

    await deps.run_storage(enqueue)


# --------------------------------------------------------------------------- subscriptions
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


def subscription(deps: Deps, user_id: int) -> ScheduleRecord | None:
    """The user's active scheduled check, if any."""
    current = ScheduleRepository(deps.db()).get(user_id, DIGEST)
    return current if current is not None and current.active else None


async def subscribe(deps: Deps, user: UserInfo, spec: ScheduleSpec) -> None:
    """Store the user and their scheduled check (one transaction)."""
    now = deps.clock()

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            UserRepository(db).touch(user.id, username=user.username, first_name=user.first_name)
            _store_schedule(db, user.id, user.id, spec, now)

    await deps.run_storage(store)


async def unsubscribe(deps: Deps, user_id: int) -> int:
    """Stop the user's scheduled checks; return how many were active (0 or 1)."""
    return await deps.run_storage(lambda db: ScheduleRepository(db).deactivate(user_id, DIGEST))


# --------------------------------------------------------------------------- alert limits
ALERTS_USAGE = "Use /alerts, /alerts set <name> <value> or /alerts reset."
#: how /alerts set reads a value: one rule, whatever the size of the number
ALERTS_UNITS = (
    "Percent limits (var, cvar, drawdown, max_weight, drift) are in percent points: 3 or 3% "
    "is 3%, 0.5 is 0.5%. vol_spike is a ratio (1.8 or 1.8x); min_holdings and stale_days are "
    "whole numbers."
)
DRIFT_RANGE = (0.005, 0.5)
_SUFFIX = {"percent": "%", "ratio": "x", "count": ""}


def _drift(points: float) -> float:
    """The drift band from percent points (``4`` is 4%).

    Raises
    ------
    InputError
        Naming drift, when the band is not from 0.5% to 50%.
    """
    value = points / 100.0
    if not DRIFT_RANGE[0] <= value <= DRIFT_RANGE[1]:
        raise InputError("drift must be between 0.5% and 50%.", field="drift")
    return value


def _alert_value(name: str, text: str) -> tuple[str, float]:
    """(field, value) of ``/alerts set <name> <value>``; percent limits in percent points.

    ``0.5`` and ``0.5%`` are 0.5% for every percent limit (never 50%), so a value is read the
    same way whatever its size; ratios take an optional ``x``, counts no suffix.

    Raises
    ------
    InputError
        Unknown name; a value that is not a plain number with its unit, or out of range (with
        the unit rule and the usage line).
    """
    key = name.lower().replace("-", "_")
    if key != "drift" and key not in THRESHOLD_NAMES:
        return parse_threshold(name, text)  # raises: unknown alert, with the names
    kind = "percent" if key == "drift" else THRESHOLD_NAMES[key][1]
    raw = text.strip().lower()
    suffix = raw[-1:] if raw[-1:] in ("%", "x") else ""
    digits = raw.removesuffix(suffix).strip()
    points = ascii_decimal(digits)
    if points is None or suffix not in ("", _SUFFIX[kind]):
        raise InputError(
            f"{shorten(text)!r} is not a number I can use for {key}. {ALERTS_UNITS} {ALERTS_USAGE}"
        )
    try:
        if key == "drift":
            return DRIFT_KEY, _drift(points)
        return parse_threshold(key, digits + "%" if kind == "percent" else digits)
    except InputError as exc:
        raise InputError(f"{exc.user_message()} {ALERTS_UNITS} {ALERTS_USAGE}", field=key) from exc


def alert_limits(deps: Deps, user_id: int) -> AlertLimits:
    """The limits of the user's risk level with their overrides, and their drift band."""
    repo = ThresholdRepository(deps.db())
    profile = deps.users().get_profile(user_id)
    overrides = repo.overrides(user_id)
    drift = overrides.pop(DRIFT_KEY, deps.scheduler.drift_threshold)
    level = profile.risk_level if profile else RiskLevel.MODERATE
    return AlertLimits(thresholds_for(level, overrides), repo.overrides(user_id), drift)


async def change_alert_limits(deps: Deps, user_id: int, args: list[str]) -> None:
    """Apply ``/alerts`` arguments: nothing, ``reset``, or ``set <name> <value>``.

    Raises
    ------
    InputError
        When the arguments or the value are not understood (nothing is stored).
    """
    if not args:
        return
    if args == ["reset"]:
        await deps.run_storage(lambda db: ThresholdRepository(db).reset(user_id))
        return
    if len(args) != 3 or args[0] != "set":
        raise InputError(ALERTS_USAGE)
    name, text = args[1], args[2]
    if len(name) > 20 or not name.isascii():
        raise InputError(f"Unknown alert {shorten(name)!r}. {ALERTS_USAGE}")
    field, value = _alert_value(name, text)
    now = iso(deps.clock())

    def store(db: sqlite_utils.Database) -> None:
        with transaction(db):
            UserRepository(db).touch(user_id)
            ThresholdRepository(db).set(user_id, field, value, now=now)

    await deps.run_storage(store)
