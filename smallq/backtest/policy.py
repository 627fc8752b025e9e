"""Backtest policies built from the engine: rank, forecast and optimize at each decision.

A policy is called with prices up to and including a decision date and returns target
weights (:data:`smallq.backtest.simulator.Policy`); the simulator never needs to know how
the weights were found. :mod:`smallq.backtest.fast` has the fast QP policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from smallq.backtest.simulator import Policy
from smallq.constraints import check_feasibility
from smallq.data.validation import clean_prices, unconfirmed_moves
from smallq.errors import InsufficientHistoryError
from smallq.forecast import forecast_moments
from smallq.fundamentals import Fundamentals
from smallq.models import MarketData, PriceData, Profile, Settings
from smallq.optimize import optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.profile import fit_min_holdings, resolve_settings
from smallq.ranking import rank_stocks
from smallq.types import Strategy

__all__ = ["PipelinePolicy", "known_history", "point_in_time"]


class PipelinePolicy:
    """The build pipeline as a backtest policy: rank, forecast, optimize at each decision.

    On each call, with ``prices`` holding rows up to ``as_of`` only:

    1. :func:`smallq.ranking.rank_stocks` picks ``top_n`` tickers (per sector on request);
    2. tickers without a complete ``lookback_days + 1`` price window are dropped;
    3. :func:`smallq.forecast.expected_returns` and :func:`smallq.forecast.covariance`
       estimate ``mu`` and ``cov`` over that window (the benchmark is cut at ``as_of``);
    4. :func:`smallq.optimize.optimize_weights` returns weights along its fallback chain.

    ``decisions`` keeps, per call, the date, the tickers optimized and the objective used,
    so a report can say when the optimizer fell back.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        Company table (sector and fundamentals) for the ranking.
    strategy : Strategy
    settings : Settings
        Objective, estimators, caps and risk-free rate (``min_holdings`` is lowered to the
        number of candidates when needed, as the build pipeline does).
    top_n : int
        Stocks selected at each decision.
    lookback_days : int, default=252
        Daily returns behind ``mu`` and ``cov``.
    per_sector : bool
    sector_caps : mapping of str to float, optional
        Largest total weight per sector name.
    benchmark : Series, optional
        Benchmark level for the CAPM returns model; rows after the decision date are unused.
    fundamentals : Fundamentals, optional
        Dated fundamentals; each decision ranks on those dated on or before its date.
    params : EngineParams
    """

    def __init__(
        self,
        companies: pd.DataFrame,
        strategy: Strategy,
        settings: Settings,
        top_n: int,
        *,
        lookback_days: int = 252,
        per_sector: bool = False,
        sector_caps: Mapping[str, float] | None = None,
        benchmark: pd.Series | None = None,
        fundamentals: Fundamentals | None = None,
        params: EngineParams = DEFAULT_PARAMS,
    ) -> None:
        self.companies = companies
        self.strategy = Strategy.parse(strategy)
        self.settings = settings
        self.top_n = top_n
        self.lookback_days = lookback_days
        self.per_sector = per_sector
        self.sector_caps = dict(sector_caps) if sector_caps else None
        self.benchmark = benchmark
        self.fundamentals = fundamentals
        self.params = params
        self.decisions: list[tuple[pd.Timestamp, tuple[str, ...], str]] = []

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        market: MarketData,
        fundamentals: Fundamentals | None = None,
        params: EngineParams = DEFAULT_PARAMS,
    ) -> PipelinePolicy:
        """The profile's selection and optimization as a policy over ``market``'s tickers.

        The settings come from the profile's risk level (``min_holdings`` lowered to
        ``top_n`` or the number of tickers). The limits are checked once here on the first
        ``top_n`` tickers, so a request no decision could satisfy fails before simulating;
        each decision's optimizer checks its own candidates.

        Raises
        ------
        ProfileError, InfeasibleConstraintsError
            As :func:`smallq.constraints.check_feasibility`.
        """
        tickers = list(market.prices.columns)
        settings = fit_min_holdings(resolve_settings(profile), min(profile.top_n, len(tickers)))
        check_feasibility(
            tickers[: profile.top_n],
            max_weight=settings.max_weight,
            min_holdings=settings.min_holdings,
        )
        return cls(
            market.companies.loc[tickers],
            profile.strategy,
            settings,
            profile.top_n,
            lookback_days=profile.lookback_days,
            per_sector=profile.per_sector,
            sector_caps={str(k): v for k, v in profile.sector_caps.items()} or None,
            benchmark=market.benchmark,
            fundamentals=fundamentals,
            params=params,
        )

    def __call__(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        """Target weights from ``prices`` (rows up to ``as_of``; later rows are cut anyway)."""
        history = prices.loc[:as_of]
        ranking = rank_stocks(
            history,
            self.companies,
            self.strategy,
            as_of.date(),
            top_n=self.top_n,
            per_sector=self.per_sector,
            fundamentals=self.fundamentals,
            params=self.params,
        )
        window = history[list(ranking.selected)].iloc[-(self.lookback_days + 1) :]
        window = window.loc[:, window.notna().all()]
        if len(window) < self.lookback_days + 1 or window.shape[1] == 0:
            raise InsufficientHistoryError(len(window), self.lookback_days + 1, "lookback history")
        settings = fit_min_holdings(self.settings, window.shape[1])
        benchmark = None
        if self.benchmark is not None:
            benchmark = self.benchmark.reindex(window.index).ffill()
        result = optimize_weights(
            *forecast_moments(window, settings, benchmark=benchmark, params=self.params),
            settings,
            returns=window.pct_change().iloc[1:],
            sector_map=self._sectors(window.columns),
            sector_caps=self.sector_caps,
            params=self.params,
        )
        self.decisions.append((as_of, tuple(window.columns), result.objective_used.value))
        return result.weights

    def fallback_dates(self) -> tuple[tuple[date, str], ...]:
        """Decisions whose weights came from a fallback objective, with the objective used."""
        wanted = self.settings.objective.value
        return tuple((when.date(), used) for when, _, used in self.decisions if used != wanted)

    def _sectors(self, tickers: pd.Index) -> dict[str, str] | None:
        if not self.sector_caps or "sector" not in self.companies:
            return None
        sectors = self.companies["sector"].reindex(tickers)
        return {str(t): str(s) for t, s in sectors.items() if isinstance(s, str)}


def point_in_time(policy: Policy, market: MarketData, params: EngineParams) -> Policy:
    """Feed ``policy`` prices cleaned with only what was known at each decision date.

    The simulator values the book on fully cleaned prices (valuation is not a decision), but
    the bad-print rules look at the next day, so decisions re-clean the raw closes (and the
    day's high and low) cut at the decision date: the decision day's close is moved into its
    range, and a ticker whose decision-day move is of a spike's size is left out of that
    decision (:func:`smallq.data.validation.unconfirmed_moves`), as in the build. Short gaps
    are carried forward at most five days.

    Parameters
    ----------
    policy : Policy
    market : MarketData
        Its ``raw_prices`` (else ``prices``) of shape (n_days, n_assets) are cut at each
        decision date.
    params : EngineParams
        The cleaning thresholds.
    """

    def decide(_: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
        return policy(known_history(market, when, params), when)

    return decide


def known_history(market: MarketData, when: pd.Timestamp, params: EngineParams) -> pd.DataFrame:
    """Closes cleaned with only what was known on ``when`` (see :func:`point_in_time`).

    Returns
    -------
    DataFrame of shape (n_days, n_kept)
        Rows up to ``when``; tickers with an unconfirmed decision-day move left out.
    """
    raw = market.raw_prices if market.raw_prices is not None else market.prices

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.loc[:when]

    known = PriceData(close=raw.loc[:when], high=cut(market.raw_high), low=cut(market.raw_low))
    history = clean_prices(known, params).close.ffill(limit=5)
    excluded, _ = unconfirmed_moves(history, params)
    return history.drop(columns=list(excluded))
