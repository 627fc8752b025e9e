"""What the handlers ask for, without Telegram types: build, store, re-render, settings.

Engine work (builds, backtests, performance and charts) is a ``*_job(engine, ...)`` function
run by :meth:`bot.deps.Deps.run_engine`: in a worker process of the engine pool
(:mod:`bot.workers`), so its inputs and results pickle, or in a thread without a pool.
Storage writes run in ``deps.storage_executor`` through :meth:`bot.deps.Deps.run_storage`
(reads stay on the calling, event-loop, thread).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING

import sqlite_utils

from bot.deps import Deps
from bot.services.records import portfolio_view, record_of
from bot.workers import Engine
from smallq.choice import SectorCheck, check_sector_choice, sector_counts
from smallq.errors import DataError, SmallQError
from smallq.models import Profile, Report
from smallq.presentation import PortfolioView, monte_carlo_views
from smallq.profile import validate_profile
from smallq.simulation import simulate_methods
from smallq.types import Sector, Strategy
from smallq.universe import normalise_companies
from storage.db import transaction

if TYPE_CHECKING:
    from smallq.levels import LevelComparison
from storage.portfolios import PortfolioRecord, PortfolioRepository
from storage.subscriptions import ChatRepository
from storage.users import UserRepository, erase_user

#: charts sent with a fresh build, in order, and with /stress
RESULT_CHARTS: tuple[str, ...] = ("allocation", "frontier", "risk_contributions")
STRESS_CHARTS: tuple[str, ...] = ("monte_carlo", "stress")


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The Telegram user fields that are stored."""

    id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    """A stored build, its report and the charts to send (name -> PNG bytes, in order).

    A fresh build carries no charts: its text goes out first and :func:`result_charts` draws
    them in a second engine job, so that with many users building at once every portfolio's
    numbers arrive before anyone's pictures (the pool runs jobs in the order they came).
    """

    portfolio_id: int
    record: PortfolioRecord
    report: Report
    charts: dict[str, bytes]


def build_job(
    engine: Engine, profile: Profile, today: date, chart_names: tuple[str, ...]
) -> tuple[Report, dict[str, bytes]]:
    """Run the pipeline and draw the charts (a worker job)."""
    report = engine.build_portfolio(profile, engine.source, today=today, params=engine.params)
    if not chart_names:
        return report, {}
    return report, _pick(engine.render_charts(report, chart_names), chart_names)


@dataclass(frozen=True, slots=True)
class LevelChoices:
    """The risk question's level table, or why there is none (``comparison`` None)."""

    comparison: LevelComparison | None
    note: str = ""


async def level_choices(deps: Deps, profile: Profile) -> LevelChoices:
    """Each risk level of the profile's sectors in money, computed in the pool's quick lane.

    Users asking for the same sectors on the same day share one table
    (:class:`bot.deps.LevelTables`); only the capital, the base of the money, is their own.
    The table is started when the sectors are chosen (:func:`prefetch_level_choices`), so
    it is usually ready when the amount arrives.

    Without ``deps.compare_levels`` there is no table; an engine error becomes a note (the
    user can still pick a level, and Build will say what went wrong).
    """
    if deps.compare_levels is None:
        return LevelChoices(None)
    today = deps.today()
    key = deps.level_tables.key(profile, today)

    async def compute() -> LevelComparison:
        # a worker process, not a thread of the bot's: the event loop keeps the GIL; the
        # quick lane: never behind queued builds
        comparison: LevelComparison = await deps.run_engine(
            levels_job, profile, today, quick=True
        )
        return comparison

    try:
        shared = await deps.level_tables.get(key, compute, time.monotonic())
    except SmallQError as exc:
        return LevelChoices(None, exc.user_message())
    return LevelChoices(replace(shared, capital=profile.capital))


def level_choices_ready(deps: Deps, profile: Profile) -> bool:
    """Whether :func:`level_choices` answers at once (its table is computed, or none is)."""
    if deps.compare_levels is None:
        return True
    key = deps.level_tables.key(profile, deps.today())
    return deps.level_tables.ready(key, time.monotonic())


def prefetch_level_choices(deps: Deps, profile: Profile) -> None:
    """Start the level table of the profile's sectors now, while the user types the amount.

    The capital is not known yet and does not matter: the table is shared by the profile
    without its capital (:meth:`bot.deps.LevelTables.key`), and the risk question awaits
    the same computation. Nothing is done without ``deps.compare_levels``.
    """
    if deps.compare_levels is None:
        return
    deps.start_background(level_choices(deps, replace(profile, capital=1.0)), "level table")


