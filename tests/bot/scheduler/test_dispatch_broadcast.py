"""Dispatcher: every way a broadcast can fail ends with exactly one notice to its sender.

The notice is a delivery of its own (kind ``notice``), queued in the transaction that records
the failure, so neither a crash, a database lock nor a lost lease can lose it, repeat it, or
send it for a broadcast that another dispatcher delivered.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError

from bot.scheduler.dispatch import (
    BROADCAST,
    NOTICE,
    Dispatcher,
    DispatchSettings,
    OutgoingMessage,
    iso,
)
from smallq.errors import DatabaseLockedError
from storage.db import connect
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.users import UserRepository
from tests.bot.scheduler.test_dispatch import (
    MONDAY_9,
    FakeClock,
    FakeSender,
    SimulatedCrash,
    builder,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP, SENDER = -100555, 7
LEASE = timedelta(minutes=10)


def queue_broadcast(db, text: str = "📣 hello &amp; welcome") -> int:
    UserRepository(db).touch(SENDER)
    occurrence = NewOccurrence(GROUP, BROADCAST, "b1", iso(MONDAY_9), SENDER)
    parts = [OutgoingMessage(text).to_part()]
    delivery_id = DeliveryRepository(db).enqueue(occurrence, now=iso(MONDAY_9), parts=parts)
    assert delivery_id is not None
    return delivery_id


def notices(sender: FakeSender) -> list[str]:
    return [text for chat, text, _ in sender.delivered if chat == SENDER]


def dispatcher(db, sender: FakeSender, clock: FakeClock, **settings: object) -> Dispatcher:
    chosen = DispatchSettings(lease=LEASE, **settings)  # type: ignore[arg-type]
    return Dispatcher(db, sender, builder, clock=clock, settings=chosen)


async def test_retries_used_up_by_crashes_are_told_once_when_leasing_gives_up() -> None:
    # before: the 4th acquire marked the broadcast failed and nobody told its sender
    db, clock = connect(":memory:"), FakeClock(MONDAY_9)
    sender = FakeSender(clock)
    delivery_id = queue_broadcast(db)
    for call in (1, 2, 3):  # the process dies while sending, three times
        sender.script[call] = SimulatedCrash()
        with pytest.raises(SimulatedCrash):
            await dispatcher(db, sender, clock).tick()
        clock.advance(minutes=11)  # its lease expires
    await dispatcher(db, sender, clock).tick()
    (told,) = notices(sender)
    assert f"chat {GROUP} was not delivered" in told and "gave up after 3 attempts" in told
    assert "hello & welcome" in told  # which broadcast, as the sender wrote it
    assert [c for c, _, _ in sender.delivered] == [SENDER]  # nothing reached the group
    repo = DeliveryRepository(db)
    assert repo.by_id(delivery_id).status == "failed"
    assert repo.get(SENDER, NOTICE, str(delivery_id)).status == "sent"
    for _ in range(3):
        clock.advance(hours=1)
        await dispatcher(db, sender, clock).tick()
    assert len(notices(sender)) == 1


class LockingSender(FakeSender):
    """Every send to the group fails, and the database is locked before the dispatcher can
    record it (another process holds the write lock until the test releases it)."""

    path: Path
    holder: sqlite3.Connection | None = None

    async def send(self, chat_id: int, message: OutgoingMessage) -> int:
        if chat_id == GROUP:
            self.holder = sqlite3.connect(str(self.path), check_same_thread=False)
            self.holder.execute("BEGIN IMMEDIATE")
            self.calls += 1
            raise NetworkError("Bad Gateway")
        return await super().send(chat_id, message)

    def unlock(self) -> None:
        assert self.holder is not None
        self.holder.commit()
        self.holder.close()
        self.holder = None


async def test_retries_used_up_while_the_database_stays_locked_are_told(tmp_path: Path) -> None:
    # before: each attempt ended in DatabaseLockedError, then acquire gave up silently
    path, clock = tmp_path / "d.db", FakeClock(MONDAY_9)
    delivery_id = queue_broadcast(connect(path))
    sender = LockingSender(clock)
    sender.path = path
    db = connect(path, busy_timeout_s=0.02)
    for _ in range(3):
        with pytest.raises(DatabaseLockedError):
            await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()
        sender.unlock()
        clock.advance(minutes=11)
    await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()
    (told,) = notices(sender)
    assert "gave up after 3 attempts" in told and sender.calls == 4  # 3 to the group, 1 notice
    assert DeliveryRepository(db).by_id(delivery_id).status == "failed"
    clock.advance(hours=1)
    await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()
    assert len(notices(sender)) == 1


async def test_a_give_up_inside_the_lease_counts_as_failed(tmp_path: Path) -> None:
    # before: the tick's stats (the scheduler's "failed %d" log line) said failed 0
    path, clock = tmp_path / "d.db", FakeClock(MONDAY_9)
    queue_broadcast(connect(path))
    sender = LockingSender(clock)
    sender.path = path
    db = connect(path, busy_timeout_s=0.02)
    for _ in range(3):  # each attempt's failure finds the database locked
        with pytest.raises(DatabaseLockedError):
            await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()
        sender.unlock()
        clock.advance(minutes=11)
    stats = await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()
    assert (stats.failed, stats.sent) == (1, 1)  # the broadcast given up, its notice sent
    clock.advance(hours=1)
    assert (await dispatcher(db, sender, clock, lock_wait_s=0.1).tick()).failed == 0


async def test_a_crash_before_the_notice_went_out_does_not_lose_it() -> None:
    # before: the failure was committed and the notice was a best-effort send after it
    db, clock = connect(":memory:"), FakeClock(MONDAY_9)
    sender = FakeSender(clock)
    queue_broadcast(db)
    sender.script[1] = Forbidden("Forbidden: bot was kicked from the group chat")
    sender.script[2] = SimulatedCrash()  # dies while telling the sender
    with pytest.raises(SimulatedCrash):
        await dispatcher(db, sender, clock).tick()
    assert notices(sender) == []
    clock.advance(minutes=11)
    await dispatcher(db, sender, clock).tick()
    (told,) = notices(sender)
    assert "forbidden" in told
    clock.advance(minutes=11)
    await dispatcher(db, sender, clock).tick()
    assert len(notices(sender)) == 1


async def test_no_notice_when_another_dispatcher_took_the_lease_and_delivered() -> None:
    # before: the first dispatcher's ignored "failed" still told the sender "not delivered"
    db, clock = connect(":memory:"), FakeClock(MONDAY_9)
    queue_broadcast(db)
    second = dispatcher(db, FakeSender(clock), clock)

    class SlowThenRefused(FakeSender):
        async def send(self, chat_id: int, message: OutgoingMessage) -> int:
            if chat_id == GROUP:  # so slow that the lease expires and another takes over
                clock.advance(minutes=11)
                assert (await second.tick()).sent == 1
                raise BadRequest("Bad Request: message is too long")
            return await super().send(chat_id, message)

    first_sender = SlowThenRefused(clock)
    await dispatcher(db, first_sender, clock).tick()
    assert first_sender.delivered == [] and notices(second.sender) == []  # type: ignore[arg-type]
    (record,) = DeliveryRepository(db).records(kind=BROADCAST)
    assert record.status == "sent"
    assert DeliveryRepository(db).records(kind=NOTICE) == []


async def test_a_refused_notice_is_not_followed_by_another_notice() -> None:
    db, clock = connect(":memory:"), FakeClock(MONDAY_9)
    sender = FakeSender(clock)
    queue_broadcast(db)
    sender.script[1] = BadRequest("Bad Request: chat not found")
    sender.blocked.add(SENDER)  # the sender blocked the bot as well
    stats = await dispatcher(db, sender, clock).tick()
    assert stats.failed == 2 and sender.calls == 2 and sender.delivered == []
    (notice,) = DeliveryRepository(db).records(kind=NOTICE)
    assert notice.status == "failed"
    clock.advance(hours=1)
    await dispatcher(db, sender, clock).tick()
    assert sender.calls == 2
