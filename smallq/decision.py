"""One investment decision at one date, shared by the build and the backtest.

``smallq build --as-of D`` and a backtest's rebalance on ``D`` call :func:`decide_weights`
with the same inputs, so they decide the same (tested on the real data to 1e-9):

1. **history** – the cleaned closes known at ``D`` (:func:`prices_known_at` in a backtest's
   :func:`smallq.backtest.policy.point_in_time`,
   the build's own cleaned fetch, which is the same computation: bad prints repaired, a
   ticker whose close on ``D`` moved by a spike's size left out), cut to the last
   :func:`history_rows` rows, so how much older history a caller fetched changes nothing;
2. **filters** – minimum history and dollar volume at ``D`` (:func:`smallq.filters.apply_filters`);
3. **estimation window** – :func:`smallq.forecast.estimation_window`: a stock without a
   complete ``lookback_days + 1`` day price window (listed later, or silent at the end) is
   left out *before* the ranking, with a note naming it, and the next-ranked stock takes its
   place; the others keep their full window (one late listing never shortens it);
4. **ranking** – :func:`smallq.ranking.rank_stocks`, the top ``top_n``;
5. **feasibility** – :func:`smallq.constraints.feasible_limits`, the engine's one check;
6. **estimates and weights** – :func:`smallq.forecast.forecast_moments` and
   :func:`smallq.optimize.optimize_weights` along the fallback chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from smallq.constraints import feasible_limits
from smallq.data.validation import align_calendar, clean_prices, unconfirmed_moves
from smallq.filters import FilterCriteria, apply_filters
from smallq.forecast import EstimationWindow, estimation_window, forecast_moments
from smallq.fundamentals import Fundamentals
from smallq.models import MarketData, OptimizationResult, PriceData, Profile, Ranking, Settings
from smallq.optimize import optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.profile import fit_min_holdings, level_max_weight, resolve_settings
from smallq.ranking import rank_stocks
from smallq.types import Strategy


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """What a decision needs from a profile (the same for the build and the backtest).

    Attributes
    ----------
    strategy : Strategy
    top_n : int
        Stocks selected (per sector when ``per_sector``).
    lookback_days : int
        Daily returns behind ``mu`` and ``cov``; the window has ``lookback_days + 1`` prices.
    settings : Settings
        Objective, estimators and caps; ``min_holdings`` is lowered to the number of
        candidates when fewer are selected.
    criteria : FilterCriteria
        The price-based filters (minimum history, dollar volume) applied at the decision date.
    sector_caps : mapping of str to float, optional
    per_sector : bool
    """

    strategy: Strategy
    top_n: int
    lookback_days: int
    settings: Settings
    criteria: FilterCriteria
    sector_caps: Mapping[str, float] | None = None
    per_sector: bool = False
    #: the risk levels' own cap (no explicit ``max_weight``): raised to ``1/n`` for fewer
    #: than four candidates (:func:`smallq.profile.level_max_weight`)
    level_cap: bool = False

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        criteria: FilterCriteria,
        n_tickers: int,
        params: EngineParams = DEFAULT_PARAMS,
    ) -> DecisionRule:
        """The profile's rule: its risk level's settings and the build's price filters.

        Parameters
        ----------
        profile : Profile
        criteria : FilterCriteria
            The price-free filters of the profile; the minimum history of ``params`` and the
            profile's minimum dollar volume are added.
        n_tickers : int
            Tickers available; ``min_holdings`` is lowered to ``min(top_n, n_tickers)``.
        """
        n_candidates = min(profile.top_n, n_tickers)
        settings = resolve_settings(profile, n_candidates)  # the levels' cap: 1/n if needed
        return cls(
            strategy=profile.strategy,
            top_n=profile.top_n,
            lookback_days=profile.lookback_days,
            settings=fit_min_holdings(settings, n_candidates),
            criteria=replace(
                criteria,
                min_history_days=params.min_history_days,
                min_dollar_volume=profile.min_dollar_volume,
            ),
            sector_caps={str(s): c for s, c in profile.sector_caps.items()} or None,
            per_sector=profile.per_sector,
            level_cap=profile.max_weight is None,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The weights decided at one date and everything behind them.

    Attributes
    ----------
    ranking : Ranking
    window : DataFrame of shape (lookback_days + 1, n_candidates)
        Complete prices of the selected stocks over the estimation window.
    returns : DataFrame of shape (lookback_days, n_candidates)
        Their daily simple returns (``window.pct_change()`` without the first row): computed
        once, for the optimizer's VaR guard and a build's risk figures and stress tests.
    benchmark : Series of shape (lookback_days + 1,), optional
        Benchmark level on the window's dates.
    settings : Settings
        The settings used (``min_holdings`` lowered when needed).
    mu : Series of shape (n_candidates,)
    cov : DataFrame of shape (n_candidates, n_candidates)
    optimization : OptimizationResult
    left_out : tuple of str
        Tickers left out for lacking a complete window (named in ``notes``).
    notes : tuple of str
    """

    ranking: Ranking
    window: pd.DataFrame
    returns: pd.DataFrame
    benchmark: pd.Series | None
    settings: Settings
    mu: pd.Series
    cov: pd.DataFrame
    optimization: OptimizationResult
    left_out: tuple[str, ...]
    notes: tuple[str, ...]


