"""The dispatcher and stopped schedules: /unsubscribe and /unlink skip what has not started."""

from __future__ import annotations

import pytest
from telegram.error import TimedOut

from bot.scheduler.dispatch import DIGEST
from storage.deliveries import DeliveryRepository
from storage.subscriptions import ChatRepository, ScheduleRepository
from tests.bot.scheduler.test_dispatch import (
    MONDAY_9,
    env,  # noqa: F401  (fixture)
    subscribe,
    weekly_9,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


GROUP, NEW_GROUP, GROUP_ADMIN = -100111, -100999, 3003


async def test_unsubscribed_users_pending_delivery_is_not_sent(env) -> None:  # noqa: F811
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    assert (await make().tick()).released == 1  # due, retried later
    ScheduleRepository(db).deactivate(1, DIGEST)  # the user sends /unsubscribe
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").status == "skipped"


async def test_unlink_skips_the_chats_pending_digest(env) -> None:  # noqa: F811
    db, clock, sender, make = env
    subscribe(db, GROUP, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    await make().tick()
    ChatRepository(db).unlink(GROUP)
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(GROUP, DIGEST, "2026-W10").reason == "unlinked"


async def test_unsubscribe_keeps_a_delivery_that_already_sent_a_part(env) -> None:  # noqa: F811
    db, clock, sender, make = env

    async def two_parts(target):  # type: ignore[no-untyped-def]
        from bot.scheduler.dispatch import OutgoingMessage

        return [OutgoingMessage("one"), OutgoingMessage("two")]

    subscribe(db, 1, weekly_9(), clock())
    sender.script[2] = TimedOut()  # the second part fails
    clock.now = MONDAY_9
    await make(builder=two_parts).tick()
    ScheduleRepository(db).deactivate(1, DIGEST)
    clock.advance(minutes=5)
    await make(builder=two_parts).tick()
    assert [text for _, text, _ in sender.delivered] == ["one", "two"]  # never half a digest


async def test_dispatcher_skips_a_delivery_of_a_stopped_schedule(env) -> None:  # noqa: F811
    db, clock, sender, make = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    await make().tick()
    db.execute("UPDATE schedules SET active = 0")  # stopped without the repository's cleanup
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").reason == "unsubscribed"
