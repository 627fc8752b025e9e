"""The use cases that the CLI, the bot and the scheduler all call.

:func:`select_stocks`, :func:`build_portfolio`, :func:`compare_levels`,
:func:`out_of_sample_record`, :func:`run_strategy_backtest` and :func:`track_portfolio` are
short lists of named stages; the work of each stage lives in the
module that owns it. What they return lives in :mod:`smallq.models` and :mod:`smallq.results`,
so presenters never import this module. ``build_portfolio`` runs, in order:

1. universe  – the source's company table, normalised;
2. filters   – sectors, market-cap band, include/exclude (no prices needed);
3. data      – prices for the survivors, cleaned and aligned (every drop is a note);
4. filters   – minimum history and dollar volume;
5. ranking   – point-in-time factor scores, top N;
6. forecast  – expected returns and covariance over the lookback;
7. optimize  – the risk level's place on the frontier (or an explicit objective) and the
   declared fallback chain (feasibility is checked once, before the forecast, by
   :func:`smallq.constraints.feasible_limits`);
8. allocate  – whole (or fractional) shares for the capital;
9. risk      – ex-ante and historical figures, VaR/CVaR;
10. stress   – historical windows, hypothetical shocks, Monte Carlo;
11. record   – on request, the profile's out-of-sample record before the decision date.

This is the only engine module that wires adapters together; it holds no clock:
``today`` is a parameter (the CLI and bot pass the real date).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from datetime import date
from typing import TypeVar

import pandas as pd

from smallq.allocation import allocate_shares
from smallq.assessment import Target
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
from smallq.errors import InsufficientHistoryError, ProfileError, SmallQError
from smallq.filters import apply_filters
from smallq.levels import LevelComparison, level_outcomes
from smallq.measures import account_values
from smallq.models import (
    MarketData,
    Note,
    NoteKind,
    OptimizationResult,
    OutOfSampleRecord,
    Profile,
    Report,
    RiskPlacement,
    Settings,
    StressReport,
)
from smallq.optimize import report_frontier
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.performance import tracking
from smallq.presentation.notes import (
    SURVIVORSHIP_NOTE,
    backtest_fallback_notes,
    fallback_notes,
    freshness_note,
)
from smallq.profile import LEVEL_MAX_WEIGHT, cap_notes, validate_backtest_request
from smallq.ranking import rank_stocks
from smallq.results import BacktestReport, Selection, TrackedPortfolio
from smallq.risk import compute_risk_metrics, cornish_fisher_note, portfolio_returns
from smallq.simulation import REPORT_MONTE_CARLO
from smallq.stress import run_stress_tests, uncovered_window_notes
from smallq.types import ProgressCallback, RiskLevel

__all__ = [
    "BacktestReport",
    "Selection",
    "TrackedPortfolio",
    "build_portfolio",
    "compare_levels",
    "out_of_sample_record",
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
    record: bool = False,
    records: MutableMapping[str, tuple[OutOfSampleRecord | None, list[Note]]] | None = None,
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
    record : bool, default=False
        Attach the profile's out-of-sample record (:func:`out_of_sample_record`): a
        walk-forward backtest of the five years before the decision date. Front ends turn it
        on; it costs one backtest. Without enough history a note says why there is none.
    records : mutable mapping, optional
        A memo of records the caller keeps (the bot's engine workers do): the record depends
        on the profile without its capital, the decision date and the source, so users
        building the same profile on the same day share one backtest.

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
    settings, placement = placed_settings(settings, optimization, profile.risk_level)
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
        returns=decision.returns,
    )
    stress, stress_notes = _stress(
        bought, window, benchmark, market, source, index_history, as_of, params, decision.returns
    )
    frontier = report_frontier(mu, cov, settings, n_points=params.frontier_points, fast=True)
    notes = [Note(NoteKind.DATA, text) for text in market.notes]
    notes += [Note(NoteKind.STRESS, text) for text in stress_notes]
    daily = portfolio_returns(decision.returns, bought)
    notes += [Note(NoteKind.RISK, text) for text in (cornish_fisher_note(daily),) if text]
    notes += cap_notes(profile, settings)
    notes += level_cap_notes(profile, settings, len(candidates))
    notes += fallback_notes(optimization)
    out_of_sample = None
    if record:
        out_of_sample, record_notes = _record_or_note(profile, source, as_of, params, records)
        notes += record_notes
    notes.append(freshness_note(market.source, market.fetched_at, as_of))
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
        risk_placement=placement,
        out_of_sample=out_of_sample,
    )


def placed_settings(
    settings: Settings, optimization: OptimizationResult, level: RiskLevel
) -> tuple[Settings, RiskPlacement | None]:
    """The settings as the level's placement resolved them, and where the portfolio sits."""
    frontier = optimization.placement
    if frontier is None:
        return settings, None
    resolved = replace(
        settings,
        objective=optimization.objective_requested,
        target_volatility=frontier.target_volatility,
    )
    placement = RiskPlacement(
        level=int(level),
        levels=len(RiskLevel),
        volatility=optimization.volatility,
        min_volatility=frontier.min_volatility,
        max_volatility=frontier.max_volatility,
        target_volatility=frontier.target_volatility,
    )
    return resolved, placement


