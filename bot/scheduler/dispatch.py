"""The send loop: plan what is due, lease it, build it once, send it, record it.

One :meth:`Dispatcher.tick`:

1. **Plan** (:meth:`Dispatcher.plan`). The database answers "what is due?"
   (``schedules.next_due_at <= now``). For each due schedule the occurrences since its
   ``next_due_at`` are computed (:mod:`bot.scheduler.calendar`); the latest one still inside the
   grace window is inserted as ``due``, older ones as ``skipped`` ("missed"), and ``next_due_at``
   moves past ``now`` — all in one transaction, keyed UNIQUE (chat, kind, period).
2. **Deliver** (:meth:`Dispatcher.deliver`). Due rows are leased; a row whose lease expired
   (its dispatcher died mid-send) is leased again. Content is built once through the injected
   :class:`ContentBuilder` and stored as parts; each part is marked sent when Telegram accepts
   it. See :mod:`storage.deliveries` for the exactly-once-except-one-part semantics.

Telegram errors: 403 ``Forbidden`` → the chat is marked unreachable and skipped from then on;
``ChatMigrated`` → links, schedules and pending sends move to the new id and the part is sent
there; timeouts and network errors → retry later, at most ``max_attempts`` times, except a
*broadcast* that timed out: Telegram may have accepted it, so it is not sent again (no
duplicate in the group) and its sender is told to check; a broadcast that fails for good
tells its sender too. A scheduled digest that timed out is retried (the README's duplicate
window: losing a scheduled check is worse than sending one part twice). A delivery
whose schedule was stopped (/unsubscribe, /unlink) before its first part went out is skipped.

Flood limits are the application's ``AIORateLimiter``'s job: :class:`BotSender` sends through
the application's bot, so sends are paced (30/s overall, 20/min per group) and a 429 is
waited out for ``retry_after`` and retried (``SMALLQ_RATE_LIMIT_RETRIES`` times). A
``RetryAfter`` that still reaches the dispatcher (the limiter gave up) releases the row with a
``not_before`` of ``retry_after``: a later tick sends it, nothing is lost.

SQLite locks: the dispatcher runs on the event loop. In the application its connection has a
short busy timeout (:data:`bot.scheduler.jobs.DISPATCH_BUSY_TIMEOUT_S`), and each write that
finds the database locked is retried after ``await asyncio.sleep`` for up to ``lock_wait_s``, so
a lock held by another process never freezes the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any, Protocol, TypeVar

import sqlite_utils
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.scheduler.calendar import (
    Clock,
    Frequency,
    ScheduleSpec,
    next_after,
    occurrences_between,
    system_clock,
    within_grace,
)
from bot.telegram_text import CAPTION_LIMIT, MESSAGE_LIMIT, shorten, telegram_length
from smallq.errors import DatabaseLockedError, InputError, SmallQError
from storage.deliveries import DeliveryRecord, DeliveryRepository, NewOccurrence, PartRecord
from storage.subscriptions import ChatRepository, ScheduleRecord, ScheduleRepository

_LOG = logging.getLogger(__name__)

DIGEST = "digest"
BROADCAST = "broadcast"
LOCK_RETRY_S = 0.05
BROADCAST_TIMED_OUT = (
    "Telegram did not answer in time; it may or may not have arrived, and it is not sent "
    "again so that no chat gets it twice: check the chat and send it again if needed"
)
#: a group migrates once; a second ChatMigrated for the same part is not followed again
MAX_MIGRATIONS = 2
T = TypeVar("T")
Buttons = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message: text (or a photo with ``text`` as its caption) and inline buttons."""

    text: str = ""
    photo: bytes | None = None
    parse_mode: str | None = "HTML"
    buttons: Buttons = ()

    def __post_init__(self) -> None:
        limit = CAPTION_LIMIT if self.photo is not None else MESSAGE_LIMIT
        length = telegram_length(self.text, self.parse_mode)
        if length > limit or (self.photo is None and not self.text.strip()):
            raise ValueError(f"message text must be 1..{limit} characters as Telegram counts")

    def to_part(self) -> tuple[dict[str, Any], bytes | None]:
        """The stored form (JSON body, photo bytes)."""
        body = {
            "text": self.text,
            "parse_mode": self.parse_mode,
            "buttons": [[list(b) for b in row] for row in self.buttons],
        }
        return body, self.photo

    @classmethod
    def from_part(cls, part: PartRecord) -> OutgoingMessage:
        """Rebuild a message from its stored part."""
        buttons = tuple(tuple((str(t), str(d)) for t, d in row) for row in part.body["buttons"])
        return cls(part.body["text"], part.photo, part.body["parse_mode"], buttons)


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """What the content builder is asked to write."""

    delivery_id: int
    chat_id: int
    kind: str
    period: str
    due_at: datetime
    user_id: int | None
    schedule_id: int | None


class Sender(Protocol):
    """Sends one message and returns its message id; raises ``telegram.error`` exceptions."""

    async def send(self, chat_id: int, message: OutgoingMessage) -> int | None: ...


