"""Walk-forward use cases: a strategy backtest, and the out-of-sample record of a build.

:func:`run_strategy_backtest` replays the profile's decisions from ``start`` to ``end``, each
seeing only the prices up to its own day; :func:`out_of_sample_record` is that backtest over
the years before a decision date, summed up for a build's report.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace
from datetime import date

import pandas as pd

from smallq.backtest import RebalanceRule, run_backtest
from smallq.backtest.fast_pipeline import FastPipelinePolicy
from smallq.backtest.policy import PipelinePolicy, point_in_time
from smallq.data.base import PriceSource
from smallq.data.market import (
    Universe,
    benchmark_notes,
    history_start,
    load_market_data,
    load_universe,
)
from smallq.decision import history_rows
from smallq.errors import InsufficientHistoryError, SmallQError
from smallq.filters import apply_filters
from smallq.models import Note, NoteKind, OutOfSampleRecord, Profile
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.pipeline.stages import unique
from smallq.presentation.notes import SURVIVORSHIP_NOTE, backtest_fallback_notes
from smallq.profile import validate_backtest_request
from smallq.results import BacktestReport
from smallq.types import ProgressCallback

__all__ = [
    "MIN_RECORD_DAYS",
    "OUT_OF_SAMPLE_YEARS",
    "out_of_sample_record",
    "record_or_note",
    "run_strategy_backtest",
]

#: years of walk-forward record attached to every recommendation
OUT_OF_SAMPLE_YEARS: int = 5
#: a record shorter than this many calendar days is not shown (a note says why)
MIN_RECORD_DAYS: int = 365


def out_of_sample_record(
    profile: Profile,
    source: PriceSource,
    as_of: date,
    *,
    years: int = OUT_OF_SAMPLE_YEARS,
    params: EngineParams = DEFAULT_PARAMS,
) -> OutOfSampleRecord:
    """The profile's walk-forward record over the ``years`` before ``as_of``.

    The same profile (strategy, risk level, limits) is backtested with monthly rebalancing
    and 10 bp costs (risk levels placed with the fast path, ``fast_placement``), each
    decision seeing only prices up to its own day (:func:`run_strategy_backtest`), from
    ``as_of`` minus ``years`` (or the first day with a full lookback before it, when the data
    starts later) to ``as_of``.

    Raises
    ------
    InsufficientHistoryError
        When the data leaves less than a year of record before ``as_of``.
    SmallQError
        Any error of the backtest, with a ``user_message()``.
    """
    wanted = _years_before(as_of, years)
    warmup = max(profile.lookback_days, params.momentum_lookback_days) + 5
    index = source.fetch_benchmark(history_start(wanted, warmup), as_of)
    earliest = index.index[warmup].date() if len(index) > warmup else as_of
    start = max(wanted, earliest)
    if (as_of - start).days < MIN_RECORD_DAYS:
        raise InsufficientHistoryError(
            max(len(index) - warmup, 0),
            params.periods_per_year,
            "history for a walk-forward record",
            f"The first decision needs {warmup} trading days of prices and the record at "
            f"least a year after it, before {as_of:%Y-%m-%d}.",
        )
    backtest = run_strategy_backtest(
        replace(profile, as_of=None),
        source,
        start=start,
        end=as_of,
        params=replace(params, fast_placement=True),
    )
    mine, index_metrics = backtest.metrics, backtest.benchmark_metrics
    span = (backtest.end - backtest.start).days / 365.25
    note = ""
    if start > wanted:
        note = (
            f"Only {span:.1f} of the {years} years before {as_of:%Y-%m-%d}: the data starts too "
            f"late for an earlier first decision ({warmup} trading days of prices needed)."
        )
    return OutOfSampleRecord(
        start=backtest.start,
        end=backtest.end,
        years=span,
        cagr=mine.cagr,
        volatility=mine.volatility,
        max_drawdown=mine.max_drawdown,
        benchmark_cagr=index_metrics.cagr,
        benchmark_volatility=index_metrics.volatility,
        benchmark_max_drawdown=index_metrics.max_drawdown,
        note=note,
    )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def record_or_note(
    profile: Profile,
    source: PriceSource,
    as_of: date,
    params: EngineParams,
    records: MutableMapping[str, tuple[OutOfSampleRecord | None, list[Note]]] | None = None,
) -> tuple[OutOfSampleRecord | None, list[Note]]:
    """The out-of-sample record, or a note saying why there is none (memoised in ``records``
    by the profile without its capital, ``as_of``, the source and the parameters)."""
    if records is None:
        return _new_record_or_note(profile, source, as_of, params)
    key = f"{as_of.isoformat()}|{source.name}|{replace(profile, capital=1.0)!r}|{params!r}"
    if key not in records:
        records[key] = _new_record_or_note(profile, source, as_of, params)
    found, notes = records[key]
    return found, list(notes)


def _new_record_or_note(
    profile: Profile, source: PriceSource, as_of: date, params: EngineParams
) -> tuple[OutOfSampleRecord | None, list[Note]]:
    try:
        record = out_of_sample_record(profile, source, as_of, params=params)
    except SmallQError as exc:
        text = f"No out-of-sample record: {exc.user_message()}"
        return None, [Note(NoteKind.DATA, text)]
    if not record.note:
        return record, []
    return record, [Note(NoteKind.DATA, record.note, (("years", f"{record.years:.2f}"),))]


def run_strategy_backtest(
    profile: Profile,
    source: PriceSource,
    *,
    start: date,
    end: date,
    rebalance: str = "monthly",
    costs_bps: float = 10.0,
    whole_shares: bool = False,
    params: EngineParams = DEFAULT_PARAMS,
    reference: bool = False,
    on_progress: ProgressCallback | None = None,
) -> BacktestReport:
    """Backtest the profile's selection + optimization walk-forward from ``start`` to ``end``.

    At each rebalance date the ranking, forecast and optimizer see only prices up to that
    date (:class:`smallq.backtest.policy.PipelinePolicy`); between rebalances the weights drift.
    Decisions run on the fast path (:class:`smallq.backtest.fast_pipeline.FastPipelinePolicy`:
    numpy, a warm-started QP), which makes the reference's decisions; a decision it cannot
    make (another objective) runs on the reference, and the notes say how many did.
    ``reference=True`` runs every decision on the reference (pandas and PyPortfolioOpt, risk
    levels placed with ``fast_placement=False``), for tests and benchmarks.
    ``on_progress(done, total)`` is called after each simulated day (for a progress bar).

    Raises
    ------
    InputError
        A bad rule (``weekly|monthly|drift:0.05``), dates or costs.
    SmallQError
        Any selection, data or optimization error, with a ``user_message()``.
    """
    rule = RebalanceRule.parse(rebalance)
    validate_backtest_request(start, end, costs_bps)
    if reference:  # PyPortfolioOpt for every decision, risk levels' placement included
        params = replace(params, fast_placement=False)
    universe = load_universe(profile, source, start)
    warmup = history_rows(profile.lookback_days, params) + 5
    market = load_market_data(
        source,
        _backtest_tickers(universe),
        universe.companies,
        start=history_start(start, warmup),
        end=end,
        params=params,
    )
    policy = PipelinePolicy.for_profile(
        profile, market, universe.fundamentals, params, criteria=universe.criteria
    )
    settings = policy.settings
    fast = None if reference else FastPipelinePolicy(policy, market, params)
    result = run_backtest(
        market.prices,
        point_in_time(policy, market, params) if fast is None else fast,
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        rebalance=rule,
        costs_bps=costs_bps,
        capital=profile.capital if whole_shares else None,
        benchmark=market.benchmark,
        on_progress=on_progress,
    )
    metrics, benchmark_metrics = result.metrics(
        risk_free_rate=settings.risk_free_rate, periods_per_year=params.periods_per_year
    )
    fallbacks = policy.fallback_dates()
    notes = list(market.notes)
    notes += benchmark_notes(market.benchmark)
    notes.append(SURVIVORSHIP_NOTE)
    notes += result.cash_notes(profile.currency)
    notes += policy.left_out_notes()
    if fast is not None and fast.reference_dates:
        first, reason = fast.reference_dates[0]
        notes.append(
            f"{len(fast.reference_dates)} of {len(policy.decisions)} rebalances ran on the "
            f"slower PyPortfolioOpt reference path (first on {first:%Y-%m-%d}: {reason})."
        )
    notes += backtest_fallback_notes(fallbacks, len(policy.decisions), settings.objective.value)
    return BacktestReport(
        profile=profile,
        settings=settings,
        start=result.equity.index[0].date(),
        end=result.equity.index[-1].date(),
        result=result,
        metrics=metrics,
        benchmark_metrics=benchmark_metrics,
        source=market.source,
        fallback_dates=fallbacks,
        notes=unique(notes),
    )


def _backtest_tickers(universe: Universe) -> tuple[str, ...]:
    """The backtest's tickers: the first pass without the market-cap band.

    Caps change: each decision applies the band with the caps known on its own date (as a
    build on that date does), so a stock that grows into the band after the start is loaded.
    """
    criteria = universe.criteria
    if criteria.min_market_cap is None and criteria.max_market_cap is None:
        return universe.first_pass.tickers
    no_band = replace(criteria, min_market_cap=None, max_market_cap=None)
    return apply_filters(universe.companies, no_band).tickers
