"""The dispatcher waits for SQLite's lock without freezing the event loop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.scheduler.dispatch import Dispatcher
from storage.db import connect
from tests.bot.fakes import Heartbeat, hold_write_lock
from tests.bot.scheduler.test_dispatch import (
    MONDAY_9,
    FakeClock,
    FakeSender,
    builder,
    subscribe,
    weekly_9,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_dispatcher_waits_for_a_lock_without_freezing_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    clock = FakeClock(MONDAY_9 - timedelta(hours=1))
    subscribe(connect(path), 1, weekly_9(), clock())
    clock.now, sender = MONDAY_9, FakeSender(clock)
    dispatcher = Dispatcher(connect(path, busy_timeout_s=0.05), sender, builder, clock=clock)
    hold_write_lock(path, 0.6)
    async with Heartbeat() as beat:
        stats = await dispatcher.tick()
    assert (stats.planned, stats.sent) == (1, 1)
    assert max(beat.gaps) < 0.3, f"event loop blocked for {max(beat.gaps):.2f} s"
