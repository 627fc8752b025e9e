"""Build use cases: a ranking, a full portfolio report, and the lean target of a check.

:func:`select_stocks`, :func:`build_portfolio` and :func:`rebuild_target` are short lists of
named stages; the work of each stage lives in the module that owns it, and the stages they
share with :func:`smallq.pipeline.compare_levels` live in :mod:`smallq.pipeline.stages`.
``build_portfolio`` runs, in order:

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
11. record   – on request, the profile's out-of-sample record before the decision date
    (:func:`smallq.pipeline.walkforward.out_of_sample_record`).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace
from datetime import date

import pandas as pd

from smallq.allocation import allocate_shares, fees_note
from smallq.assessment import Target
from smallq.data.base import PriceSource
from smallq.data.market import load_index_history, load_stress_history
from smallq.errors import SmallQError
from smallq.levels import placed_settings
from smallq.models import (
    MarketData,
    Note,
    NoteKind,
    OutOfSampleRecord,
    Profile,
    Report,
    StressReport,
)
from smallq.optimize import report_frontier
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.pipeline.stages import data_notes, decide, decision_data, rank, unique
from smallq.pipeline.walkforward import record_or_note
from smallq.presentation.notes import fallback_notes, freshness_note
from smallq.profile import cap_notes, level_cap_notes
from smallq.results import Selection
from smallq.risk import compute_risk_metrics, cornish_fisher_note, portfolio_returns
from smallq.simulation import REPORT_MONTE_CARLO
from smallq.stress import run_stress_tests, uncovered_window_notes

__all__ = ["build_portfolio", "rebuild_target", "select_stocks"]


def select_stocks(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    require_benchmark: bool = True,
) -> Selection:
    """Run the universe, filter, data and ranking stages for a profile.

    The ranking is the one a build on the same date acts on
    (:func:`smallq.pipeline.stages.rank`: the same price filters and estimation-window
    rule before the ranking). ``require_benchmark=False`` lets a ranking run on a source
    without a benchmark.

    Raises
    ------
    TooFewCandidatesError
        When a filter leaves too few stocks (the message names it).
    DataError, InsufficientHistoryError
    """
    universe, market, end = decision_data(
        profile, source, today=today, params=params, require_benchmark=require_benchmark
    )
    ranked = rank(profile, universe, market, params)
    ranking = ranked.ranking
    notes = [*data_notes(profile, universe, market, end), *ranked.notes, *ranking.notes]
    return Selection(ranking=ranking, market=replace(market, notes=unique(notes)))


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
        Attach the profile's out-of-sample record
        (:func:`smallq.pipeline.walkforward.out_of_sample_record`): a walk-forward backtest of
        the five years before the decision date. Front ends turn it on; it costs one
        backtest. Without enough history a note says why there is none.
    records : mutable mapping, optional
        A memo of records the caller keeps (the bot's engine workers do): the record depends
        on the profile without its capital, the decision date and the source, so users
        building the same profile on the same day share one backtest.

    Raises
    ------
    SmallQError
        Any subclass; each carries a ``user_message()``.
    """
    universe, market, end = decision_data(profile, source, today=today, params=params)
    as_of = market.prices.index[-1].date()
    _, decision = decide(profile, universe, market, params, fast=True)
    ranking, window, settings = decision.ranking, decision.window, decision.settings
    mu, cov, optimization = decision.mu, decision.cov, decision.optimization
    settings, placement = placed_settings(settings, optimization, profile.risk_level)
    candidates = list(window.columns)
    benchmark = market.benchmark.loc[window.index]
    stage_notes = [*data_notes(profile, universe, market, end), *decision.notes, *ranking.notes]
    market = replace(market, notes=unique(stage_notes))
    allocation = allocate_shares(
        optimization.weights, window.iloc[-1], profile.capital, fractional=profile.fractional,
        costs_bps=params.purchase_costs_bps,  # room for the fees of buying them (the bot's)
    )  # fmt: skip
    # the figures describe what was bought, with its cash (earning nothing), not the targets
    bought = allocation.achieved_weights[allocation.achieved_weights > 0]
    daily = portfolio_returns(decision.returns, bought)  # for risk, stress and notes
    metrics = compute_risk_metrics(
        bought,
        window,
        benchmark,
        mu,
        cov,
        risk_free_rate=settings.risk_free_rate,
        periods_per_year=params.periods_per_year,
        returns=decision.returns,
        daily=daily,
    )
    stress, stress_notes = _stress(
        bought, window, benchmark, market, source, index_history, as_of, params, decision.returns,
        daily,
    )  # fmt: skip
    frontier = report_frontier(mu, cov, settings, n_points=params.frontier_points, fast=True)
    notes = [Note(NoteKind.DATA, text) for text in market.notes]
    notes += [Note(NoteKind.STRESS, text) for text in stress_notes]
    notes += [Note(NoteKind.RISK, text) for text in (cornish_fisher_note(daily),) if text]
    notes += cap_notes(profile, settings)
    notes += level_cap_notes(profile, settings, len(candidates))
    notes += fallback_notes(optimization)
    fees = fees_note(allocation, params.purchase_costs_bps, profile.currency)
    notes += [fees] if fees is not None else []
    out_of_sample = None
    if record:
        out_of_sample, record_notes = record_or_note(profile, source, as_of, params, records)
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
        notes=unique(notes),
        risk_placement=placement,
        out_of_sample=out_of_sample,
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
    daily: pd.Series,
) -> tuple[StressReport, list[str]]:
    """Stress tests: Monte Carlo and betas on the lookback, crisis replays on long history.

    The report runs one Monte Carlo method (:data:`smallq.simulation.REPORT_MONTE_CARLO`); the
    stress views add the others (:func:`smallq.simulation.simulate_methods`). ``daily`` is
    ``portfolio_returns(returns, weights)``: the stress tests' own when the holdings are in
    the window's column order (the same sum, term by term).
    """
    held = list(window.columns[(weights.reindex(window.columns, fill_value=0.0) > 0).to_numpy()])
    same_sum = list(weights.index) == held
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
        daily=daily if same_sum else None,
    )
    notes += list(uncovered_window_notes(weights[held], long_prices, long_index))
    return stress, notes


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
        universe, market, _ = decision_data(profile, source, today=today, params=params)
        _, decision = decide(profile, universe, market, params)
        weights, latest = decision.optimization.weights, decision.window.iloc[-1]
        # the allocation's checks that do not depend on the capital
        allocate_shares(weights, latest, 1e12, fractional=profile.fractional)
    except SmallQError as exc:
        return Target(error=exc.user_message())
    return Target(weights, latest.reindex(weights.index).astype(float), profile.fractional)
