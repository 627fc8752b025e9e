"""The only dashboard code that calls the engine or storage.

Pages read widgets and call these functions; :mod:`dashboard.views` draws what they return.
Streamlit caching: ``st.cache_resource`` holds the price source and the per-thread database
connections (keyed by their settings); ``st.cache_data`` holds engine results keyed by plain
request values, so moving a slider back to a seen value costs nothing.

Every account query takes the signed-in ``user_id`` and passes it to a repository method
whose SQL is scoped by it (``WHERE user_id = ?``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import sqlite_utils
import streamlit as st

from dashboard.config import DashboardConfig, load_dashboard_config
from smallq.alerts import THRESHOLD_NAMES, AlertThresholds, thresholds_for
from smallq.data.base import PriceSource
from smallq.errors import InputError
from smallq.models import Profile, Report
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.pipeline import build_portfolio, run_strategy_backtest, track_portfolio
from smallq.profile import make_profile
from smallq.results import BacktestReport, TrackedPortfolio
from smallq.simulation import simulate_methods
from smallq.types import Objective
from smallq.universe import normalise_companies
from storage.db import connect, transaction
from storage.ledger import LedgerRepository, PaperAccount, TradeRecord
from storage.portfolios import PortfolioRecord, PortfolioRepository
from storage.subscriptions import ScheduleRecord, ScheduleRepository, ThresholdRepository

#: the schedule kind the bot's scheduler sends digests for (``bot.dispatch.DIGEST``)
DIGEST_KIND = "digest"
#: losses offered by the Monte Carlo slider: 0% to 50% a year, by 1%
LOSS_LEVELS: tuple[float, ...] = tuple(round(x / 100, 2) for x in range(51))


def settings() -> DashboardConfig:
    """The settings (cheap: ``.env`` plus the environment)."""
    return load_dashboard_config()


def engine_params(config: DashboardConfig) -> EngineParams:
    """Engine constants for this dashboard: Monte Carlo paths and the slider's loss grid."""
    params = replace(DEFAULT_PARAMS, mc_loss_levels=LOSS_LEVELS)
    return replace(params, mc_paths=config.mc_paths) if config.mc_paths else params


@st.cache_resource(show_spinner=False)
def price_source(spec: str) -> PriceSource:
    """The price source named by ``SMALLQ_SOURCE`` (one per process)."""
    from smallq.data.registry import open_source

    return open_source(spec)


class Connections:
    """One SQLite connection per Streamlit script thread for one database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def __call__(self) -> sqlite_utils.Database:
        """The calling thread's connection, opened with migrations applied."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
        return db


@st.cache_resource(show_spinner=False)
def connections(path: str) -> Connections:
    """The connection factory of the database at ``path`` (one per process)."""
    return Connections(path)


def today() -> date:
    """The front end's clock (the engine never reads one)."""
    return datetime.now(UTC).date()


# --------------------------------------------------------------------------- build
@dataclass(frozen=True, slots=True)
class BuildRequest:
    """What the Build page asks for, as plain values (the cache key)."""

    sectors: tuple[str, ...]
    capital: str
    risk_level: int
    strategy: str
    objective: str | None = None
    as_of: str | None = None


