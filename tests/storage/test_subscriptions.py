"""Schedules, thresholds, chat links/state and the delivery ledger."""

from __future__ import annotations

import pytest

from storage.db import connect
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.subscriptions import ChatRepository, ScheduleRepository, ThresholdRepository
from storage.users import UserRepository, erase_user
from tests.storage.samples import T0, T1, T2, add_schedule


@pytest.fixture
def db():
    database = connect(":memory:")
    UserRepository(database).touch(1)
    return database


def test_schedule_upsert_due_and_deactivate(db) -> None:
    repo = ScheduleRepository(db)
    first = add_schedule(db)
    again = add_schedule(db, next_due=T2)
    assert again.id == first.id and again.next_due_at == T2 and again.active
    assert repo.due(T0) == []
    assert [s.id for s in repo.due(T2)] == [first.id]
    assert repo.deactivate(1) == 1
    assert repo.due(T2) == [] and repo.deactivate(1) == 0
    assert repo.get(1, "digest").active is False


def test_unreachable_chats_are_not_due_until_heard_from(db) -> None:
    add_schedule(db)
    chats = ChatRepository(db)
    chats.mark_unreachable(1, "forbidden")
    assert not chats.is_reachable(1)
    assert ScheduleRepository(db).due(T2) == []
    assert chats.set_reachable(1) is True
    assert len(ScheduleRepository(db).due(T2)) == 1
    assert chats.set_reachable(1) is False


def test_thresholds_override_and_reset(db) -> None:
    repo = ThresholdRepository(db)
    repo.set(1, "var_limit", 0.03)
    repo.set(1, "var_limit", 0.04)
    repo.set(1, "stale_days", 5)
    assert repo.overrides(1) == {"stale_days": 5.0, "var_limit": 0.04}
    assert repo.reset(1) == 2 and repo.overrides(1) == {}


def test_links_and_group_migration_move_everything(db) -> None:
    chats = ChatRepository(db)
    chats.link(-100, chat_type="group", title="Club", linked_by=1)
    chats.link(-200, chat_type="channel", title="News", linked_by=2)
    assert [c.chat_id for c in chats.links()] == [-200, -100]
    assert [c.chat_id for c in chats.links(linked_by=1)] == [-100]
    add_schedule(db, chat_id=-100)
    deliveries = DeliveryRepository(db)
    deliveries.enqueue(NewOccurrence(-100, "broadcast", "b1", T0), now=T0)
    chats.migrate(-100, -1009, now=T1)
    assert chats.resolve(-100) == -1009 and chats.get(-1009).title == "Club"
    assert ScheduleRepository(db).get(-1009, "digest") is not None
    assert deliveries.get(-1009, "broadcast", "b1") is not None
    assert not chats.is_reachable(-100)
    assert chats.set_reachable(-100) is False  # a migrated id stays retired
    assert chats.unlink(-1009) is True and chats.unlink(-1009) is False
    assert ScheduleRepository(db).get(-1009, "digest").active is False








def test_user_erasure_removes_user_rows(db) -> None:
    add_schedule(db)
    ThresholdRepository(db).set(1, "var_limit", 0.03)
    DeliveryRepository(db).enqueue(NewOccurrence(1, "digest", "p", T0, user_id=1), now=T0)
    erase_user(db, 1)
    for table in ("schedules", "alert_thresholds", "deliveries"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
