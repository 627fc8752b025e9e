"""Twelve simulated weeks, 100 users, restarts, an outage, a kill mid-batch, 429s, DST.

The clock is injected and moves in 10-minute ticks; every restart opens a new connection and
a new dispatcher on the same SQLite file. Checked: exactly one digest per (user, week); none
after unsubscribing or blocking; every digest at its local time across DST changes.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram.error import RetryAfter

from bot.scheduler.calendar import Frequency, ScheduleSpec
from bot.scheduler.dispatch import Dispatcher, DispatchSettings
from storage.db import connect
from storage.subscriptions import ScheduleRepository
from tests.bot.scheduler.test_dispatch import (
    FakeClock,
    FakeSender,
    SimulatedCrash,
    builder,
    subscribe,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TICK = timedelta(minutes=10)
GRACE = timedelta(hours=6)
ZONES = ("America/New_York", "Europe/Berlin", "UTC", "Asia/Tokyo", "Australia/Sydney")
EXPLICIT = {  # DST edge cases: (weekday, HH:MM, zone)
    1: (6, "02:30", "America/New_York"),  # gap on 2026-03-08
    2: (6, "01:30", "America/New_York"),  # fold on 2026-11-01
    3: (6, "02:30", "Europe/Berlin"),  # gap on 2026-03-29, fold on 2026-10-25
    4: (0, "09:00", "America/New_York"),
    5: (0, "08:00", "Europe/Berlin"),
}
UNSUBSCRIBED = range(90, 95)
BLOCKED = range(95, 100)


def user_spec(uid: int, rng: random.Random) -> ScheduleSpec:
    if uid in EXPLICIT:
        day, hhmm, zone = EXPLICIT[uid]
    elif 50 <= uid < 80:  # one big batch: Mondays 09:00 UTC
        day, hhmm, zone = 0, "09:00", "UTC"
    else:
        day, zone = rng.randrange(7), ZONES[uid % len(ZONES)]
        hhmm = f"{rng.randrange(24):02d}:{rng.choice((0, 15, 30, 45)):02d}"
    hh, mm = hhmm.split(":")
    return ScheduleSpec(Frequency.WEEKLY, day, time(int(hh), int(mm)), zone)


def expected_due(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """Independent of bot.scheduler.calendar: walk local dates, zoneinfo with fold=0."""
    zone = ZoneInfo(spec.timezone)
    out, day = [], start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        if day.weekday() == spec.day:
            due = datetime.combine(day, spec.at, tzinfo=zone).astimezone(UTC)
            if start < due <= end:
                out.append(due)
        day += timedelta(days=1)
    return out


@pytest.mark.parametrize(
    "start_day", [date(2026, 2, 16), date(2026, 9, 28)], ids=["spring", "autumn"]
)
async def test_twelve_weeks_hundred_users(tmp_path, start_day: date) -> None:
    rng = random.Random(42)
    path = tmp_path / "sim.db"
    start = datetime.combine(start_day, time(0, 0), tzinfo=UTC)
    end = start + timedelta(weeks=12)
    clock = FakeClock(start)
    sender = FakeSender(clock)
    db = connect(path)
    specs = {uid: user_spec(uid, rng) for uid in range(1, 101)}
    for uid, spec in specs.items():
        subscribe(db, uid, spec, start)

    def restart():
        database = connect(path)
        settings = DispatchSettings(grace=GRACE, lease=timedelta(minutes=10))
        return database, Dispatcher(database, sender, builder, clock=clock, settings=settings)

    db, dispatcher = restart()
    outage = (start + timedelta(days=7, hours=7), start + timedelta(days=7, hours=11, minutes=30))
    kill_at = start + timedelta(weeks=3, hours=9)  # Monday 09:00 UTC: 30+ users at once
    unsub_at, block_at = start + timedelta(weeks=4), start + timedelta(weeks=6)
    calls_at_block: Counter[int] = Counter()
    restarts = crashes = 0
    tick = start
    while tick < end:
        clock.now = max(clock.now, tick)
        if outage[0] <= tick < outage[1]:
            tick = clock.now = outage[1]
            db, dispatcher = restart()
            restarts += 1
            continue
        if tick == kill_at:
            sender.script[sender.calls + 10] = SimulatedCrash()
        if tick == unsub_at:
            for uid in UNSUBSCRIBED:
                ScheduleRepository(db).deactivate(uid)
        if tick == block_at:
            sender.blocked.update(BLOCKED)
            calls_at_block = Counter(sender.attempts)
        if sender.calls % 97 == 96 and sender.calls + 1 not in sender.script:
            sender.script[sender.calls + 1] = RetryAfter(1)
        try:
            await dispatcher.tick()
        except SimulatedCrash:
            crashes += 1
            clock.advance(minutes=3)  # the process is dead for a while, then starts again
            db, dispatcher = restart()
        if tick.hour == 3 and tick.minute == 0 and tick.weekday() in (2, 5):
            db, dispatcher = restart()
            restarts += 1
        tick += TICK

    assert crashes == 1 and restarts >= 20 and sender.rate_limited
    sent = [(chat, text.split()[1], at) for chat, text, at in sender.delivered]
    per_key = Counter((chat, period) for chat, period, _ in sent)
    assert max(per_key.values()) == 1, "a digest was sent twice"
    horizon = end - GRACE
    for uid, spec in specs.items():
        due = expected_due(spec, start, horizon)
        if uid in UNSUBSCRIBED:
            due = [d for d in due if d < unsub_at]
        if uid in BLOCKED:
            due = [d for d in due if d < block_at]
        got = sorted(at for chat, _, at in sent if chat == uid and at <= horizon)
        assert len(got) == len(due), (uid, spec, due, got)
        for d, at in zip(due, got, strict=True):
            assert timedelta(0) <= at - d <= GRACE, (uid, d, at)
            in_outage = outage[0] <= d < outage[1] or kill_at <= d <= kill_at + timedelta(
                minutes=30
            )
            # a 429 that reaches the dispatcher (the limiter gave up) waits for a later tick
            rate_limited = any(c == uid and d <= when <= at for c, when in sender.rate_limited)
            assert at - d < TICK or in_outage or (rate_limited and at - d < 2 * TICK), (uid, d, at)
    for uid in BLOCKED:  # exactly one failed attempt after blocking, then skipped for good
        assert sender.attempts[uid] - calls_at_block[uid] == 1, uid
    # DST edges, by hand
    times = {uid: [at for c, _, at in sent if c == uid] for uid in EXPLICIT}
    if start_day.month == 2:
        assert datetime(2026, 3, 8, 7, 30, tzinfo=UTC) in times[1]  # 02:30 EST == 03:30 EDT
        assert datetime(2026, 3, 29, 1, 30, tzinfo=UTC) in times[3]  # 02:30 CET == 03:30 CEST
        mondays = [at.replace(second=0) for at in times[4]]
        assert datetime(2026, 3, 2, 14, 0, tzinfo=UTC) in mondays  # 09:00 EST
        assert datetime(2026, 3, 9, 13, 0, tzinfo=UTC) in mondays  # 09:00 EDT
    else:
        assert datetime(2026, 11, 1, 5, 30, tzinfo=UTC) in times[2]  # first 01:30 (EDT)
        assert datetime(2026, 10, 25, 0, 30, tzinfo=UTC) in times[3]  # first 02:30 (CEST)
        assert datetime(2026, 10, 26, 7, 0, tzinfo=UTC) in times[5]  # 08:00 CET
    db.close()
