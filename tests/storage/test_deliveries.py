"""storage.deliveries: the delivery ledger, its leases, outbox and batches."""

from __future__ import annotations

import pytest

from storage.db import connect
from storage.deliveries import DeliveryRepository, NewOccurrence
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