def levels_job(engine: Engine, profile: Profile, today: date) -> LevelComparison:
    """The risk question's level table of a profile (a worker job)."""
    if engine.compare_levels is None:
        raise RuntimeError("this engine has no compare_levels")
    result: LevelComparison = engine.compare_levels(
        profile, engine.source, today=today, params=engine.params
    )
    return result


def charts_job(engine: Engine, report: Report, chart_names: tuple[str, ...]) -> dict[str, bytes]:
    """Draw a report's charts (a worker job)."""
    return _pick(engine.render_charts(report, chart_names), chart_names)


def _pick(charts: dict[str, bytes], names: tuple[str, ...]) -> dict[str, bytes]:
    return {name: charts[name] for name in names if name in charts}


def store_build(
    db: sqlite_utils.Database, user: UserInfo, profile: Profile, record: PortfolioRecord
) -> int:
    """Store the user, the profile and the portfolio in one transaction; return its id."""
    users = UserRepository(db)
    with transaction(db):  # the repositories' own transactions become savepoints
        users.touch(
            user.id,
            username=user.username,
            first_name=user.first_name,
            language_code=user.language_code,
        )
        users.save_profile(user.id, profile)
        return PortfolioRepository(db).add(user.id, record)


async def build_and_store(
    deps: Deps, user: UserInfo, profile: Profile, *, confirmation: str | None = None
) -> BuildOutcome:
    """Build off the loop, then store the user, profile, portfolio and holdings atomically.

    ``confirmation`` (the confirmation message that was tapped, see :func:`confirmed_build`)
    is stored with the build, under its settings.

    Raises
    ------
    SmallQError
        Any engine or storage error, unchanged (nothing is stored when either fails).
    """
    report, charts = await deps.run_engine(build_job, profile, deps.today(), ())
    record = record_of(report)
    if confirmation is not None:
        record = replace(record, settings={**record.settings, CONFIRMATION_KEY: confirmation})
    portfolio_id = await deps.run_storage(lambda db: store_build(db, user, profile, record))
    deps.recent.put(user.id, portfolio_id, report)
    return BuildOutcome(
        portfolio_id, replace(record, id=portfolio_id, user_id=user.id), report, charts
    )


#: where a build keeps the confirmation it answers (a key of its stored settings)
CONFIRMATION_KEY = "confirmation"
#: builds looked at for a confirmation: a tap is retried on the latest ones only
CONFIRMATION_LOOKBACK = 5


def confirmed_build(deps: Deps, user_id: int, confirmation: str) -> PortfolioRecord | None:
    """The user's stored build made from this confirmation, if there is one.

    A build is idempotent per confirmation: a second tap on the same *Build* button (a
    double tap, or a tap after a restart that lost the answer) finds it instead of building
    again.
    """
    repo = deps.portfolios()
    for portfolio_id in repo.list_ids(user_id, CONFIRMATION_LOOKBACK):
        record = repo.get(portfolio_id)
        if record is not None and record.settings.get(CONFIRMATION_KEY) == confirmation:
            return record
    return None


async def stored_build(deps: Deps, record: PortfolioRecord) -> BuildOutcome:
    """A stored build again (its report from memory, else rebuilt at its date); the charts
    follow with :func:`result_charts`."""
    assert record.id is not None and record.user_id is not None
    remembered = deps.recent.get(record.user_id, record.id)
    if remembered is not None:
        return BuildOutcome(record.id, record, remembered, {})
    profile = replace(record.profile, as_of=record.as_of)
    report, charts = await deps.run_engine(build_job, profile, deps.today(), ())
    deps.recent.put(record.user_id, record.id, report)
    return BuildOutcome(record.id, record, report, charts)


async def result_charts(deps: Deps, outcome: BuildOutcome) -> dict[str, bytes]:
    """The result charts of a build: those it carries, else drawn now in the engine pool.

    Raises
    ------
    SmallQError
        When the charts cannot be drawn (the build itself is stored and was sent).
    """
    if outcome.charts:
        return outcome.charts
    charts: dict[str, bytes] = await deps.run_engine(charts_job, outcome.report, RESULT_CHARTS)
    return charts