@st.cache_data(show_spinner=False)
def sector_counts(spec: str) -> dict[str, int]:
    """Stocks per sector in the source's company table, largest first."""
    companies = normalise_companies(price_source(spec).fetch_companies())
    counts = companies["sector"].dropna().astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _profile(request: tuple[object, ...]) -> Profile:
    """The profile of a page's request (sectors, capital, risk, strategy, objective, as-of)."""
    sectors, capital, risk, strategy, objective, as_of = request
    return make_profile(
        sectors=list(sectors),  # type: ignore[call-overload]
        capital=str(capital),
        risk_level=int(risk),  # type: ignore[call-overload]
        strategy=str(strategy),
        objective=objective,  # type: ignore[arg-type]
        as_of=date.fromisoformat(str(as_of)) if as_of else None,
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _build(spec: str, request: tuple[object, ...], mc_paths: int | None, day: str) -> Report:
    profile = _profile(request)
    config = replace(settings(), mc_paths=mc_paths)
    return build_portfolio(
        profile, price_source(spec), today=date.fromisoformat(day), params=engine_params(config)
    )


def build(request: BuildRequest) -> Report:
    """The pipeline's report for one request (cached).

    Raises
    ------
    SmallQError
        Bad input or any engine error; pages show its ``user_message()``.
    """
    config = settings()
    return _build(config.source, _request_key(request), config.mc_paths, today().isoformat())


def _request_key(request: BuildRequest) -> tuple[object, ...]:
    """The cache key of a build request (plain values); no sector is bad input."""
    if not request.sectors:
        raise InputError("Pick at least one sector.", field="sectors")
    return (
        request.sectors, request.capital, request.risk_level, request.strategy,
        request.objective, request.as_of,
    )  # fmt: skip


@st.cache_data(show_spinner=False, max_entries=64)
def _stress_build(spec: str, request: tuple[object, ...], mc_paths: int | None, day: str) -> Report:
    report = _build(spec, request, mc_paths, day)
    params = engine_params(replace(settings(), mc_paths=mc_paths))
    return replace(report, stress=simulate_methods(report.stress, params))


def stress_build(request: BuildRequest) -> Report:
    """The report of :func:`build` with Monte Carlo by every method (the Stress page; cached).

    A build simulates one method (bootstrap); the other two are simulated from the same
    daily returns with the build's settings.

    Raises
    ------
    SmallQError
        As :func:`build`.
    """
    config = settings()
    key = _request_key(request)
    return _stress_build(config.source, key, config.mc_paths, today().isoformat())


@st.cache_data(show_spinner=False, max_entries=64)
def _benchmark_point(
    spec: str, as_of: str, lookback_days: int, returns_model: str
) -> tuple[float, float] | None:
    from smallq.data.market import history_start
    from smallq.errors import DataError
    from smallq.forecast import covariance, expected_returns
    from smallq.types import CovModel, ReturnsModel

    end = date.fromisoformat(as_of)
    try:
        level = price_source(spec).fetch_benchmark(history_start(end, lookback_days + 5), end)
    except DataError:
        return None
    frame = level.iloc[-(lookback_days + 1) :].rename("S&P 500").to_frame()
    model = ReturnsModel(returns_model)
    model = ReturnsModel.MEAN if model is ReturnsModel.CAPM else model
    mu = expected_returns(frame, model, risk_free_rate=0.0)
    cov = covariance(frame, CovModel.SAMPLE)
    return float(cov.iloc[0, 0] ** 0.5), float(mu.iloc[0])


def benchmark_point(report: Report) -> tuple[float, float] | None:
    """The S&P 500's (volatility, expected return) over the report's lookback and model."""
    return _benchmark_point(
        settings().source, report.as_of.isoformat(), report.profile.lookback_days,
        report.settings.returns_model.value,
    )  # fmt: skip


def data_last_date() -> date:
    """The source's last date (or today for live sources)."""
    last = price_source(settings().source).last_date()
    return last or today()


# --------------------------------------------------------------------------- compare
#: the constructions the Compare page offers (objective, or None for the risk level's own)
CONSTRUCTIONS: tuple[Objective, ...] = (
    Objective.MAX_SHARPE,
    Objective.MIN_VOLATILITY,
    Objective.HRP,
    Objective.EQUAL_WEIGHT,
    Objective.RISK_PARITY,
    Objective.HYBRID,
)


@dataclass(frozen=True, slots=True)
class Compared:
    """One column of the Compare page: the build and its record after the build date."""

    label: str
    report: Report
    tracked: TrackedPortfolio | None


@st.cache_data(show_spinner=False, max_entries=64)
def _track(
    spec: str, shares: tuple[tuple[str, float], ...], cash: float, since: str, day: str
) -> TrackedPortfolio:
    return track_portfolio(
        dict(shares), cash, date.fromisoformat(since), price_source(spec),
        today=date.fromisoformat(day),
    )  # fmt: skip


def track(shares: dict[str, float], cash: float, since: date) -> TrackedPortfolio | None:
    """Value held shares and cash from ``since`` to the latest data (None without later data)."""
    from smallq.errors import InsufficientHistoryError

    key = tuple(sorted((str(t), float(n)) for t, n in shares.items() if n))
    try:
        return _track(settings().source, key, float(cash), since.isoformat(), today().isoformat())
    except InsufficientHistoryError:
        return None


def compare(requests: list[tuple[str, BuildRequest]]) -> list[Compared]:
    """Build each labelled request and track it from its build date."""
    out = []
    for label, request in requests:
        report = build(request)
        alloc = report.allocation
        shares = {str(t): float(n) for t, n in alloc.shares.items()}
        out.append(Compared(label, report, track(shares, float(alloc.cash_left), report.as_of)))
    return out


# --------------------------------------------------------------------------- backtest
@st.cache_data(show_spinner=False, max_entries=16)
def _backtest(
    spec: str, request: tuple[object, ...], window: tuple[str, str, str, float], _progress: object
) -> BacktestReport:
    profile = _profile((*request[:5], None))  # a backtest has its own window
    start, end, rule, costs = window
    return run_strategy_backtest(
        profile, price_source(spec), start=date.fromisoformat(start),
        end=date.fromisoformat(end), rebalance=rule, costs_bps=costs,
        params=engine_params(settings()),
        on_progress=_progress if callable(_progress) else None,
    )  # fmt: skip


def backtest(
    request: BuildRequest,
    start: date,
    end: date,
    rebalance: str,
    costs_bps: float,
    progress: Callable[[float], None] | None = None,
) -> BacktestReport:
    """Walk-forward backtest of the request's strategy (cached; ``progress`` gets 0..1)."""
    report_progress = None
    if progress is not None:
        bar, shown = progress, [-1]

        def report_progress(done: int, total: int) -> None:
            percent = 100 * done // total if total else 100
            if percent != shown[0]:  # one bar update per percent, not per simulated day
                shown[0] = percent
                bar(percent / 100)

    if not request.sectors:
        raise InputError("Pick at least one sector.", field="sectors")
    key = (
        request.sectors, request.capital, request.risk_level, request.strategy,
        request.objective, None,
    )  # fmt: skip
    window = (start.isoformat(), end.isoformat(), rebalance, float(costs_bps))
    return _backtest(settings().source, key, window, report_progress)


# --------------------------------------------------------------------------- account
@dataclass(frozen=True, slots=True)
class Account:
    """Everything the signed-in user owns, read with queries scoped by ``user_id``."""

    user_id: int
    builds: tuple[PortfolioRecord, ...]
    paper: PaperAccount | None
    trades: tuple[TradeRecord, ...]
    thresholds: AlertThresholds | None
    overrides: dict[str, float]
    schedule: ScheduleRecord | None


def _db() -> sqlite_utils.Database:
    return connections(str(settings().db_path))()


def load_account(user_id: int, *, builds: int = 10, trades: int = 20) -> Account:
    """The user's builds, paper account, trades, alert limits and digest schedule."""
    db = _db()
    portfolios = PortfolioRepository(db)
    records = tuple(
        record
        for pid in portfolios.list_ids(user_id, builds)
        if (record := portfolios.owned(user_id, pid)) is not None
    )
    overrides = ThresholdRepository(db).overrides(user_id)
    limits = None
    if records:
        known = {v[0] for v in THRESHOLD_NAMES.values()}
        limits = thresholds_for(
            records[0].profile.risk_level, {k: v for k, v in overrides.items() if k in known}
        )
    return Account(
        user_id=user_id,
        builds=records,
        paper=LedgerRepository(db).account(user_id),
        trades=tuple(LedgerRepository(db).trades(user_id, trades)),
        thresholds=limits,
        overrides=overrides,
        schedule=ScheduleRepository(db).get(user_id, DIGEST_KIND),
    )


def save_limits(user_id: int, values: dict[str, float]) -> None:
    """Store alert limit overrides (field name → value) in the bot's table, one transaction.

    Raises
    ------
    InputError
        When a value is outside the range the bot's ``/alerts set`` accepts.
    """
    bounds = {field: (low, high) for field, _, low, high in THRESHOLD_NAMES.values()}
    for name, value in values.items():
        low, high = bounds[name]
        if not low <= value <= high:
            raise InputError(f"{name} must be between {low:g} and {high:g}.", field=name)
    db = _db()
    with transaction(db):
        repo = ThresholdRepository(db)
        for name, value in values.items():
            repo.set(user_id, name, float(value))


def reset_limits(user_id: int) -> None:
    """Drop the user's overrides: the risk level's limits apply again."""
    ThresholdRepository(_db()).reset(user_id)


def save_schedule(
    user_id: int, *, frequency: str, day: int, local_time: str, timezone: str
) -> ScheduleRecord:
    """Create or change the user's digest schedule in the bot's ``schedules`` table.

    ``next_due_at`` is set to now: the bot's scheduler, which owns the schedule arithmetic,
    finds it due on its next tick and moves it to the next real occurrence.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if frequency not in ("weekly", "monthly"):
        raise InputError("Frequency must be weekly or monthly.", field="frequency")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(f"{timezone!r} is not a known time zone.", field="timezone") from exc
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return ScheduleRepository(_db()).upsert(
        user_id, DIGEST_KIND, frequency=frequency, day=day, local_time=local_time,
        timezone=timezone, next_due_at=now, user_id=user_id,
        rule="calendar" if frequency == "monthly" else "drift", now=now,
    )  # fmt: skip


def stop_schedule(user_id: int) -> int:
    """Stop the user's digests (pending unsent ones are skipped, as with /unsubscribe)."""
    return ScheduleRepository(_db()).deactivate(user_id, DIGEST_KIND)

