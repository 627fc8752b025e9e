"""Backtest policies built from the engine: rank, forecast and optimize at each decision.

A policy is called with prices up to and including a decision date and returns target
weights (:data:`smallq.backtest.Policy`); the simulator in :mod:`smallq.backtest` never
needs to know how the weights were found. :mod:`smallq.fastopt` has the fast QP policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from smallq.errors import InsufficientHistoryError
from smallq.forecast import covariance, expected_returns
from smallq.fundamentals import Fundamentals
from smallq.models import Settings
from smallq.optimize import optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.ranking import rank_stocks
from smallq.types import Strategy


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
        settings = self.settings
        if settings.min_holdings > window.shape[1]:
            settings = replace(settings, min_holdings=window.shape[1])
        result = optimize_weights(
            *self._estimates(window, settings),
            settings,
            returns=window.pct_change().iloc[1:],
            sector_map=self._sectors(window.columns),
            sector_caps=self.sector_caps,
            params=self.params,
        )
        self.decisions.append((as_of, tuple(window.columns), result.objective_used.value))
        return result.weights

    def _estimates(
        self, window: pd.DataFrame, settings: Settings
    ) -> tuple[pd.Series, pd.DataFrame]:
        benchmark = None
        if self.benchmark is not None:
            benchmark = self.benchmark.reindex(window.index).ffill()
        mu = expected_returns(
            window,
            settings.returns_model,
            benchmark=benchmark,
            risk_free_rate=settings.risk_free_rate,
            periods_per_year=self.params.periods_per_year,
            span=self.params.ema_span_days,
        )
        cov = covariance(
            window,
            settings.cov_model,
            periods_per_year=self.params.periods_per_year,
            span=self.params.ema_span_days,
        )
        return mu, cov

    def _sectors(self, tickers: pd.Index) -> dict[str, str] | None:
        if not self.sector_caps or "sector" not in self.companies:
            return None
        sectors = self.companies["sector"].reindex(tickers)
        return {str(t): str(s) for t, s in sectors.items() if isinstance(s, str)}
