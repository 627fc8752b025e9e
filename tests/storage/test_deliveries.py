"""storage.deliveries: the delivery ledger, its leases, outbox and batches."""

from __future__ import annotations

import pytest

from smallq.errors import StorageError
from storage.db import connect
from storage.deliveries import (
    NOTICE,
    DeliveryOutcome,
    DeliveryRepository,
    DuePlan,
    NewOccurrence,
    SentPart,
)
from storage.subscriptions import ScheduleRepository
from storage.users import UserRepository
from tests.storage.samples import T0, T1, T2, add_schedule


@pytest.fixture
def db():
    database = connect(":memory:")
    UserRepository(database).touch(1)
    return database


def test_record_due_is_unique_and_advances_schedule(db) -> None:
    schedule = add_schedule(db)
    repo = DeliveryRepository(db)
    occ = [NewOccurrence(1, "digest", "2026-W10", T0, 1)]
    assert repo.record_due(schedule.id, T0, occ, T2, now=T1) == 1
    assert repo.record_due(schedule.id, T0, occ, T2, now=T1) == -1  # already advanced
    assert repo.record_due(schedule.id, T2, occ, "2026-03-16T09:00:00+00:00", now=T1) == 0
    assert len(repo.records()) == 1
    assert repo.enqueue(NewOccurrence(1, "digest", "2026-W10", T0), now=T1) is None


def test_lease_outbox_and_lost_lease(db) -> None:
    repo = DeliveryRepository(db)
    repo.enqueue(NewOccurrence(1, "digest", "2026-W10", T0, 1), now=T0)
    (first,) = repo.acquire(now=T0, lease_until=T1, max_attempts=2)
    assert (first.status, first.attempts) == ("sending", 1)
    assert repo.acquire(now=T0, lease_until=T1, max_attempts=2) == []  # leased
    parts = repo.save_parts(first.id, first.owner, [({"text": "a"}, None), ({"text": "b"}, b"P")])
    assert [p.body["text"] for p in parts] == ["a", "b"] and parts[1].photo == b"P"
    assert repo.mark_part_sent(first.id, 0, first.owner, message_id=5, now=T0, lease_until=T1)
    # the lease expires: a second owner takes over; the first owner's writes are ignored
    (second,) = repo.acquire(now=T1, lease_until=T2, max_attempts=2)
    assert second.owner != first.owner and second.attempts == 2
    assert not repo.mark_part_sent(first.id, 1, first.owner, message_id=6, now=T1, lease_until=T2)
    assert not repo.finish(first.id, first.owner, "sent", now=T1)
    stored = repo.save_parts(second.id, second.owner, [({"text": "other"}, None)])
    assert [p.body["text"] for p in stored] == ["a", "b"]  # content is written once
    assert [p.sent_at is not None for p in stored] == [True, False]
    assert repo.finish(second.id, second.owner, "sent", now=T1)
    assert repo.get(1, "digest", "2026-W10").status == "sent"


def test_attempts_are_bounded_and_release_waits(db) -> None:
    repo = DeliveryRepository(db)
    repo.enqueue(NewOccurrence(1, "digest", "p", T0), now=T0)
    (row,) = repo.acquire(now=T0, lease_until=T1, max_attempts=1)
    assert repo.release(row.id, row.owner, not_before=T2, now=T0, reason="network")
    assert repo.acquire(now=T1, lease_until=T2, max_attempts=1) == []  # not before T2
    assert repo.acquire(now=T2, lease_until=T2, max_attempts=1) == []  # gave up
    record = repo.get(1, "digest", "p")
    assert record.status == "failed" and "1 attempts" in record.reason