@dataclass(frozen=True, slots=True)
class StressOutcome:
    """/stress of the last build: its view with Monte Carlo by every method, and the charts."""

    record: PortfolioRecord
    view: PortfolioView
    charts: dict[str, bytes]


def stress_job(
    engine: Engine, report: Report, chart_names: tuple[str, ...]
) -> tuple[Report, dict[str, bytes]]:
    """The report with Monte Carlo by every method (a build runs one) and its charts (a job)."""
    report = replace(report, stress=simulate_methods(report.stress, engine.params))
    return report, _pick(engine.render_charts(report, chart_names), chart_names)


async def stress_of_latest(deps: Deps, user_id: int) -> StressOutcome | None:
    """The user's last portfolio with every Monte Carlo method and the stress charts, or ``None``.

    The report of the latest build is reused while it is in memory; otherwise the stored
    profile is rebuilt at the stored ``as_of`` date (the same point in time). The build ran
    one Monte Carlo method; the other two are simulated here from the same daily returns
    (and kept with the report in memory for the next /stress).
    """
    record = deps.portfolios().latest(user_id)
    if record is None or record.id is None:
        return None
    report = deps.recent.get(user_id, record.id)
    if report is None:
        profile = replace(record.profile, as_of=record.as_of)
        built, _ = await deps.run_engine(build_job, profile, deps.today(), ())
        report = built
    every_method, charts = await deps.run_engine(stress_job, report, STRESS_CHARTS)
    deps.recent.put(user_id, record.id, every_method)
    stored = portfolio_view(record)
    simulations = monte_carlo_views(every_method.stress) or stored.monte_carlo
    return StressOutcome(record, replace(stored, monte_carlo=simulations), charts)


@dataclass(frozen=True, slots=True)
class BacktestFigures:
    """The few numbers of a backtest a phone shows (rates are fractions, values in money)."""

    cagr: float
    benchmark_cagr: float | None
    max_drawdown: float
    start_value: float
    final_value: float


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    """A backtest as the bot shows it: the engine's text, window, charts and key figures.

    ``figures`` gives the short phone summary; ``text`` (the CLI's wide summary) is the
    fallback when they are missing.
    """

    text: str
    start: date
    end: date
    charts: dict[str, bytes]
    figures: BacktestFigures | None = None


async def backtest(deps: Deps, profile: Profile, years: int) -> BacktestOutcome:
    """Backtest the profile's strategy over the last ``years`` of data (off the event loop)."""
    return await deps.run_engine(backtest_job, profile, years, deps.today())


