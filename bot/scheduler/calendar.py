"""Pure schedule arithmetic: local wall-clock schedules, DST, period keys, grace windows.

A schedule is "weekly on a weekday" or "monthly on a day" at a local time in an IANA zone.
Each period (ISO week ``"2026-W47"`` or month ``"2026-11"``) has exactly one occurrence:

* the local time is turned into UTC with :mod:`zoneinfo` (``fold=0``): a time that does not
  exist because clocks sprang forward (02:30 on 2026-03-08 in New York) fires at the same
  instant the pre-change offset gives, i.e. shifted forward by the gap (03:30 local); a time
  that happens twice because clocks fell back (01:30 on 2026-11-01) fires at its first
  instance. Either way it fires once;
* monthly days beyond the month's end use its last day (31 → 30 April, 28/29 February).

Nothing here reads a clock: every function takes ``now``; :data:`Clock` is the injectable
clock type and :func:`system_clock` the real one.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.config import BotConfig, declared_default
from bot.parsing import ascii_int, zone_info
from bot.telegram_text import shorten
from smallq.errors import InputError

Clock = Callable[[], datetime]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_CATCH_UP = 400


def system_clock() -> datetime:
    """The current UTC time (the only real clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """Knobs of scheduling, digests and paper trading (defaults suit production).

    The five knobs that are settings (grace, costs, drift, digest day and time) take their
    defaults from :class:`bot.config.BotConfig`, where each is declared once;
    :meth:`from_config` carries a loaded configuration over.

    Attributes
    ----------
    tick_seconds, first_tick_seconds : float
        How often the tick job asks the database what is due, and the first delay.
    grace : timedelta
        A missed occurrence still goes out when the bot is back within this window.
    lease : timedelta
        How long a dispatcher owns a delivery before another may retry it.
    costs_bps : float
        Paper trading cost per order, basis points of its value.
    drift_threshold : float
        Default tolerance band of the drift rule (users override it with /alerts).
    plan_ttl : timedelta
        How long Apply works on a rebalance plan.
    link_day, link_time : int, str
        When linked chats get their weekly digest (weekday 0 = Monday, local "HH:MM").
    performance_days : int
        Trading days of the model portfolio's performance in chat digests.
    model_sectors, model_capital, model_risk
        The bot's model portfolio, followed by chats linked without a portfolio id.
    """

    tick_seconds: float = 60.0
    first_tick_seconds: float = 10.0
    grace: timedelta = timedelta(hours=declared_default("grace_hours"))
    lease: timedelta = timedelta(minutes=10)
    max_attempts: int = 3
    costs_bps: float = declared_default("paper_costs_bps")
    min_trade_value: float = 0.0
    drift_threshold: float = declared_default("drift_threshold")
    plan_ttl: timedelta = timedelta(days=3)
    link_day: int = declared_default("digest_day")
    link_time: str = declared_default("digest_time")
    performance_days: int = 63
    model_sectors: tuple[str, ...] = ("Information Technology", "Health Care", "Financials")
    model_capital: float = 100_000.0
    model_risk: str = "moderate"

    @classmethod
    def from_config(cls, config: BotConfig) -> SchedulerSettings:
        """The defaults, with the configured grace, costs, drift and digest day and time."""
        return cls(
            grace=timedelta(hours=config.grace_hours),
            costs_bps=config.paper_costs_bps,
            drift_threshold=config.drift_threshold,
            link_day=config.digest_day,
            link_time=config.digest_time,
        )


class Frequency(StrEnum):
    """How often a schedule fires."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When a schedule fires.

    Attributes
    ----------
    frequency : Frequency
    day : int
        Weekly: 0 (Monday) to 6 (Sunday). Monthly: 1 to 31 (clamped to the month's end).
    at : time
        Local wall-clock time (minutes; seconds are ignored).
    timezone : str
        IANA zone name ("Europe/Berlin").
    """

    frequency: Frequency
    day: int
    at: time
    timezone: str

    def __post_init__(self) -> None:
        low, high = (0, 6) if self.frequency is Frequency.WEEKLY else (1, 31)
        if not low <= self.day <= high:
            raise InputError(f"Day must be between {low} and {high} for a {self.frequency} plan.")
        zone_of(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return zone_of(self.timezone)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One firing: its period key, the UTC instant and the local wall-clock time."""

    period: str
    due_at: datetime
    local: datetime


def zone_of(name: str) -> ZoneInfo:
    """Resolve an IANA zone name.

    Raises
    ------
    InputError
        When the zone is unknown.
    """
    zone = zone_info(name)
    if zone is None:
        raise InputError(
            f"Unknown time zone {shorten(name)!r}; use a name like Europe/Berlin.", field="zone"
        )
    return zone


def to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """UTC instant of a local wall-clock time (gaps shift forward, folds take the first)."""
    local = datetime.combine(day, at.replace(second=0, microsecond=0), tzinfo=zone)
    return local.replace(fold=0).astimezone(UTC)


def period_start(spec: ScheduleSpec, local_day: date) -> date:
    """First day of the period (ISO week or month) that contains ``local_day``."""
    if spec.frequency is Frequency.WEEKLY:
        return local_day - timedelta(days=local_day.weekday())
    return local_day.replace(day=1)


def period_key(spec: ScheduleSpec, local_day: date) -> str:
    """``"2026-W47"`` (ISO week) or ``"2026-11"`` for the period containing ``local_day``."""
    if spec.frequency is Frequency.WEEKLY:
        year, week, _ = local_day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local_day.year}-{local_day.month:02d}"


def occurrence_in_period(spec: ScheduleSpec, local_day: date) -> Occurrence:
    """The one occurrence of the period that contains ``local_day``."""
    start = period_start(spec, local_day)
    if spec.frequency is Frequency.WEEKLY:
        day = start + timedelta(days=spec.day)
    else:
        last = calendar.monthrange(start.year, start.month)[1]
        day = start.replace(day=min(spec.day, last))
    due = to_utc(day, spec.at, spec.zone)
    return Occurrence(period_key(spec, day), due, due.astimezone(spec.zone))


def _next_period_day(spec: ScheduleSpec, local_day: date) -> date:
    start = period_start(spec, local_day)
    if spec.frequency is Frequency.WEEKLY:
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def next_after(spec: ScheduleSpec, moment: datetime) -> Occurrence:
    """The first occurrence strictly after ``moment`` (an aware datetime)."""
    local_day = moment.astimezone(spec.zone).date()
    occurrence = occurrence_in_period(spec, local_day)
    if occurrence.due_at > moment:
        return occurrence
    return occurrence_in_period(spec, _next_period_day(spec, local_day))


def latest_at_or_before(spec: ScheduleSpec, moment: datetime) -> Occurrence:
    """The last occurrence at or before ``moment``."""
    local_day = moment.astimezone(spec.zone).date()
    occurrence = occurrence_in_period(spec, local_day)
    if occurrence.due_at <= moment:
        return occurrence
    return occurrence_in_period(spec, period_start(spec, local_day) - timedelta(days=1))


def occurrences_between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences with ``start <= due_at <= end``, oldest first (at most 400)."""
    found: list[Occurrence] = []
    current = next_after(spec, start - timedelta(microseconds=1))
    while current.due_at <= end and len(found) < _MAX_CATCH_UP:
        found.append(current)
        current = next_after(spec, current.due_at)
    return found


def within_grace(due_at: datetime, now: datetime, grace: timedelta) -> bool:
    """Whether an occurrence due at ``due_at`` may still be sent at ``now``."""
    return timedelta(0) <= now - due_at <= grace


def parse_schedule(args: Sequence[str], default_timezone: str) -> ScheduleSpec:
    """Parse ``weekly mon 09:00 [Zone/Name]`` or ``monthly 1 18:30 [Zone/Name]``.

    Weekdays accept three-letter or full English names; times accept ``H:MM`` or ``HH:MM``
    (24-hour). The zone defaults to ``default_timezone``.

    Raises
    ------
    InputError
        With an example of the expected form.
    """
    example = "Use e.g. /subscribe weekly mon 09:00 or /subscribe monthly 1 18:30 Europe/Berlin."
    if len(args) not in (3, 4):
        raise InputError(f"I need a frequency, a day and a time. {example}")
    kind = args[0].strip().lower()
    if kind not in ("weekly", "monthly"):
        raise InputError(f"Frequency must be weekly or monthly. {example}")
    frequency = Frequency(kind)
    day = _parse_day(frequency, args[1].strip().lower(), example)
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", args[2].strip())
    if not match:
        raise InputError(f"{shorten(args[2])!r} is not a time like 09:00. {example}")
    at = time(int(match.group(1)), int(match.group(2)))
    zone = args[3].strip() if len(args) == 4 else default_timezone
    return ScheduleSpec(frequency, day, at, zone)


def _parse_day(frequency: Frequency, text: str, example: str) -> int:
    if frequency is Frequency.WEEKLY:
        for index, name in enumerate(WEEKDAYS):
            if text in (name, calendar.day_name[index].lower()):
                return index
        raise InputError(f"{shorten(text)!r} is not a weekday (mon … sun). {example}")
    day = ascii_int(text, 1, 31) if len(text) <= 2 else None
    if day is None:
        raise InputError(f"{shorten(text)!r} is not a day of the month (1–31). {example}")
    return day


def describe(spec: ScheduleSpec) -> str:
    """Human wording: "every Monday at 09:00 (Europe/Berlin)"."""
    at = spec.at.strftime("%H:%M")
    if spec.frequency is Frequency.WEEKLY:
        return f"every {calendar.day_name[spec.day]} at {at} ({spec.timezone})"
    suffix = "" if spec.day <= 28 else " (or the month's last day)"
    return f"monthly on day {spec.day}{suffix} at {at} ({spec.timezone})"