def test_a_lease_returns_the_rows_it_gave_up_on(db) -> None:
    repo = DeliveryRepository(db)
    repo.enqueue(NewOccurrence(1, "digest", "p", T0), now=T0)
    repo.enqueue(NewOccurrence(2, "digest", "p", T0), now=T0)
    first, _ = repo.lease(now=T0, lease_until=T0, max_attempts=1).records  # owners die
    fresh = repo.enqueue(NewOccurrence(3, "digest", "p", T1), now=T1)
    leased = repo.lease(now=T1, lease_until=T2, max_attempts=1)
    assert [r.id for r in leased.records] == [fresh]
    assert sorted(leased.given_up) == [first.id, first.id + 1]
    assert repo.by_id(first.id).status == "failed"
    assert repo.lease(now=T1, lease_until=T2, max_attempts=1).given_up == ()  # counted once


# --------------------------------------------------------------------------- batches
def _schedules(db, n: int) -> list:
    users = UserRepository(db)
    for uid in range(1, n + 1):
        users.touch(uid)
    return [
        ScheduleRepository(db).upsert(
            uid, "check", frequency="weekly", day=0, local_time="09:00", timezone="UTC",
            next_due_at=T0, user_id=uid, now=T0,
        )
        for uid in range(1, n + 1)
    ]  # fmt: skip


def _plan(schedule, period: str = "2026-W10", expected: str = T0) -> DuePlan:
    occurrence = NewOccurrence(schedule.chat_id, "check", period, T0, schedule.user_id)
    return DuePlan(schedule.id, expected, (occurrence,), T2)


def test_record_due_many_checks_each_schedule_and_keeps_the_key_unique(db) -> None:
    first, second, third = _schedules(db, 3)
    repo = DeliveryRepository(db)
    repo.enqueue(NewOccurrence(3, "check", "2026-W10", T0, 3), now=T0)  # key taken already
    plans = [_plan(first), _plan(second, expected=T1), _plan(third)]
    assert repo.record_due_many(plans, now=T1) == {first.id: 1, second.id: -1, third.id: 0}
    schedules = ScheduleRepository(db)
    assert [schedules.by_id(s.id).next_due_at for s in (first, second, third)] == [T2, T0, T2]
    assert repo.record_due_many([_plan(first)], now=T1) == {first.id: -1}  # already advanced
    assert len(repo.records(kind="check")) == 2


def test_record_due_many_is_all_or_nothing(db) -> None:
    first, second = _schedules(db, 2)
    bad = DuePlan(second.id, T0, (NewOccurrence(2, "check", "p", T0, user_id=999),), T2)
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        DeliveryRepository(db).record_due_many([_plan(first), bad], now=T1)
    assert DeliveryRepository(db).records() == []
    assert ScheduleRepository(db).by_id(first.id).next_due_at == T0


def test_batch_outbox_is_written_once_and_finished_once(db) -> None:
    schedules = _schedules(db, 3)
    repo = DeliveryRepository(db)
    repo.record_due_many([_plan(s) for s in schedules], now=T0)
    leased = repo.acquire(now=T0, lease_until=T1, max_attempts=3, limit=10)
    owner = leased[0].owner
    assert len(leased) == 3 and {r.owner for r in leased} == {owner}
    ids = [r.id for r in leased]
    repo.save_parts(ids[0], owner, [({"text": "first"}, None)])
    contents = {i: [({"text": f"check {i}"}, None), ({"text": "chart"}, b"PNG")] for i in ids}
    stored = repo.save_parts_many(owner, contents)
    assert [p.body["text"] for p in stored[ids[0]]] == ["first"]  # content is written once
    assert [p.body["text"] for p in stored[ids[1]]] == [f"check {ids[1]}", "chart"]
    assert (
        repo.save_parts_many("someone-else", {ids[2]: [({"x": 1}, None)]})[ids[2]] == stored[ids[2]]
    )
    assert repo.parts_many([*ids, 999]) == {**stored, 999: []}

    sent = [SentPart(i, 0, 100 + i) for i in ids] + [SentPart(ids[1], 1, 7)]
    assert repo.mark_parts_sent_many("someone-else", sent, now=T1, lease_until=T2) == 0
    assert repo.mark_parts_sent_many(owner, sent, now=T1, lease_until=T2) == 4
    assert [p.message_id for p in repo.parts(ids[1])] == [100 + ids[1], 7]
    outcomes = [DeliveryOutcome(i, "sent") for i in ids[:2]] + [
        DeliveryOutcome(ids[2], "skipped", "nothing to say")
    ]
    assert repo.finish_many("someone-else", outcomes, now=T1) == 0
    assert repo.finish_many(owner, outcomes, now=T1) == 3
    assert repo.finish_many(owner, outcomes, now=T1) == 0  # exactly once
    assert [r.status for r in repo.records(kind="check")] == ["sent", "sent", "skipped"]
    assert repo.records(status="sent")[0].sent_at == T1


