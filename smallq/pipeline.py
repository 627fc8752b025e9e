"""The use cases that the CLI, the bot and the scheduler all call.

:func:`select_stocks`, :func:`build_portfolio`, :func:`run_strategy_backtest` and
:func:`track_portfolio` are short lists of named stages; the work of each stage lives in the
module that owns it. What they return lives in :mod:`smallq.models` and :mod:`smallq.results`,
so presenters never import this module. ``build_portfolio`` runs, in order:

1. universe  – the source's company table, normalised;
2. filters   – sectors, market-cap band, include/exclude (no prices needed);
3. data      – prices for the survivors, cleaned and aligned (every drop is a note);
4. filters   – minimum history and dollar volume;
5. ranking   – point-in-time factor scores, top N;
6. forecast  – expected returns and covariance over the lookback;
7. optimize  – the objective and the declared fallback chain (feasibility is checked once,
   before the forecast, by :func:`smallq.constraints.feasible_limits`);
8. allocate  – whole (or fractional) shares for the capital;
9. risk      – ex-ante and historical figures, VaR/CVaR;
10. stress   – historical windows, hypothetical shocks, Monte Carlo.

This is the only engine module that wires adapters together; it holds no clock:
``today`` is a parameter (the CLI and bot pass the real date).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import TypeVar

import pandas as pd

from smallq.allocation import allocate_shares
from smallq.backtest import RebalanceRule, run_backtest
from smallq.backtest.fast_pipeline import FastPipelinePolicy
from smallq.backtest.policy import PipelinePolicy, point_in_time
from smallq.data.base import PriceSource
from smallq.data.market import (
    Universe,
    benchmark_notes,
    data_end,
    decision_end,
    drop_unconfirmed_moves,
    history_start,
    load_index_history,
    load_market_data,
    load_stress_history,
    load_universe,
)
from smallq.data.validation import clean_prices
from smallq.decision import DecisionRule, decide_weights, history_rows
from smallq.errors import InsufficientHistoryError, ProfileError
from smallq.filters import apply_filters
from smallq.measures import account_values
from smallq.models import MarketData, Note, NoteKind, Profile, Report, StressReport
from smallq.optimize import report_frontier
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.performance import tracking
from smallq.profile import (
    cap_notes,
    validate_backtest_request,
)
from smallq.ranking import rank_stocks
from smallq.results import BacktestReport, Selection, TrackedPortfolio
from smallq.risk import compute_risk_metrics
from smallq.stress import run_stress_tests, uncovered_window_notes
from smallq.types import ProgressCallback

__all__ = [
    "BacktestReport",
    "Selection",
    "TrackedPortfolio",
    "build_portfolio",
    "run_strategy_backtest",
    "select_stocks",
    "track_portfolio",
]


def select_stocks(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    require_benchmark: bool = True,
) -> Selection:
    """Run the universe, filter, data and ranking stages for a profile.

    ``require_benchmark=False`` lets a ranking run on a source without a benchmark.

    Raises
    ------
    TooFewCandidatesError
        When a filter leaves too few stocks (the message names it).
    DataError, InsufficientHistoryError
    """
    universe, market, end = _decision_data(
        profile, source, today=today, params=params, require_benchmark=require_benchmark
    )
    companies, criteria = universe.companies, universe.criteria
    as_of = market.prices.index[-1].date()
    second_pass = apply_filters(
        companies.loc[list(market.prices.columns)],
        replace(
            criteria,
            min_history_days=params.min_history_days,
            min_dollar_volume=profile.min_dollar_volume,
        ),
        prices=market.prices,
        volume=market.volume,
        as_of=as_of,
    )
    kept = list(second_pass.tickers)
    ranking = rank_stocks(
        market.prices[kept],
        companies.loc[kept],
        profile.strategy,
        as_of,
        top_n=profile.top_n,
        per_sector=profile.per_sector,
        fundamentals=universe.fundamentals,
        params=params,
    )
    notes = [*_data_notes(profile, universe, market, end), *second_pass.notes, *ranking.notes]
    return Selection(ranking=ranking, market=replace(market, notes=_unique(notes)))


def _decision_data(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams,
    require_benchmark: bool = True,
) -> tuple[Universe, MarketData, date]:
    """The universe and the cleaned prices up to the decision date, and that date.

    Enough history for every stage of a decision (:func:`smallq.decision.history_rows`); a
    ticker whose decision-day close moved by a spike's size is left out with a note.
    """
    end = decision_end(profile, source, today)
    universe = load_universe(profile, source, end)
    needed = max(history_rows(profile.lookback_days, params), params.low_vol_window_days)
    market = drop_unconfirmed_moves(
        load_market_data(
            source,
            universe.first_pass.tickers,
            universe.companies,
            start=history_start(end, needed + 5),
            end=end,
            params=params,
            require_benchmark=require_benchmark,
        ),
        params,
    )
    return universe, market, end


def _data_notes(profile: Profile, universe: Universe, market: MarketData, end: date) -> list[str]:
    notes = [
        *universe.raw_companies.attrs.get("notes", ()),
        *market.notes,
        *universe.first_pass.notes,
    ]
    if profile.as_of is not None and profile.as_of > end:
        notes.insert(0, f"As-of date {profile.as_of} is after the data's last day; using {end}.")
    return notes


def build_portfolio(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
) -> Report:
    """Build the full portfolio report for one profile.

    Parameters
    ----------
    profile : Profile
        Validated request (see :func:`smallq.profile.make_profile`).
    source : PriceSource
        Where prices, the benchmark and the company table come from.
    today : date
        The caller's date; the decision date is ``profile.as_of`` or the last price on or
        before ``today``.
    index_history : Series, optional
        A long S&P 500 level history for stress windows the source does not cover;
        defaults to the source's own benchmark from 1999.

    Raises
    ------
    SmallQError
        Any subclass; each carries a ``user_message()``.
    """
    universe, market, end = _decision_data(profile, source, today=today, params=params)
    as_of = market.prices.index[-1].date()
    rule = DecisionRule.for_profile(profile, universe.criteria, profile.top_n, params)
    decision = decide_weights(
        market.prices,
        market.companies,
        rule,
        as_of,
        volume=market.volume,
        benchmark=market.benchmark,
        fundamentals=universe.fundamentals,
        params=params,
        fast=True,
    )
    ranking, window, settings = decision.ranking, decision.window, decision.settings
    mu, cov, optimization = decision.mu, decision.cov, decision.optimization
    candidates = list(window.columns)
    benchmark = market.benchmark.loc[window.index]
    data_notes = [*_data_notes(profile, universe, market, end), *decision.notes, *ranking.notes]
    market = replace(market, notes=_unique(data_notes))
    allocation = allocate_shares(
        optimization.weights, window.iloc[-1], profile.capital, fractional=profile.fractional
    )
    # the figures describe what was bought, with its cash (earning nothing), not the targets
    bought = allocation.achieved_weights[allocation.achieved_weights > 0]
    metrics = compute_risk_metrics(
        bought,
        window,
        benchmark,
        mu,
        cov,
        risk_free_rate=settings.risk_free_rate,
        periods_per_year=params.periods_per_year,
    )
    stress, stress_notes = _stress(
        bought, window, benchmark, market, source, index_history, as_of, params
    )
    frontier = report_frontier(mu, cov, settings, n_points=params.frontier_points, fast=True)
    notes = [Note(NoteKind.DATA, text) for text in market.notes]
    notes += [Note(NoteKind.STRESS, text) for text in stress_notes]
    notes += cap_notes(profile, settings)
    notes += [
        Note(
            NoteKind.FALLBACK,
            f"Fallback: {s.objective.value} was not used — {s.reason}",
            (("objective", s.objective.value), ("reason", s.reason)),
        )
        for s in optimization.fallbacks
    ]
    if optimization.fallbacks:
        used = optimization.objective_used.value
        text = f"Fallback: weights come from {used}."
        notes.append(Note(NoteKind.FALLBACK, text, (("objective_used", used),)))
    notes.append(_freshness_note(market, as_of))
    return Report(
        as_of=as_of,
        profile=profile,
        settings=settings,
        ranking=ranking,
        mu=mu,
        cov=cov,
        optimization=optimization,
        allocation=allocation,
        metrics=metrics,
        stress=stress,
        sectors=market.companies.loc[candidates, "sector"],
        frontier=frontier,
        source=market.source,
        fetched_at=market.fetched_at,
        notes=_unique(notes),
    )


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
    ``reference=True`` runs every decision on the reference (PyPortfolioOpt), for tests and
    benchmarks.
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
    universe = load_universe(profile, source, start)
    warmup = history_rows(profile.lookback_days, params) + 5
    market = load_market_data(
        source,
        universe.first_pass.tickers,
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
    notes.append(
        "The stock list is today's: companies that left the index are missing, so the "
        "backtest carries survivorship bias."
    )
    notes += result.cash_notes(profile.currency)
    notes += policy.left_out_notes()
    if fast is not None and fast.reference_dates:
        first, reason = fast.reference_dates[0]
        notes.append(
            f"{len(fast.reference_dates)} of {len(policy.decisions)} rebalances ran on the "
            f"slower PyPortfolioOpt reference path (first on {first:%Y-%m-%d}: {reason})."
        )
    if fallbacks:
        notes.append(
            f"{len(fallbacks)} of {len(policy.decisions)} rebalances used a fallback objective "
            f"instead of {settings.objective.value} (first on {fallbacks[0][0]:%Y-%m-%d}: "
            f"{fallbacks[0][1]})."
        )
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
        notes=_unique(notes),
    )


def track_portfolio(
    shares: Mapping[str, float],
    cash: float,
    since: date,
    source: PriceSource,
    *,
    today: date,
    risk_free_rate: float = DEFAULT_PARAMS.risk_free_rate,
    params: EngineParams = DEFAULT_PARAMS,
) -> TrackedPortfolio:
    """Value a stored portfolio (its shares and cash) since ``since`` against the benchmark.

    Raises
    ------
    InsufficientHistoryError
        When the data has fewer than two trading days after ``since``.
    DataError
        When the source has no prices for the holdings or no benchmark.
    """
    held = {t: float(n) for t, n in shares.items() if n}
    if not held:
        raise ProfileError("shares", dict(shares), "the portfolio holds no shares")
    end = data_end(source, today)
    if end <= since:
        raise InsufficientHistoryError(
            0,
            2,
            f"prices after {since.isoformat()}",
            "The data has no later trading day yet; track the portfolio again later.",
        )
    cleaned = clean_prices(source.fetch_prices(list(held), since, end), params)
    prices = cleaned.close.reindex(columns=list(held)).ffill(limit=5).dropna()
    values = account_values(pd.Series(held, dtype=float), prices, cash)
    benchmark = source.fetch_benchmark(since, end)
    report = tracking(
        values, benchmark, risk_free_rate=risk_free_rate, periods_per_year=params.periods_per_year
    )
    notes = [*cleaned.notes, *benchmark_notes(benchmark)]
    return TrackedPortfolio(
        since=values.index[0].date(),
        end=values.index[-1].date(),
        values=values,
        tracking=report,
        notes=_unique(notes),
    )


def _stress(
    weights: pd.Series,
    window: pd.DataFrame,
    benchmark: pd.Series,
    market: MarketData,
    source: PriceSource,
    index_history: pd.Series | None,
    as_of: date,
    params: EngineParams,
) -> tuple[StressReport, list[str]]:
    """Stress tests: Monte Carlo and betas on the lookback, crisis replays on long history."""
    held = [t for t in window.columns if weights.get(t, 0.0) > 0]
    long_prices, notes = load_stress_history(source, held, window, as_of, params)
    long_index = load_index_history(source, index_history, market.benchmark, as_of)
    stress = run_stress_tests(
        weights[held],
        window[held],
        benchmark,
        market.companies.loc[held, "sector"],
        index_history=long_index,
        params=params,
        history=long_prices,
    )
    notes += list(uncovered_window_notes(weights[held], long_prices, long_index))
    return stress, notes


def _freshness_note(market: MarketData, as_of: date) -> Note:
    fetched = (
        f", fetched {market.fetched_at:%Y-%m-%d %H:%M} UTC" if market.fetched_at is not None else ""
    )
    fields = [("source", market.source), ("as_of", as_of.isoformat())]
    if market.fetched_at is not None:
        fields.append(("fetched_at", market.fetched_at.isoformat()))
    text = f"Prices from {market.source} up to {as_of:%Y-%m-%d}{fetched}."
    return Note(NoteKind.FRESHNESS, text, tuple(fields))


_Item = TypeVar("_Item", str, Note)


def _unique(items: list[_Item] | tuple[_Item, ...]) -> tuple[_Item, ...]:
    return tuple(dict.fromkeys(item for item in items if item))
