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
duplicate in the group) and its sender is told to check. A scheduled digest that timed out is
retried (the README's duplicate window: losing a scheduled check is worse than sending one
part twice). A delivery whose schedule was stopped (/unsubscribe, /unlink) before its first
part went out is skipped.

**A broadcast that does not arrive tells its sender, exactly once.** Every way it can end
``failed`` or ``skipped`` (403, a refusal, a timeout, the chat unreachable or past the grace
window, and retries used up, including when :meth:`DeliveryRepository.acquire` gives up on a
row whose earlier attempts died or found the database locked) queues a :data:`NOTICE`
delivery in the transaction that records the failure (:mod:`storage.deliveries`, "Notices").
The notice is then sent like any delivery, in the same tick: a crash or a lock before it went
out retries it, a lost lease ends nothing and tells nobody, and a notice that fails is not
followed by another. Like a digest, a notice whose send timed out is retried.

Flood limits are the application's rate limiter's job (``PriorityRateLimiter``, which keeps
``AIORateLimiter``'s limits): :class:`BotSender` sends through the application's bot at the
default priority, so sends are paced (30/s overall, 20/min per group) and a 429 is
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
import html
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
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
from storage.deliveries import (
    NOTICE,
    DeliveryOutcome,
    DeliveryRecord,
    DeliveryRepository,
    DuePlan,
    NewOccurrence,
    PartRecord,
    SentPart,
)
from storage.subscriptions import ChatRepository, ScheduleRecord, ScheduleRepository

_LOG = logging.getLogger(__name__)

DIGEST = "digest"
BROADCAST = "broadcast"
LOCK_RETRY_S = 0.05
BROADCAST_TIMED_OUT = (
    "Telegram did not answer in time; it may or may not have arrived, and it is not sent "
    "again so that no chat gets it twice: check the chat and send it again if needed"
)
#: kinds whose failure queues a notice to the delivery's user (its sender)
NOTIFY_KINDS = (BROADCAST,)
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


class BatchContentBuilder(ContentBuilder, Protocol):
    """A builder that can also write many deliveries at once (the weekly sweep).

    ``build_many`` returns, per delivery id, its messages or a :class:`BuildFailure`; a
    delivery it leaves out is built alone through ``__call__``.
    """

    def accepts(self, target: DeliveryTarget) -> bool: ...

    async def build_many(
        self, targets: Sequence[DeliveryTarget]
    ) -> dict[int, Sequence[OutgoingMessage] | BuildFailure]: ...


@dataclass(frozen=True, slots=True)
class BuildFailure:
    """Why one delivery of a batch could not be written (a ``SmallQError``, as values)."""

    user_message: str
    detail: str
    retryable: bool = False


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
    #: a tick leases batches until one comes back short, at most this many
    max_batches: int = 200
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
        #: notices queued by :meth:`_finish` (a tick leases again to send them)
        self._notices_queued = 0

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
        plans: list[DuePlan] = []
        for schedule in self.schedules.due(iso(now), limit=None):
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
            plans.append(DuePlan(schedule.id, schedule.next_due_at, tuple(items), next_due))
        if plans:  # every due schedule in one transaction, each under its UNIQUE key
            await self._write(self.deliveries.record_due_many, plans, now=iso(now))
        return stats

    # ------------------------------------------------------------------ deliver
    async def deliver(self, stats: DispatchStats | None = None) -> DispatchStats:
        """Lease due deliveries and send them."""
        stats = stats if stats is not None else DispatchStats()
        for _ in range(self.settings.max_batches):
            now, queued = self.clock(), self._notices_queued
            leased = await self._write(
                self.deliveries.lease,
                now=iso(now),
                lease_until=iso(now + self.settings.lease),
                max_attempts=self.settings.max_attempts,
                limit=self.settings.batch_size,
                notify_kinds=NOTIFY_KINDS,
            )
            stats.failed += len(leased.given_up)  # retries used up: failed inside the lease
            batch = leased.records
            single = await self._deliver_batch(batch, stats)
            for record in single:
                self._count(stats, await self._deliver_one(record))
            if len(batch) < self.settings.batch_size and self._notices_queued == queued:
                break  # nothing left, and no notice queued since this batch was leased
        return stats

    @staticmethod
    def _count(stats: DispatchStats, outcome: str) -> None:
        setattr(stats, outcome, getattr(stats, outcome) + 1)

    # ------------------------------------------------------------------ deliver, batched
    async def _deliver_batch(
        self, batch: Sequence[DeliveryRecord], stats: DispatchStats
    ) -> list[DeliveryRecord]:
        """Deliver the batch's fresh deliveries that the builder writes together.

        Content is built in one call, stored with ``save_parts_many``, parts are marked with
        ``mark_parts_sent_many`` and deliveries ended with ``finish_many`` (a flush per
        :attr:`DispatchSettings.batch_size` rows, and before any error is handled, so a lost
        lease or a crash resends at most the parts sent since the last flush). Returns the
        records left for :meth:`_deliver_one` (other kinds, resumed deliveries).
        """
        builder: Any = self.builder
        if not batch or not hasattr(builder, "build_many"):
            return list(batch)
        stored = self.deliveries.parts_many([r.id for r in batch])
        mine = [
            r
            for r in batch
            if not stored[r.id] and r.kind != NOTICE and builder.accepts(_target(r))
        ]
        if not mine:
            return list(batch)
        owner = mine[0].owner or ""
        ended: list[DeliveryOutcome] = []
        fresh = []
        for record in mine:
            reason = self._reason_to_skip(record)
            if reason is None:
                fresh.append(record)
            else:
                ended.append(DeliveryOutcome(record.id, "skipped", reason))
        contents = await self._build_many(fresh, stats)
        for record in fresh:
            if record.id in contents and not contents[record.id]:
                ended.append(DeliveryOutcome(record.id, "skipped", "nothing to send"))
        now = iso(self.clock())
        await self._write(self.deliveries.finish_many, owner, ended, now=now)
        for outcome in ended:
            self._count(stats, outcome.status)
        parts = await self._write(
            self.deliveries.save_parts_many,
            owner,
            {i: [m.to_part() for m in messages] for i, messages in contents.items() if messages},
        )
        sending = [r for r in fresh if parts.get(r.id)]
        await self._send_batch(owner, sending, parts, stats)
        taken = {r.id for r in mine}
        return [r for r in batch if r.id not in taken]

    async def _build_many(
        self, records: Sequence[DeliveryRecord], stats: DispatchStats
    ) -> dict[int, Sequence[OutgoingMessage]]:
        """Messages per delivery; deliveries released for a retry are left out."""
        if not records:
            return {}
        builder: Any = self.builder
        try:
            built = await builder.build_many([_target(r) for r in records])
        except SmallQError as exc:
            failure = BuildFailure(exc.user_message(), str(exc), exc.retryable)
            built = {r.id: failure for r in records}
        except Exception as exc:
            _LOG.exception("building %d deliveries failed", len(records))
            detail = f"content error: {type(exc).__name__}"
            built = {r.id: BuildFailure("", detail, retryable=True) for r in records}
        contents: dict[int, Sequence[OutgoingMessage]] = {}
        for record in records:
            result = built.get(record.id)
            if result is None:  # the builder left it out: build it alone
                messages = await self._build(record)
            elif isinstance(result, BuildFailure):
                messages = await self._failed(record, result)
            else:
                messages = list(result)
            if messages is None:
                self._count(stats, "released")
            else:
                contents[record.id] = messages
        return contents

    async def _failed(
        self, record: DeliveryRecord, failure: BuildFailure
    ) -> list[OutgoingMessage] | None:
        if failure.retryable:
            await self._release(record, f"content: {failure.detail}")
            return None
        text = f"I couldn't prepare this update: {failure.user_message}"
        return [OutgoingMessage(text, parse_mode=None)]

    async def _send_batch(
        self,
        owner: str,
        records: Sequence[DeliveryRecord],
        parts: dict[int, list[PartRecord]],
        stats: DispatchStats,
    ) -> None:
        sent: list[SentPart] = []
        done: list[DeliveryOutcome] = []

        async def flush() -> None:
            now = self.clock()
            if sent:
                await self._write(
                    self.deliveries.mark_parts_sent_many, owner, list(sent), now=iso(now),
                    lease_until=iso(now + self.settings.lease),
                )  # fmt: skip
            if done:
                await self._write(self.deliveries.finish_many, owner, list(done), now=iso(now))
            sent.clear()
            done.clear()

        for record in records:
            outcome = "sent"
            for part in parts[record.id]:
                outcome, message_id = await self._send(record, part, before_error=flush)
                if outcome != "sent":
                    break
                sent.append(SentPart(record.id, part.seq, message_id))
            if outcome == "sent":
                done.append(DeliveryOutcome(record.id, "sent"))
            self._count(stats, outcome)
            if len(sent) >= self.settings.batch_size:
                await flush()
        await flush()

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
        if record.kind == NOTICE:
            return self._notice(record)
        try:
            return list(await self.builder(_target(record)))
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
        outcome, message_id = await self._send(record, part)
        if outcome != "sent":
            return outcome
        now = self.clock()
        kept = await self._write(
            self.deliveries.mark_part_sent,
            record.id,
            part.seq,
            record.owner or "",
            message_id=message_id,
            now=iso(now),
            lease_until=iso(now + self.settings.lease),
        )
        return "sent" if kept else "released"

    async def _send(
        self,
        record: DeliveryRecord,
        part: PartRecord,
        *,
        before_error: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[str, int | None]:
        """Send one part: ("sent", message id), or the outcome of handling the error.

        ``before_error`` runs before an error is recorded (the batch path flushes the parts
        it has sent so far, so releasing or ending a delivery never loses their marks).
        """
        message = OutgoingMessage.from_part(part)
        chat_id = self.deliveries.current_chat(record.id)
        for _ in range(MAX_MIGRATIONS + 1):
            try:
                message_id = await self.sender.send(chat_id, message)
            except (RetryAfter, ChatMigrated, Forbidden, BadRequest, NetworkError) as exc:
                if before_error is not None:
                    await before_error()
                outcome = await self._on_send_error(record, chat_id, exc)
                if outcome is None:  # migrated: send there
                    assert isinstance(exc, ChatMigrated)
                    chat_id = exc.new_chat_id
                    continue
                return outcome, None
            return "sent", message_id
        return await self._release(record, "chat migrated too often"), None

    async def _on_send_error(
        self, record: DeliveryRecord, chat_id: int, exc: Exception
    ) -> str | None:
        """Record what a Telegram error means; ``None`` after following a migration."""
        if isinstance(exc, RetryAfter):  # the application's rate limiter gave up on it
            wait = timedelta(seconds=_retry_seconds(exc))
            return await self._release(record, "flood wait", wait)
        if isinstance(exc, ChatMigrated):
            await self._write(self.chats.migrate, chat_id, exc.new_chat_id, now=iso(self.clock()))
            return None
        if isinstance(exc, Forbidden):
            await self._write(
                self.chats.mark_unreachable, chat_id, f"forbidden: {exc}", now=iso(self.clock())
            )
            return await self._finish(record, "failed", f"forbidden: {exc}")
        if isinstance(exc, BadRequest):
            if "chat not found" in str(exc).lower():
                await self._write(
                    self.chats.mark_unreachable, chat_id, str(exc), now=iso(self.clock())
                )
            return await self._finish(record, "failed", f"bad request: {exc}")
        if isinstance(exc, TimedOut):
            if record.kind == BROADCAST:  # it may have arrived: never sent twice
                return await self._finish(record, "failed", BROADCAST_TIMED_OUT)
            return await self._release(record, "network: TimedOut")  # see the README
        if record.kind == BROADCAST and record.attempts >= self.settings.max_attempts:
            return await self._finish(record, "failed", f"network: {exc}")
        return await self._release(record, f"network: {type(exc).__name__}")

    async def _finish(self, record: DeliveryRecord, status: str, reason: str | None) -> str:
        ended = await self._write(
            self.deliveries.finish,
            record.id,
            record.owner or "",
            status,
            now=iso(self.clock()),
            reason=reason,
            notify_kinds=NOTIFY_KINDS,
        )
        if ended and status != "sent" and record.kind in NOTIFY_KINDS and record.user_id:
            self._notices_queued += 1  # recorded with the failure; sent by this tick
        return status

    def _notice(self, record: DeliveryRecord) -> list[OutgoingMessage]:
        """The text of a notice: which broadcast did not arrive where, and why."""
        failed = self.deliveries.by_id(int(record.period))  # period: the failed delivery's id
        if failed is None:
            return []
        parts = self.deliveries.parts(failed.id)
        quoted = ""
        if parts and parts[0].body.get("text"):
            text = str(parts[0].body["text"])
            if parts[0].body.get("parse_mode") == "HTML":
                text = html.unescape(text)  # a broadcast is escaped plain text
            quoted = f" “{shorten(text, 60)}”"
        text = (
            f"Your broadcast{quoted} to chat {failed.chat_id} was not delivered "
            f"({shorten(failed.reason or failed.status, 80)}). Nothing more will be tried "
            "for that chat."
        )
        return [OutgoingMessage(text, parse_mode=None)]

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


def _target(record: DeliveryRecord) -> DeliveryTarget:
    return DeliveryTarget(
        record.id,
        record.chat_id,
        record.kind,
        record.period,
        datetime.fromisoformat(record.due_at),
        record.user_id,
        record.schedule_id,
    )


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type will become timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