def backtest_job(
    engine: Engine,
    profile: Profile,
    years: int,
    today: date,
    rebalance: str = "monthly",
    costs_bps: float = 10.0,
) -> BacktestOutcome:
    """Backtest over the last ``years`` of data (a worker job).

    The window ends at the source's last price (or today, if earlier).
    """
    if engine.run_backtest is None:
        raise NotImplementedError("run_strategy_backtest is not available")
    source = engine.source
    last = source.last_date() if hasattr(source, "last_date") else None
    end = today if last is None else min(today, last)
    start = end - timedelta(days=round(365.25 * years))
    return engine.run_backtest(
        profile, source, start=start, end=end, rebalance=rebalance, costs_bps=costs_bps,
        whole_shares=not profile.fractional,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PerformanceOutcome:
    """A stored portfolio since its build date: the engine's text, end date and chart."""

    text: str
    since: date
    end: date
    charts: dict[str, bytes]


async def performance(deps: Deps, record: PortfolioRecord) -> PerformanceOutcome:
    """The record's value since its data date against the S&P 500 (off the event loop).

    Raises ``InsufficientHistoryError`` when no trading day has passed.
    """
    return await deps.run_engine(performance_job, record, deps.today())


def performance_job(engine: Engine, record: PortfolioRecord, today: date) -> PerformanceOutcome:
    """Value the record's shares and cash since its data date (a worker job)."""
    from smallq.charts.backtest import tracking_chart
    from smallq.pipeline import track_portfolio
    from smallq.report import format_tracking

    shares = {h.ticker: h.shares for h in record.holdings if h.shares}
    rate = float(record.settings.get("risk_free_rate", engine.params.risk_free_rate))
    tracked = track_portfolio(
        shares, record.cash_left, record.as_of, engine.source, today=today,
        risk_free_rate=rate, params=engine.params,
    )  # fmt: skip
    return PerformanceOutcome(
        text=format_tracking(tracked, currency=record.currency),
        since=tracked.since,
        end=tracked.end,
        charts={
            "tracking": tracking_chart(tracked.tracking, start_value=float(tracked.values.iloc[0]))
        },
    )


async def erase(deps: Deps, user_id: int) -> bool:
    """Erase everything stored about a user, their chat links included; return whether
    anything was stored.

    A group or channel the user linked is unlinked (its digests stop, pending ones are
    skipped) and the link row, which holds the user's id, is deleted: the link followed the
    user's own build or was made on their authority, and both are gone.
    """
    deps.recent.drop(user_id)
    now = deps.clock().astimezone(UTC).isoformat(timespec="seconds")

    def erase_all(db: sqlite_utils.Database) -> bool:
        with transaction(db):
            rows = db.execute("SELECT chat_id FROM chat_links WHERE linked_by = ?", (user_id,))
            chats = ChatRepository(db)
            for (chat_id,) in rows.fetchall():
                chats.unlink(int(chat_id), now=now)
            db.execute("DELETE FROM chat_links WHERE linked_by = ?", (user_id,))
            return erase_user(db, user_id)

    return await deps.run_storage(erase_all)


# --------------------------------------------------------------------------- reads
def latest_portfolio(deps: Deps, user_id: int) -> PortfolioRecord | None:
    """The user's last stored build, or ``None``."""
    return deps.portfolios().latest(user_id)


def owned_portfolio(deps: Deps, user_id: int, portfolio_id: int) -> PortfolioRecord | None:
    """A stored build when it belongs to ``user_id``; ``None`` when foreign or erased."""
    record = deps.portfolios().get(portfolio_id)
    return record if record is not None and record.user_id == user_id else None


def saved_profile(deps: Deps, user_id: int) -> Profile | None:
    """The user's saved profile, or ``None``."""
    return deps.users().get_profile(user_id)


# --------------------------------------------------------------------------- sectors
def sector_counts_blocking(deps: Deps) -> dict[Sector, int]:
    """Stocks per sector in the source's company table (call in a worker thread)."""
    return sector_counts(normalise_companies(deps.source().fetch_companies()))


async def stocks_per_sector(deps: Deps) -> dict[Sector, int] | None:
    """Stocks per sector in the data, asked once per source and cached; None when unknown.

    A source that cannot list its companies (an outage, a source without a table) gives
    None: the keyboard then shows every sector without counts and Done checks nothing.
    """
    name = deps.source().name
    if name not in deps.sector_counts:
        try:
            counts = await deps.run_blocking(sector_counts_blocking, deps)
        except DataError:
            return None
        deps.sector_counts[name] = counts
    return deps.sector_counts[name]


async def check_sectors(
    deps: Deps, sectors: list[Sector], base: Profile | None
) -> SectorCheck | None:
    """Whether the sectors hold enough stocks for every risk level; None when counts are unknown.

    ``base`` (the saved profile) supplies the number of stocks and any max weight chosen.
    """
    counts = await stocks_per_sector(deps)
    if counts is None:
        return None
    profile = base if base is not None else Profile(sectors=tuple(sectors), capital=1.0)
    return check_sector_choice(counts, sectors, profile)


# --------------------------------------------------------------------------- settings
async def save_profile(deps: Deps, user_id: int, profile: Profile) -> None:
    """Store a changed profile (off the event loop)."""
    await deps.run_storage(lambda db: UserRepository(db).save_profile(user_id, profile))


def current_settings(profile: Profile) -> dict[str, str]:
    """The /settings keyboard's current values."""
    return {
        "strategy": profile.strategy.value,
        "topn": str(profile.top_n),
        "maxw": "auto" if profile.max_weight is None else f"{profile.max_weight:g}",
        "frac": "on" if profile.fractional else "off",
    }


def apply_setting(profile: Profile, key: str, value: str) -> Profile:
    """The profile with one /settings choice applied (validated).

    Raises
    ------
    InputError
        When the result is not a valid profile.
    """
    if key == "strategy":
        changed = replace(profile, strategy=Strategy(value))
    elif key == "topn":
        changed = replace(profile, top_n=int(value))
    elif key == "maxw":
        changed = replace(profile, max_weight=None if value == "auto" else float(value))
    elif key == "frac":
        changed = replace(profile, fractional=value == "on")
    else:
        raise KeyError(key)
    return validate_profile(changed)
