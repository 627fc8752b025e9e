"""Schedule arithmetic: DST, period keys, month ends, grace, parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.config import BotConfig
from bot.scheduler.calendar import (
    Frequency,
    SchedulerSettings,
    ScheduleSpec,
    describe,
    latest_at_or_before,
    next_after,
    occurrence_in_period,
    occurrences_between,
    parse_schedule,
    period_key,
    within_grace,
)
from smallq.errors import InputError

NY = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(day: int, hh: int, mm: int, tz: str) -> ScheduleSpec:
    return ScheduleSpec(Frequency.WEEKLY, day, time(hh, mm), tz)


def test_weekly_occurrences_follow_local_time_across_spring_forward() -> None:
    spec = weekly(0, 9, 0, NY)  # Mondays 09:00 New York; DST starts Sun 2026-03-08
    found = occurrences_between(spec, utc(2026, 3, 1), utc(2026, 3, 17))
    assert [o.due_at for o in found] == [
        utc(2026, 3, 2, 14),
        utc(2026, 3, 9, 13),
        utc(2026, 3, 16, 13),
    ]
    assert [o.period for o in found] == ["2026-W10", "2026-W11", "2026-W12"]
    assert all(o.local.hour == 9 and o.local.minute == 0 for o in found)


def test_nonexistent_local_time_fires_once_shifted_by_the_gap() -> None:
    spec = weekly(6, 2, 30, NY)  # Sundays 02:30; 2026-03-08 02:30 does not exist
    occurrence = occurrence_in_period(spec, date(2026, 3, 8))
    assert occurrence.due_at == utc(2026, 3, 8, 7, 30)  # 02:30 EST == 03:30 EDT
    assert occurrence.local.hour == 3 and occurrence.local.minute == 30
    found = occurrences_between(spec, utc(2026, 3, 7), utc(2026, 3, 9))
    assert len(found) == 1


def test_ambiguous_local_time_fires_once_at_first_instance() -> None:
    spec = weekly(6, 1, 30, NY)  # 2026-11-01 01:30 happens twice
    found = occurrences_between(spec, utc(2026, 10, 31), utc(2026, 11, 2))
    assert [o.due_at for o in found] == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT


def test_berlin_autumn_change_and_iso_week_keys() -> None:
    spec = weekly(0, 8, 0, BERLIN)  # DST ends Sun 2026-10-25
    found = occurrences_between(spec, utc(2026, 10, 18), utc(2026, 11, 3))
    assert [o.due_at for o in found] == [
        utc(2026, 10, 19, 6),
        utc(2026, 10, 26, 7),
        utc(2026, 11, 2, 7),
    ]
    assert period_key(spec, date(2026, 11, 16)) == "2026-W47"
    assert period_key(spec, date(2027, 1, 1)) == "2026-W53"  # ISO year of a Friday


def test_monthly_clamps_to_month_end_and_keys_by_month() -> None:
    spec = ScheduleSpec(Frequency.MONTHLY, 31, time(18, 30), "UTC")
    found = occurrences_between(spec, utc(2026, 1, 1), utc(2026, 5, 1))
    assert [o.due_at.date() for o in found] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert [o.period for o in found] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert period_key(spec, date(2026, 11, 5)) == "2026-11"


def test_next_after_and_latest_at_or_before_bracket_now() -> None:
    spec = weekly(2, 12, 0, BERLIN)  # Wednesdays 12:00
    now = utc(2026, 6, 10, 10, 0)  # Wed 12:00 CEST
    assert latest_at_or_before(spec, now).due_at == now
    assert next_after(spec, now).due_at == utc(2026, 6, 17, 10)
    assert latest_at_or_before(spec, now - timedelta(seconds=1)).due_at == utc(2026, 6, 3, 10)
    # a time zone whose local date differs from UTC: Sunday 23:00 in Tokyo is Sunday 14:00 UTC
    tokyo = weekly(6, 23, 0, "Asia/Tokyo")
    assert next_after(tokyo, utc(2026, 6, 14, 13)).due_at == utc(2026, 6, 14, 14)


def test_within_grace() -> None:
    due = utc(2026, 1, 5, 9)
    assert within_grace(due, due, timedelta(hours=6))
    assert within_grace(due, due + timedelta(hours=6), timedelta(hours=6))
    assert not within_grace(due, due + timedelta(hours=6, seconds=1), timedelta(hours=6))
    assert not within_grace(due, due - timedelta(seconds=1), timedelta(hours=6))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["weekly", "mon", "09:00"], weekly(0, 9, 0, "UTC")),
        (["Weekly", "Sunday", "7:05", BERLIN], weekly(6, 7, 5, BERLIN)),
        (["monthly", "31", "23:59"], ScheduleSpec(Frequency.MONTHLY, 31, time(23, 59), "UTC")),
    ],
)
def test_parse_schedule(args: list[str], expected: ScheduleSpec) -> None:
    assert parse_schedule(args, "UTC") == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["daily", "mon", "09:00"],
        ["weekly", "funday", "09:00"],
        ["weekly", "mon", "25:00"],
        ["weekly", "mon", "9"],
        ["monthly", "32", "09:00"],
        ["monthly", "0", "09:00"],
        ["weekly", "mon", "09:00", "Mars/Olympus"],
    ],
)
def test_parse_schedule_rejects(args: list[str]) -> None:
    with pytest.raises(InputError):
        parse_schedule(args, "UTC")


def test_describe() -> None:
    assert describe(weekly(0, 9, 0, BERLIN)) == "every Monday at 09:00 (Europe/Berlin)"
    assert "last day" in describe(ScheduleSpec(Frequency.MONTHLY, 31, time(9), "UTC"))


def test_scheduler_defaults_are_the_declared_settings() -> None:
    config = BotConfig()
    assert SchedulerSettings.from_config(config) == SchedulerSettings()
    changed = SchedulerSettings.from_config(
        BotConfig(grace_hours=1.5, paper_costs_bps=3.0, drift_threshold=0.1, digest_day=4,
                  digest_time="18:30")
    )  # fmt: skip
    assert (changed.grace, changed.costs_bps, changed.drift_threshold) == (
        timedelta(hours=1.5), 3.0, 0.1,
    )  # fmt: skip
    assert (changed.link_day, changed.link_time) == (4, "18:30")
