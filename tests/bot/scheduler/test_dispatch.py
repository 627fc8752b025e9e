"""Dispatcher: planning, grace, leases, 403/429/migration, crashes, pacing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TimedOut

from bot.scheduler.calendar import Frequency, ScheduleSpec, next_after
from bot.scheduler.dispatch import (
    DIGEST,
    DeliveryTarget,
    Dispatcher,
    DispatchSettings,
    OutgoingMessage,
    iso,
)
from smallq.errors import DataUnavailableError, InputError
from storage.db import connect
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.subscriptions import ChatRepository, ScheduleRepository
from storage.users import UserRepository

# constructing RetryAfter(7) warns about a future type change inside PTB itself
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class SimulatedCrash(BaseException):
    """A process death: not an Exception, so nothing in the app catches it."""


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class FakeSender:
    """Records what 'Telegram' accepted; scripted failures per call."""

    clock: FakeClock
    delivered: list[tuple[int, str, datetime]] = field(default_factory=list)
    calls: int = 0
    blocked: set[int] = field(default_factory=set)
    script: dict[int, BaseException] = field(default_factory=dict)  # call number -> raise
    crash_after_accept: set[int] = field(default_factory=set)
    attempts: Counter[int] = field(default_factory=Counter)
    rate_limited: list[tuple[int, datetime]] = field(default_factory=list)  # (chat, when)

    async def send(self, chat_id: int, message: OutgoingMessage) -> int:
        self.calls += 1
        self.attempts[chat_id] += 1
        if self.calls in self.script:
            error = self.script.pop(self.calls)
            if isinstance(error, RetryAfter):
                self.rate_limited.append((chat_id, self.clock()))
            raise error
        if chat_id in self.blocked:
            raise Forbidden("Forbidden: bot was blocked by the user")
        self.delivered.append((chat_id, message.text, self.clock()))
        if self.calls in self.crash_after_accept:
            raise SimulatedCrash
        return len(self.delivered)


def text_builder(target: DeliveryTarget) -> list[OutgoingMessage]:
    return [OutgoingMessage(f"{target.kind} {target.period} for {target.chat_id}")]


async def builder(target: DeliveryTarget) -> Sequence[OutgoingMessage]:
    return text_builder(target)


def subscribe(db, chat_id: int, spec: ScheduleSpec, now: datetime) -> None:
    if chat_id > 0:
        UserRepository(db).touch(chat_id)
    ScheduleRepository(db).upsert(
        chat_id,
        DIGEST,
        frequency=spec.frequency.value,
        day=spec.day,
        local_time=spec.at.strftime("%H:%M"),
        timezone=spec.timezone,
        next_due_at=iso(next_after(spec, now).due_at),
        user_id=chat_id if chat_id > 0 else None,
        now=iso(now),
    )


def weekly_9(tz: str = "UTC") -> ScheduleSpec:
    return ScheduleSpec(Frequency.WEEKLY, 0, datetime(2000, 1, 1, 9).time(), tz)


@pytest.fixture
def env():
    db = connect(":memory:")
    clock = FakeClock(MONDAY_9 - timedelta(hours=1))
    sender = FakeSender(clock)

    def make(**kw) -> Dispatcher:
        return Dispatcher(db, sender, kw.pop("builder", builder), clock=clock, **kw)

    return db, clock, sender, make


async def test_sends_once_when_due_and_never_again(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    dispatcher = make()
    assert (await dispatcher.tick()).sent == 0
    clock.now = MONDAY_9
    stats = await dispatcher.tick()
    assert (stats.planned, stats.sent) == (1, 1)
    for _ in range(3):
        clock.advance(minutes=30)
        await make().tick()
    assert [text for _, text, _ in sender.delivered] == ["digest 2026-W10 for 1"]
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").status == "sent"


async def test_downtime_within_grace_sends_once_beyond_is_skipped_and_recorded(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    clock.now = MONDAY_9 + timedelta(hours=5, minutes=59)  # down from 08:00 to 14:59
    await make().tick()
    assert len(sender.delivered) == 1
    # down for three weeks: two older occurrences and one beyond grace -> all skipped
    clock.now = MONDAY_9 + timedelta(weeks=3, hours=7)
    stats = await make().tick()
    assert (stats.missed, stats.sent, len(sender.delivered)) == (3, 0, 1)
    rows = DeliveryRepository(db).records(status="skipped")
    assert [r.period for r in rows] == ["2026-W11", "2026-W12", "2026-W13"]
    assert all("grace" in r.reason for r in rows)
    # the next week is on time again
    clock.now = MONDAY_9 + timedelta(weeks=4, minutes=1)
    await make().tick()
    assert sender.delivered[-1][1] == "digest 2026-W14 for 1"


async def test_kill_during_send_is_retried_once_after_lease(env) -> None:
    db, clock, sender, make = env
    for chat in (1, 2, 3):
        subscribe(db, chat, weekly_9(), clock())
    clock.now = MONDAY_9
    sender.script[2] = SimulatedCrash()  # dies while sending the second of three
    with pytest.raises(SimulatedCrash):
        await make().tick()
    assert [c for c, _, _ in sender.delivered] == [1]
    clock.advance(minutes=5)
    await make().tick()  # lease (10 min) still held by the dead process
    assert [c for c, _, _ in sender.delivered] == [1]  # 2 and 3 were leased by the dead one
    clock.advance(minutes=6)
    await make().tick()
    assert sorted(c for c, _, _ in sender.delivered) == [1, 2, 3]
    assert all(r.status == "sent" for r in DeliveryRepository(db).records())


async def test_kill_after_telegram_accepted_repeats_that_part_once(env) -> None:
    """The documented window: accepted by Telegram, not yet recorded."""
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    clock.now = MONDAY_9
    sender.crash_after_accept.add(1)
    with pytest.raises(SimulatedCrash):
        await make().tick()
    clock.advance(minutes=11)
    await make().tick()
    clock.advance(hours=1)
    await make().tick()
    assert [c for c, _, _ in sender.delivered] == [1, 1]


async def test_blocked_user_is_marked_unreachable_and_skipped(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.blocked.add(1)
    clock.now = MONDAY_9
    stats = await make().tick()
    assert stats.failed == 1 and not ChatRepository(db).is_reachable(1)
    calls = sender.calls
    for week in range(1, 4):
        clock.now = MONDAY_9 + timedelta(weeks=week)
        await make().tick()
    assert sender.calls == calls and sender.delivered == []


async def test_rate_limit_the_limiter_gave_up_on_is_sent_after_retry_after(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = RetryAfter(7)
    clock.now = MONDAY_9
    assert (await make().tick()).released == 1
    clock.advance(seconds=5)
    await make().tick()
    assert sender.delivered == []
    clock.advance(seconds=5)
    await make().tick()
    assert len(sender.delivered) == 1


async def test_long_flood_wait_releases_instead_of_blocking(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = RetryAfter(600)
    clock.now = MONDAY_9
    assert (await make().tick()).released == 1
    clock.advance(minutes=9)
    await make().tick()
    assert sender.delivered == []
    clock.advance(minutes=2)
    await make().tick()
    assert len(sender.delivered) == 1


async def test_group_migration_is_followed(env) -> None:
    db, clock, sender, make = env
    ChatRepository(db).link(-100, chat_type="group", title="Club", linked_by=None)
    subscribe(db, -100, weekly_9(), clock())
    sender.script[1] = ChatMigrated(-100999)
    clock.now = MONDAY_9
    await make().tick()
    assert [c for c, _, _ in sender.delivered] == [-100999]
    assert ChatRepository(db).get(-100999) is not None
    clock.now = MONDAY_9 + timedelta(weeks=1)
    await make().tick()
    assert [c for c, _, _ in sender.delivered] == [-100999, -100999]


async def test_transient_errors_retry_then_give_up(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    for n in range(1, 10):
        sender.script[n] = TimedOut()
    clock.now = MONDAY_9
    settings = DispatchSettings(max_attempts=3, retry_backoff=timedelta(minutes=2))
    for _ in range(6):
        await make(settings=settings).tick()
        clock.advance(minutes=3)
    assert sender.calls == 3 and sender.delivered == []
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").status == "failed"


async def test_bad_request_fails_without_retry(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = BadRequest("Chat not found")
    clock.now = MONDAY_9
    assert (await make().tick()).failed == 1
    assert not ChatRepository(db).is_reachable(1)


async def test_builder_errors(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    subscribe(db, 2, weekly_9(), clock())
    calls: list[int] = []

    async def flaky(target: DeliveryTarget) -> list[OutgoingMessage]:
        calls.append(target.chat_id)
        if target.chat_id == 1 and calls.count(1) == 1:
            raise DataUnavailableError(["AAA"], retryable=True)  # Yahoo down -> later
        if target.chat_id == 2:
            raise InputError("Your profile is incomplete.")  # told to the user
        return text_builder(target)

    clock.now = MONDAY_9
    await make(builder=flaky).tick()
    assert [t for c, t, _ in sender.delivered] == [
        "I couldn't prepare this update: Your profile is incomplete."
    ]
    clock.advance(minutes=3)
    await make(builder=flaky).tick()
    assert sender.delivered[-1][1] == "digest 2026-W10 for 1"


async def test_nothing_to_send_is_recorded_as_skipped(env) -> None:
    db, clock, _sender, make = env
    subscribe(db, 1, weekly_9(), clock())

    async def quiet(target: DeliveryTarget) -> list[OutgoingMessage]:
        return []

    clock.now = MONDAY_9
    assert (await make(builder=quiet).tick()).skipped == 1
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").reason == "nothing to send"


async def test_broadcast_is_enqueued_once_per_key(env) -> None:
    db, clock, sender, make = env
    repo = DeliveryRepository(db)
    occ = NewOccurrence(-5, "broadcast", "b1", iso(clock()))
    assert repo.enqueue(occ, now=iso(clock())) is not None
    assert repo.enqueue(occ, now=iso(clock())) is None
    await make().tick()
    assert [t for _, t, _ in sender.delivered] == ["broadcast b1 for -5"]


def test_outgoing_message_limits() -> None:
    with pytest.raises(ValueError):
        OutgoingMessage("x" * 4097)
    with pytest.raises(ValueError):
        OutgoingMessage("x" * 1025, photo=b"png")
    with pytest.raises(ValueError):
        OutgoingMessage("")


async def test_unreadable_schedule_is_deactivated_not_fatal(env) -> None:
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    subscribe(db, 2, weekly_9(), clock())
    db.execute("UPDATE schedules SET timezone = 'Mars/Base' WHERE chat_id = 1")
    clock.now = MONDAY_9
    await make().tick()
    assert [c for c, _, _ in sender.delivered] == [2]
    assert ScheduleRepository(db).get(1, DIGEST).active is False
