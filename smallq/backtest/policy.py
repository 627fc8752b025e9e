"""Backtest policies built from the engine: the build's own decision at each rebalance.

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
from smallq.decision import Decision, DecisionRule, decide_weights, prices_known_at
from smallq.filters import FilterCriteria
from smallq.fundamentals import Fundamentals
from smallq.models import MarketData, Profile, Settings
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import Strategy
from smallq.universe import companies_as_of

__all__ = ["PipelinePolicy", "point_in_time"]


class PipelinePolicy:
    """The build's decision as a backtest policy: :func:`smallq.decision.decide_weights`.

    On each call, with ``prices`` holding rows up to ``as_of`` only, the policy filters,
    applies the estimation-window rule, ranks, checks feasibility, estimates and optimizes
    exactly as ``smallq build --as-of`` does on that date; fed through
    :func:`point_in_time`, it also sees the prices cleaned as the build would clean them.

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
        Dated fundamentals; each decision ranks on those dated on or before its date, and
        its market-cap band reads the caps known on that date
        (:func:`smallq.universe.companies_as_of`).
    params : EngineParams
    criteria : FilterCriteria, optional
        The build's price filters; defaults to the minimum history of ``params``.
    volume : DataFrame of shape (n_days, n_assets), optional
        Share volume for the dollar-volume filter; rows after a decision date are unused.
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
        volume: pd.DataFrame | None = None,
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
        self.settings = settings
        self.benchmark = benchmark
        self.fundamentals = fundamentals
        self.params = params
        self.volume = volume
        self.decisions: list[tuple[pd.Timestamp, tuple[str, ...], str]] = []
        self.left_out: list[tuple[pd.Timestamp, tuple[str, ...]]] = []

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        market: MarketData,
        fundamentals: Fundamentals | None = None,
        params: EngineParams = DEFAULT_PARAMS,
        *,
        criteria: FilterCriteria | None = None,
    ) -> PipelinePolicy:
        """The profile's decision rule (:meth:`DecisionRule.for_profile`) over ``market``.

        The limits are checked once here on the first ``top_n`` tickers, so a request no
        decision could satisfy fails before simulating; each decision checks its own
        candidates, as the build does.

        Raises
        ------
        ProfileError, InfeasibleConstraintsError
            As :func:`smallq.constraints.check_feasibility`.
        """
        tickers = list(market.prices.columns)
        rule = DecisionRule.for_profile(profile, criteria or FilterCriteria(), len(tickers), params)
        check_feasibility(
            tickers[: profile.top_n],
            max_weight=rule.settings.max_weight,
            min_holdings=rule.settings.min_holdings,
        )
        return cls(
            market.companies.loc[tickers],
            rule.strategy,
            rule.settings,
            rule.top_n,
            lookback_days=rule.lookback_days,
            per_sector=rule.per_sector,
            sector_caps=rule.sector_caps,
            benchmark=market.benchmark,
            fundamentals=fundamentals,
            params=params,
            criteria=rule.criteria,
            volume=market.volume,
        )

    def decide(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> Decision:
        """The full decision on ``as_of`` (rows after it are never read)."""
        history = prices.loc[:as_of]
        volume = None
        if self.volume is not None:
            volume = self.volume.reindex(index=history.index, columns=history.columns)
        companies = self.companies
        if self.fundamentals is not None:
            # the market-cap band reads the caps known on this date, as a build on it does
            companies, _ = companies_as_of(self.companies, self.fundamentals, as_of.date())
        return decide_weights(
            history,
            companies,
            self.rule,
            as_of.date(),
            volume=volume,
            benchmark=None if self.benchmark is None else self.benchmark.loc[:as_of],
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

    def fallback_dates(self) -> tuple[tuple[date, str], ...]:
        """Decisions whose weights came from a fallback objective, with the objective used."""
        wanted = self.settings.objective.value
        return tuple((when.date(), used) for when, _, used in self.decisions if used != wanted)

    def left_out_notes(self) -> list[str]:
        """Name the stocks some decisions left out for lacking a complete estimation window."""
        if not self.left_out:
            return []
        tickers = sorted({t for _, left in self.left_out for t in left})
        more = f" and {len(tickers) - 10} more" if len(tickers) > 10 else ""
        return [
            f"{len(self.left_out)} of {len(self.decisions)} rebalances left out "
            f"{', '.join(tickers[:10])}{more}: fewer than {self.rule.lookback_days + 1} days "
            "of prices (the estimation window), as a build on that date would."
        ]


def point_in_time(policy: Policy, market: MarketData, params: EngineParams) -> Policy:
    """Feed ``policy`` the prices a build on each decision date would have seen.

    The simulator values the book on fully cleaned prices (valuation is not a decision), but
    the bad-print rules look at the next day, so each decision gets the raw closes, highs and
    lows cut at its date, cleaned, aligned and screened for unconfirmed decision-day moves
    exactly as the build's data stage does (:func:`smallq.decision.prices_known_at`).

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
        prices, _volume = prices_known_at(market, when, params)
        return policy(prices, when)

    return decide