# --------------------------------------------------------------------------- notices
def _broadcast(repo: DeliveryRepository, user_id: int | None = 1) -> int:
    occurrence = NewOccurrence(-100, "broadcast", "b1", T0, user_id)
    delivery_id = repo.enqueue(occurrence, now=T0, parts=[({"text": "hi"}, None)])
    assert delivery_id is not None
    return delivery_id


def test_giving_up_while_leasing_queues_one_notice_in_the_same_transaction(db) -> None:
    repo = DeliveryRepository(db)
    delivery_id = _broadcast(repo)
    repo.acquire(now=T0, lease_until=T0, max_attempts=1)  # its owner died; the lease is over
    leased = repo.acquire(now=T1, lease_until=T2, max_attempts=1, notify_kinds=("broadcast",))
    assert repo.by_id(delivery_id).status == "failed"
    (notice,) = leased  # the notice is due at once and leased along
    assert (notice.chat_id, notice.kind, notice.period) == (1, NOTICE, str(delivery_id))
    assert (notice.user_id, notice.status, notice.attempts) == (1, "sending", 1)
    assert repo.acquire(now=T2, lease_until=T2, max_attempts=1, notify_kinds=("broadcast",)) == []
    assert len(repo.records(kind=NOTICE)) == 1


def test_giving_up_without_notify_kinds_or_a_user_queues_nothing(db) -> None:
    repo = DeliveryRepository(db)
    _broadcast(repo, user_id=None)
    repo.enqueue(NewOccurrence(1, "digest", "2026-W10", T0, 1), now=T0)
    repo.acquire(now=T0, lease_until=T0, max_attempts=1)
    assert repo.acquire(now=T1, lease_until=T2, max_attempts=1, notify_kinds=("broadcast",)) == []
    assert [r.status for r in repo.records()] == ["failed", "failed"]


def test_finish_queues_a_notice_only_for_a_failure_it_records(db) -> None:
    repo = DeliveryRepository(db)
    delivery_id = _broadcast(repo)
    (first,) = repo.acquire(now=T0, lease_until=T0, max_attempts=3)
    (second,) = repo.acquire(now=T1, lease_until=T2, max_attempts=3)
    kinds = ("broadcast",)
    assert not repo.finish(delivery_id, first.owner, "failed", now=T1, notify_kinds=kinds)
    assert repo.records(kind=NOTICE) == []  # the lost lease ended nothing: nobody is told
    assert repo.finish(delivery_id, second.owner, "failed", now=T1, reason="x", notify_kinds=kinds)
    (notice,) = repo.records(kind=NOTICE)
    assert (notice.chat_id, notice.period, notice.status) == (1, str(delivery_id), "due")
    (leased,) = repo.acquire(now=T1, lease_until=T2, max_attempts=3, notify_kinds=kinds)
    assert not repo.finish(leased.id, "other", "failed", now=T1, notify_kinds=(NOTICE,))
    assert repo.finish(leased.id, leased.owner, "failed", now=T1, notify_kinds=(NOTICE, *kinds))
    assert len(repo.records(kind=NOTICE)) == 1  # a notice is never followed by another