def history_rows(lookback_days: int, params: EngineParams = DEFAULT_PARAMS) -> int:
    """Rows of price history a decision reads: the longest window any stage needs, plus one."""
    longest = max(
        lookback_days,
        params.momentum_lookback_days,
        params.low_vol_window_days,
        params.min_history_days,
    )
    return longest + 1


def prices_known_at(
    market: MarketData, as_of: pd.Timestamp, params: EngineParams = DEFAULT_PARAMS
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Clean and align the prices as a build on ``as_of`` would (nothing later is read).

    The raw closes, highs and lows cut at ``as_of`` go through
    :func:`~smallq.data.validation.clean_prices` and
    :func:`~smallq.data.validation.align_calendar` (on the benchmark's dates up to
    ``as_of``), then a ticker whose close on ``as_of`` moved by a spike's size is left out
    (:func:`~smallq.data.validation.unconfirmed_moves`), as :func:`smallq.pipeline` does for
    a build.

    Parameters
    ----------
    market : MarketData
        The data as loaded for a whole backtest (``raw_prices``, ``raw_high``, ``raw_low``,
        ``volume`` and ``benchmark`` are read up to ``as_of``).
    as_of : Timestamp
        The decision date.

    Returns
    -------
    prices : DataFrame of shape (n_days, n_assets)
    volume : DataFrame of the same shape, optional
    """

    def upto(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.loc[:as_of]

    raw = market.raw_prices if market.raw_prices is not None else market.prices
    known = PriceData(close=raw.loc[:as_of], high=upto(market.raw_high), low=upto(market.raw_low))
    benchmark = None if market.benchmark.empty else market.benchmark.loc[:as_of]
    cleaned = clean_prices(known, params, market=benchmark)
    prices, _, _ = align_calendar(cleaned.close, benchmark)
    excluded, _ = unconfirmed_moves(prices, params)
    prices = prices.drop(columns=list(excluded))
    volume = market.volume
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    return prices, volume


@dataclass(frozen=True, slots=True)
class Ranked:
    """Steps 1-4 of a decision: the stocks that pass the filters and the window rule, ranked.

    Attributes
    ----------
    eligible : EstimationWindow
        The estimation window of every stock that passed the filters and has a complete one.
    ranking : Ranking
        Their ranking; ``ranking.selected`` are the decision's candidates.
    notes : tuple of str
        The filters' notes and the window rule's (which stocks were left out, and why).
    """

    eligible: EstimationWindow
    ranking: Ranking
    notes: tuple[str, ...]


def rank_candidates(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    rule: DecisionRule,
    as_of: date,
    *,
    volume: pd.DataFrame | None = None,
    fundamentals: Fundamentals | None = None,
    params: EngineParams = DEFAULT_PARAMS,
) -> Ranked:
    """History, filters, estimation window and ranking at ``as_of`` (steps 1-4).

    :func:`decide_weights` and ``smallq rank`` (:func:`smallq.pipeline.select_stocks`) both
    rank this way, so the ranking a user reads is the one a build on that date acts on.
    Parameters are those of :func:`decide_weights`.

    Raises
    ------
    TooFewCandidatesError, InsufficientHistoryError
    """
    history = prices.loc[: pd.Timestamp(as_of)].iloc[-history_rows(rule.lookback_days, params) :]
    known = [t for t in history.columns if t in companies.index]
    screened = apply_filters(
        companies.loc[known], rule.criteria, prices=history[known], volume=volume, as_of=as_of
    )
    eligible = estimation_window(history[list(screened.tickers)], rule.lookback_days)
    ranking = rank_stocks(
        history[list(eligible.window.columns)],
        companies.loc[list(eligible.window.columns)],
        rule.strategy,
        as_of,
        top_n=rule.top_n,
        per_sector=rule.per_sector,
        fundamentals=fundamentals,
        params=params,
    )
    return Ranked(eligible, ranking, (*screened.notes, *eligible.notes))


def decide_weights(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    rule: DecisionRule,
    as_of: date,
    *,
    volume: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
    fundamentals: Fundamentals | None = None,
    params: EngineParams = DEFAULT_PARAMS,
    fast: bool = False,
) -> Decision:
    """Filter, rank, estimate and optimize at ``as_of`` (see the module docstring).

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Cleaned closes on the benchmark's calendar; rows after ``as_of`` are ignored.
    companies : DataFrame indexed by ticker
        Sector and fundamentals of (at least) the tickers of ``prices``.
    rule : DecisionRule
    as_of : date
    volume : DataFrame of shape (n_days, n_assets), optional
        Share volume, for the dollar-volume filter.
    benchmark : Series of shape (n_days,), optional
        Benchmark level (CAPM returns); only the window's dates are read.
    fundamentals : Fundamentals, optional
        Dated fundamentals; the ranking reads those dated on or before ``as_of``.
    fast : bool, default=False
        Optimize on the daqp fast path (``optimize_weights(fast=True)``, tested equal to
        PyPortfolioOpt); the build passes True.

    Returns
    -------
    Decision

    Raises
    ------
    TooFewCandidatesError
        When a filter (or the window rule) leaves too few stocks.
    InsufficientHistoryError
        When the history is shorter than the window or the ranking's lookback.
    InfeasibleConstraintsError
        When the caps or the minimum number of holdings cannot hold for the candidates.
    """
    ranked = rank_candidates(
        prices, companies, rule, as_of, volume=volume, fundamentals=fundamentals, params=params
    )
    eligible, ranking = ranked.eligible, ranked.ranking
    candidates = list(ranking.selected)
    window = eligible.window[candidates]
    settings = fit_min_holdings(rule.settings, len(candidates))
    if rule.level_cap:
        settings = replace(settings, max_weight=level_max_weight(len(candidates)))
    limits = feasible_limits(
        candidates,
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=_sectors(companies, candidates),
        sector_caps=rule.sector_caps or None,
        n_observations=len(window) - 1,
    )
    level = None if benchmark is None else benchmark.reindex(window.index)
    mu, cov = forecast_moments(window, settings, benchmark=level, params=params)
    returns = window.pct_change(fill_method=None).iloc[1:]  # the window is complete
    optimization = optimize_weights(
        mu,
        cov,
        settings,
        returns=returns,
        limits=limits,
        chain=params.fallback_chain,
        params=params,
        fast=fast,
    )
    return Decision(
        ranking=ranking,
        window=window,
        returns=returns,
        benchmark=level,
        settings=settings,
        mu=mu,
        cov=cov,
        optimization=optimization,
        left_out=eligible.left_out,
        notes=ranked.notes,
    )


def _sectors(companies: pd.DataFrame, tickers: list[str]) -> dict[str, str]:
    if "sector" not in companies:
        return {}
    sectors = companies["sector"].reindex(tickers)
    return {str(t): str(s) for t, s in sectors.items() if isinstance(s, str)}
