"""What the use cases in :mod:`smallq.pipeline` return, for presenters to import.

Frozen value objects only: the CLI text, the JSON documents, the bot and the dashboard read
these without importing the orchestrator. The build's :class:`~smallq.models.Report` stays in
:mod:`smallq.models` because storage (which may import only ``smallq.models``, ``types`` and
``errors``) records it; the objects here hold engine results (a simulated backtest,
performance metrics) that storage never sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from smallq.backtest.result import BacktestResult
from smallq.models import MarketData, Profile, Ranking, Settings
from smallq.performance import PerformanceMetrics, TrackingReport

__all__ = ["BacktestReport", "Selection", "TrackedPortfolio"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Output of the selection stages: ranking plus the market data it used."""

    ranking: Ranking
    market: MarketData


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """A walk-forward backtest of a profile's strategy against the benchmark.

    Attributes
    ----------
    result : BacktestResult
        Equity curves, weights over time, trades and rebalances.
    metrics, benchmark_metrics : PerformanceMetrics
        Strategy and benchmark side by side over the same dates.
    fallback_dates : tuple of (date, str)
        Decisions whose weights came from a fallback objective, with the objective used.
    """

    profile: Profile
    settings: Settings
    start: date
    end: date
    result: BacktestResult
    metrics: PerformanceMetrics
    benchmark_metrics: PerformanceMetrics
    source: str
    fallback_dates: tuple[tuple[date, str], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrackedPortfolio:
    """A built portfolio's holdings valued from its build date to the latest data.

    Attributes
    ----------
    values : Series of shape (n_days,)
        Market value of the shares plus the cash left, in the build's currency.
    tracking : TrackingReport
        Growth, metrics and excess return against the benchmark over the same days.
    """

    since: date
    end: date
    values: pd.Series
    tracking: TrackingReport
    notes: tuple[str, ...]
