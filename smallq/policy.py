"""Backtest policies built from the engine: the build's own decision at each rebalance.

A policy is called with prices up to and including a decision date and returns target
weights (:data:`smallq.backtest.Policy`); the simulator in :mod:`smallq.backtest` never
needs to know how the weights were found. :mod:`smallq.fastopt` has the fast QP policy.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from smallq.decision import Decision, DecisionRule, decide_weights, prices_known_at
from smallq.filters import FilterCriteria
from smallq.fundamentals import Fundamentals
from smallq.models import MarketData, Settings
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import Strategy


class PipelinePolicy:
    """The build's decision as a backtest policy: :func:`smallq.decision.decide_weights`.

    On each call, with ``prices`` holding rows up to ``as_of`` only, the policy filters,
    ranks, applies the estimation-window rule, estimates and optimizes exactly as
    ``smallq build --as-of`` does on that date. With ``market`` (the data as loaded) it first
    cleans the raw rows up to ``as_of`` as the build would
    (:func:`smallq.decision.prices_known_at`) and uses those instead of ``prices``.

    ``decisions`` keeps, per call, the date, the tickers optimized and the objective used,
    so a report can say when the optimizer fell back; ``left_out`` keeps, per call, the
    tickers left out for lacking a complete estimation window.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        Company table (sector and fundamentals) for the ranking.
    strategy : Strategy
    settings : Settings
        Objective, estimators, caps and risk-free rate (``min_holdings`` is lowered to the
        number of candidates when needed, as the build does).
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
    criteria : FilterCriteria, optional
        The price filters of the build; defaults to the minimum history of ``params``.
    market : MarketData, optional
        The data as loaded; its raw closes, highs and lows are re-cleaned at each decision.
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
        criteria: FilterCriteria | None = None,
        market: MarketData | None = None,
    ) -> None:
        self.companies = companies
        self.rule = DecisionRule(
            strategy=Strategy.parse(strategy),
            top_n=top_n,
            lookback_days=lookback_days,
            settings=settings,
            criteria=criteria or FilterCriteria(min_history_days=params.min_history_days),
            sector_caps=dict(sector_caps) if sector_caps else None,
            per_sector=per_sector,
        )
        self.benchmark = benchmark
        self.fundamentals = fundamentals
        self.params = params
        self.market = market
        self.decisions: list[tuple[pd.Timestamp, tuple[str, ...], str]] = []
        self.left_out: list[tuple[pd.Timestamp, tuple[str, ...]]] = []

    def decide(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> Decision:
        """The full decision on ``as_of`` (rows of ``prices`` after it are never read)."""
        volume = None
        if self.market is not None:
            prices, volume = prices_known_at(self.market, as_of, self.params)
        benchmark = None if self.benchmark is None else self.benchmark.loc[:as_of]
        return decide_weights(
            prices.loc[:as_of],
            self.companies,
            self.rule,
            as_of.date(),
            volume=volume,
            benchmark=benchmark,
            fundamentals=self.fundamentals,
            params=self.params,
        )

    def __call__(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        """Target weights from ``prices`` (rows up to ``as_of``; later rows are cut anyway)."""
        decision = self.decide(prices, as_of)
        used = decision.optimization.objective_used.value
        self.decisions.append((as_of, tuple(decision.window.columns), used))
        if decision.left_out:
            self.left_out.append((as_of, decision.left_out))
        return decision.optimization.weights