class ContentBuilder(Protocol):
    """Writes a delivery's messages (an empty list means "nothing to send")."""

    async def __call__(self, target: DeliveryTarget) -> Sequence[OutgoingMessage]: ...


class BotSender:
    """:class:`Sender` over a python-telegram-bot ``Bot`` (its rate limiter applies)."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, chat_id: int, message: OutgoingMessage) -> int | None:
        """Send a text or photo message with its inline keyboard."""
        markup = None
        if message.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(t, callback_data=d) for t, d in row]
                    for row in message.buttons
                ]
            )
        if message.photo is not None:
            sent = await self.bot.send_photo(
                chat_id,
                photo=message.photo,
                caption=message.text or None,
                parse_mode=message.parse_mode,
                reply_markup=markup,
            )
        else:
            sent = await self.bot.send_message(
                chat_id, message.text, parse_mode=message.parse_mode, reply_markup=markup
            )
        return int(sent.message_id)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """Knobs of the send loop."""

    grace: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=10)
    max_attempts: int = 3
    batch_size: int = 100
    retry_backoff: timedelta = timedelta(minutes=2)
    lock_wait_s: float = 30.0


@dataclass(slots=True)
class DispatchStats:
    """What one tick did."""

    planned: int = 0
    missed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)


def spec_of(schedule: ScheduleRecord) -> ScheduleSpec:
    """The schedule arithmetic view of a stored schedule."""
    hour, minute = (int(x) for x in schedule.local_time.split(":"))
    return ScheduleSpec(
        Frequency(schedule.frequency), schedule.day, dtime(hour, minute), schedule.timezone
    )


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with seconds: the storage format whose text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Dispatcher:
    """Plans and delivers due work on one database connection."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        sender: Sender,
        builder: ContentBuilder,
        *,
        clock: Clock = system_clock,
        settings: DispatchSettings | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.builder = builder
        self.clock = clock
        self.settings = settings or DispatchSettings()
        self.deliveries = DeliveryRepository(db)
        self.schedules = ScheduleRepository(db)
        self.chats = ChatRepository(db)
        self._lock = asyncio.Lock()

    async def tick(self) -> DispatchStats:
        """Plan, then deliver (one tick at a time per dispatcher)."""
        async with self._lock:
            stats = DispatchStats()
            await self.plan(stats)
            await self.deliver(stats)
            return stats

    async def _write(self, func: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a storage write; while the database is locked, sleep (async) and try again."""
        deadline = time.monotonic() + self.settings.lock_wait_s
        while True:
            try:
                return func(*args, **kw)
            except DatabaseLockedError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(LOCK_RETRY_S)

    # ------------------------------------------------------------------ plan
    async def plan(self, stats: DispatchStats | None = None) -> DispatchStats:
        """Record the occurrences of every due schedule and advance the schedules."""
        stats = stats if stats is not None else DispatchStats()
        now = self.clock()
        for schedule in self.schedules.due(iso(now)):
            try:
                spec = spec_of(schedule)
            except (InputError, ValueError):
                _LOG.error("schedule %s is unreadable; deactivated", schedule.id)
                await self._write(
                    self.schedules.deactivate, schedule.chat_id, schedule.kind, now=iso(now),
                    reason="schedule unreadable",
                )  # fmt: skip
                continue
            start = datetime.fromisoformat(schedule.next_due_at)
            found = occurrences_between(spec, start, now)
            items = []
            for index, occurrence in enumerate(found):
                fresh = index == len(found) - 1 and within_grace(
                    occurrence.due_at, now, self.settings.grace
                )
                items.append(
                    NewOccurrence(
                        schedule.chat_id,
                        schedule.kind,
                        occurrence.period,
                        iso(occurrence.due_at),
                        schedule.user_id,
                        "due" if fresh else "skipped",
                        None
                        if fresh
                        else "missed: the bot was not running within the grace window",
                    )
                )
                stats.planned += fresh
                stats.missed += not fresh
            next_due = iso(next_after(spec, now).due_at)
            await self._write(
                self.deliveries.record_due,
                schedule.id,
                schedule.next_due_at,
                items,
                next_due,
                now=iso(now),
            )
        return stats

    # ------------------------------------------------------------------ deliver
    async def deliver(self, stats: DispatchStats | None = None) -> DispatchStats:
        """Lease due deliveries and send them."""
        stats = stats if stats is not None else DispatchStats()
        now = self.clock()
        batch = await self._write(
            self.deliveries.acquire,
            now=iso(now),
            lease_until=iso(now + self.settings.lease),
            max_attempts=self.settings.max_attempts,
            limit=self.settings.batch_size,
        )
        for record in batch:
            outcome = await self._deliver_one(record)
            setattr(stats, outcome, getattr(stats, outcome) + 1)
        return stats

    async def _deliver_one(self, record: DeliveryRecord) -> str:
        assert record.owner is not None
        parts = self.deliveries.parts(record.id)
        if not any(p.sent_at for p in parts):
            reason = self._reason_to_skip(record)
            if reason is not None:
                return await self._finish(record, "skipped", reason)
        if not parts:
            messages = await self._build(record)
            if messages is None:
                return "released"
            if not messages:
                return await self._finish(record, "skipped", "nothing to send")
            parts = await self._write(
                self.deliveries.save_parts, record.id, record.owner, [m.to_part() for m in messages]
            )
        for part in parts:
            if part.sent_at is None:
                outcome = await self._send_part(record, part)
                if outcome != "sent":
                    return outcome
        return await self._finish(record, "sent", None)

    def _reason_to_skip(self, record: DeliveryRecord) -> str | None:
        """Why a delivery that has sent nothing yet should not start, or ``None``."""
        due_at = datetime.fromisoformat(record.due_at)
        if not within_grace(due_at, max(self.clock(), due_at), self.settings.grace):
            return "missed: past the grace window"
        if not self.chats.is_reachable(record.chat_id):
            return "chat unreachable"
        if record.schedule_id is not None:
            schedule = self.schedules.by_id(record.schedule_id)
            if schedule is None or not schedule.active:
                return "unsubscribed"
        return None

    async def _build(self, record: DeliveryRecord) -> Sequence[OutgoingMessage] | None:
        target = DeliveryTarget(
            record.id,
            record.chat_id,
            record.kind,
            record.period,
            datetime.fromisoformat(record.due_at),
            record.user_id,
            record.schedule_id,
        )
        try:
            return list(await self.builder(target))
        except SmallQError as exc:
            if exc.retryable:
                await self._release(record, f"content: {exc}")
                return None
            return [
                OutgoingMessage(
                    f"I couldn't prepare this update: {exc.user_message()}", parse_mode=None
                )
            ]
        except Exception as exc:
            _LOG.exception("building delivery %s failed", record.id)
            await self._release(record, f"content error: {type(exc).__name__}")
            return None

    async def _send_part(self, record: DeliveryRecord, part: PartRecord) -> str:
        message = OutgoingMessage.from_part(part)
        chat_id = self.deliveries.current_chat(record.id)
        owner = record.owner or ""
        for _ in range(MAX_MIGRATIONS + 1):
            try:
                message_id = await self.sender.send(chat_id, message)
            except RetryAfter as exc:  # the application's rate limiter gave up on it
                wait = timedelta(seconds=_retry_seconds(exc))
                return await self._release(record, "flood wait", wait)
            except ChatMigrated as exc:
                await self._write(
                    self.chats.migrate, chat_id, exc.new_chat_id, now=iso(self.clock())
                )
                chat_id = exc.new_chat_id
                continue
            except Forbidden as exc:
                await self._write(
                    self.chats.mark_unreachable, chat_id, f"forbidden: {exc}", now=iso(self.clock())
                )
                return await self._finish(record, "failed", f"forbidden: {exc}")
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    await self._write(
                        self.chats.mark_unreachable, chat_id, str(exc), now=iso(self.clock())
                    )
                return await self._finish(record, "failed", f"bad request: {exc}")
            except TimedOut:
                if record.kind == BROADCAST:  # it may have arrived: never sent twice
                    return await self._finish(record, "failed", BROADCAST_TIMED_OUT)
                return await self._release(record, "network: TimedOut")  # see the README
            except NetworkError as exc:
                if record.kind == BROADCAST and record.attempts >= self.settings.max_attempts:
                    return await self._finish(record, "failed", f"network: {exc}")
                return await self._release(record, f"network: {type(exc).__name__}")
            now = self.clock()
            kept = await self._write(
                self.deliveries.mark_part_sent,
                record.id,
                part.seq,
                owner,
                message_id=message_id,
                now=iso(now),
                lease_until=iso(now + self.settings.lease),
            )
            return "sent" if kept else "released"
        return await self._release(record, "chat migrated too often")

    async def _finish(self, record: DeliveryRecord, status: str, reason: str | None) -> str:
        await self._write(
            self.deliveries.finish,
            record.id,
            record.owner or "",
            status,
            now=iso(self.clock()),
            reason=reason,
        )
        if record.kind == BROADCAST and status != "sent" and record.user_id is not None:
            await self._tell_sender(record, reason or status)
        return status

    async def _tell_sender(self, record: DeliveryRecord, reason: str) -> None:
        """A broadcast that will not arrive: its sender is told (best effort)."""
        assert record.user_id is not None
        text = (
            f"Your broadcast to chat {record.chat_id} was not delivered "
            f"({shorten(reason, 80)}). Nothing more will be tried for that chat."
        )
        try:
            await self.sender.send(record.user_id, OutgoingMessage(text, parse_mode=None))
        except Exception as exc:  # a notice: its failure must not stop the send loop
            _LOG.info("could not tell %s about broadcast %s: %s", record.user_id, record.id, exc)

    async def _release(
        self, record: DeliveryRecord, reason: str, wait: timedelta | None = None
    ) -> str:
        now = self.clock()
        not_before = now + (wait or self.settings.retry_backoff)
        await self._write(
            self.deliveries.release,
            record.id,
            record.owner or "",
            not_before=iso(not_before),
            now=iso(now),
            reason=reason,
        )
        return "released"


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