def level_cap_notes(profile: Profile, settings: Settings, n_candidates: int) -> list[Note]:
    """Say when the risk levels' cap was raised to ``1/n`` so few stocks can fill 100%."""
    if profile.max_weight is not None or settings.max_weight <= LEVEL_MAX_WEIGHT + 1e-12:
        return []
    text = (
        f"Max weight raised from {LEVEL_MAX_WEIGHT:.0%} to {settings.max_weight:.1%} "
        f"(1/{n_candidates}) so {n_candidates} stocks can fill the portfolio; every risk level "
        "then holds the same equal-weight mix."
    )
    fields = (("max_weight", repr(settings.max_weight)), ("n_candidates", str(n_candidates)))
    return [Note(NoteKind.CONSTRAINT, text, fields)]


def compare_levels(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
) -> LevelComparison:
    """The five risk levels of the profile's universe, side by side (no report per level).

    The decision (selection, estimates, limits) is that of :func:`build_portfolio` for the
    same profile (its own risk level and objective are ignored: every level is placed on the
    frontier), placed with the fast path (``fast_placement``), equal to the build's to about
    1e-5.

    Raises
    ------
    SmallQError
        Any selection, data or optimization error, with a ``user_message()``.
    """
    levelled = replace(profile, objective=None)
    fast = replace(params, fast_placement=True)
    universe, market, end = _decision_data(levelled, source, today=today, params=params)
    as_of = market.prices.index[-1].date()
    rule = DecisionRule.for_profile(levelled, universe.criteria, levelled.top_n, params)
    decision = decide_weights(
        market.prices,
        market.companies,
        rule,
        as_of,
        volume=market.volume,
        benchmark=market.benchmark,
        fundamentals=universe.fundamentals,
        params=fast,
    )
    window, settings = decision.window, decision.settings
    candidates = list(window.columns)
    history, history_notes = load_stress_history(source, candidates, window, as_of, params)
    sectors = market.companies.loc[candidates, "sector"]
    outcomes = level_outcomes(
        decision.mu,
        decision.cov,
        settings,
        returns=window.pct_change().iloc[1:],
        history=history,
        index_history=load_index_history(source, index_history, market.benchmark, as_of),
        sector_map={str(t): str(s) for t, s in sectors.items()},
        sector_caps=rule.sector_caps,
        params=fast,
    )
    frontier = next((o.placement for o in outcomes if o.placement is not None), None)
    low = frontier.min_volatility if frontier else min(o.volatility for o in outcomes)
    high = frontier.max_volatility if frontier else max(o.volatility for o in outcomes)
    notes = [
        *_data_notes(levelled, universe, market, end),
        *decision.notes,
        *[n.text for n in level_cap_notes(levelled, settings, len(candidates))],
        *history_notes,
    ]
    return LevelComparison(
        as_of=as_of,
        capital=profile.capital,
        currency=profile.currency,
        candidates=tuple(candidates),
        min_volatility=low,
        max_volatility=high,
        outcomes=outcomes,
        notes=_unique(notes),
    )


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


def _record_or_note(
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
        notes=_unique(notes),
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
    benchmark = source.fetch_benchmark(since, end)
    raw = source.fetch_prices(list(held), since, end)
    cleaned = clean_prices(raw, params, market=benchmark)
    prices = cleaned.close.reindex(columns=list(held)).ffill(limit=5).dropna()
    values = account_values(pd.Series(held, dtype=float), prices, cash)
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
    returns: pd.DataFrame,
) -> tuple[StressReport, list[str]]:
    """Stress tests: Monte Carlo and betas on the lookback, crisis replays on long history.

    The report runs one Monte Carlo method (:data:`smallq.simulation.REPORT_MONTE_CARLO`); the
    stress views add the others (:func:`smallq.simulation.simulate_methods`).
    """
    held = [t for t in window.columns if weights.get(t, 0.0) > 0]
    long_index = load_index_history(source, index_history, market.benchmark, as_of)
    long_prices, notes = load_stress_history(source, held, window, as_of, params, long_index)
    stress = run_stress_tests(
        weights[held],
        window[held],
        benchmark,
        market.companies.loc[held, "sector"],
        index_history=long_index,
        params=params,
        history=long_prices,
        returns=returns,
        methods=REPORT_MONTE_CARLO,
    )
    notes += list(uncovered_window_notes(weights[held], long_prices, long_index))
    return stress, notes


_Item = TypeVar("_Item", str, Note)


def _unique(items: list[_Item] | tuple[_Item, ...]) -> tuple[_Item, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def rebuild_target(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
) -> Target:
    """The target weights a scheduled check compares an account with: the lean build.

    The same data and decision as :func:`build_portfolio` (universe, filters, data, ranking,
    forecast, optimize: :func:`smallq.decision.decide_weights`) and the allocation's price
    checks, without allocation, risk figures, stress tests, Monte Carlo or the frontier. The
    result does not depend on the profile's capital, so a sweep computes it once per universe
    key (the profile without its capital, and the date) and shares it between users.

    Returns
    -------
    Target
        Weights and latest prices of the candidates, or the user message of the error that
        stopped the build (``Target.error``).
    """
    try:
        universe, market, _ = _decision_data(profile, source, today=today, params=params)
        as_of = market.prices.index[-1].date()
        rule = DecisionRule.for_profile(profile, universe.criteria, profile.top_n, params)
        decision = decide_weights(
            market.prices, market.companies, rule, as_of, volume=market.volume,
            benchmark=market.benchmark, fundamentals=universe.fundamentals, params=params,
        )  # fmt: skip
        weights, latest = decision.optimization.weights, decision.window.iloc[-1]
        # the allocation's checks that do not depend on the capital
        allocate_shares(weights, latest, 1e12, fractional=profile.fractional)
    except SmallQError as exc:
        return Target(error=exc.user_message())
    return Target(weights, latest.reindex(weights.index).astype(float), profile.fractional)
