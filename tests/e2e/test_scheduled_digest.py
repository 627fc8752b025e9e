"""End to end: a linked group gets its scheduled weekly digest with a chart, exactly once.

The real Application polls the fake Bot API over HTTP; the JobQueue ticks every 0.2 s; the
clock that decides what is due is injected; the digest is built by the real pipeline on the
offline sample data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.main import make_deps
from bot.scheduler.calendar import SchedulerSettings
from bot.scheduler.dispatch import DIGEST
from storage.db import connect
from storage.deliveries import DeliveryRepository
from tests.bot.scheduler.test_dispatch import FakeClock
from tests.e2e.fake_telegram import FakeTelegramServer
from tests.e2e.harness import TOKEN, e2e_config, is_png, running_bot, settle

GROUP, ADMIN_USER = -1009001, 6001
SUNDAY_NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = SchedulerSettings(tick_seconds=0.2, first_tick_seconds=0.1)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


def fast_deps(config, clock: FakeClock):
    deps = make_deps(config)
    deps.clock = clock
    deps.scheduler = FAST
    return deps


async def test_scheduled_group_digest_arrives_once_with_chart(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    api, clock = server.api, FakeClock(SUNDAY_NOON)
    config = e2e_config(tmp_path, server)
    api.chat_members[(GROUP, ADMIN_USER)] = "administrator"
    async with running_bot(config, fast_deps(config, clock)):
        api.send_text(ADMIN_USER, "/link", chat_id=GROUP)
        await api.wait_for(lambda: any("Linked" in t for t in api.texts_to(GROUP)), 15)
        await settle(0.5)
        assert api.photos_to(GROUP) == []  # not due yet: Monday 09:00 UTC
        clock.now = SUNDAY_NOON + timedelta(hours=21, minutes=3)
        await api.wait_for(lambda: len(api.photos_to(GROUP)) >= 1, 30)
        await settle(0.6)

    texts = [t for t in api.texts_to(GROUP) if "Weekly digest" in t]
    assert len(texts) == 1
    digest = texts[0]
    assert "smallQ model portfolio" in digest and "prices as of 2022-12-28" in digest
    assert "1 week: portfolio" in digest and "S&amp;P 500" in digest and "3 months" in digest
    assert digest.count("%") >= 5  # weights and returns
    (photo,) = api.photos_to(GROUP)
    assert is_png(photo)
    caption = api.calls_of("sendPhoto", GROUP)[0].params["caption"]
    assert "vs S&P 500" in caption
    record = DeliveryRepository(connect(config.db_path)).get(GROUP, DIGEST, "2026-W10")
    assert record is not None and record.status == "sent"

    # a restart later the same week sends nothing again
    clock.now += timedelta(hours=2)
    async with running_bot(config, fast_deps(config, clock)):
        await settle(1.0)
    assert len([t for t in api.texts_to(GROUP) if "Weekly digest" in t]) == 1
    assert len(api.photos_to(GROUP)) == 1
