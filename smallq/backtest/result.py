"""The frozen result of a simulated strategy: equity curves, weights, trades and rebalances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from smallq.backtest.book import Rebalance, Trade
from smallq.errors import DataUnavailableError

if TYPE_CHECKING:
    from smallq.backtest.simulator import RebalanceRule
    from smallq.performance import PerformanceMetrics

__all__ = ["BacktestResult"]


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """A simulated strategy.

    Attributes
    ----------
    equity : Series of shape (n_days,)
        Value at each close before that close's trades; 1.0 on the start date.
    benchmark_equity : Series of shape (n_days,), optional
        Benchmark level over its start-date level (1.0 on the start date).
    weights : DataFrame of shape (n_days, n_held)
        Weights held after each close's trades (tickers ever held); rows sum to 1 − cash.
    cash : Series of shape (n_days,)
        Cash weight after each close's trades.
    trades, rebalances : tuples of Trade and Rebalance
    turnover : float
        Sum of the rebalances' turnover.
    costs : float
        Total costs in units of starting capital.
    """

    equity: pd.Series
    benchmark_equity: pd.Series | None
    weights: pd.DataFrame
    cash: pd.Series
    trades: tuple[Trade, ...]
    rebalances: tuple[Rebalance, ...]
    turnover: float
    costs: float
    rule: RebalanceRule
    costs_bps: float
    capital: float | None

    @property
    def returns(self) -> pd.Series:
        """Daily strategy returns, shape (n_days - 1,)."""
        return self.equity.pct_change().iloc[1:]

    @property
    def benchmark_returns(self) -> pd.Series | None:
        """Daily benchmark returns, shape (n_days - 1,), or None."""
        if self.benchmark_equity is None:
            return None
        return self.benchmark_equity.pct_change().iloc[1:]

    def metrics(
        self, *, risk_free_rate: float = 0.02, periods_per_year: int = 252
    ) -> tuple[PerformanceMetrics, PerformanceMetrics]:
        """Strategy and benchmark metrics side by side (see :func:`smallq.performance.compare`).

        Raises
        ------
        DataUnavailableError
            When the backtest ran without a benchmark.
        """
        from smallq.performance import compare

        if self.benchmark_returns is None:
            raise DataUnavailableError(["benchmark"], "the backtest ran without a benchmark")
        return compare(
            self.returns,
            self.benchmark_returns,
            risk_free_rate=risk_free_rate,
            periods_per_year=periods_per_year,
        )

    def cash_notes(self, currency: str) -> list[str]:
        """Say when whole-share rounding kept most of a small capital in cash.

        Only a whole-share backtest (one with ``capital``) can leave such cash.
        """
        average_cash = float(self.cash.iloc[:-1].mean()) if len(self.cash) > 1 else 0.0
        if self.capital is None or average_cash < 0.25:
            return []
        return [
            f"With {self.capital:,.2f} {currency} of capital, whole shares left "
            f"{average_cash:.0%} of the portfolio in cash on average; add capital or backtest "
            "without --capital (fractional shares)."
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``equity``, ``benchmark_equity``, ``rebalances``, totals."""

        def curve(series: pd.Series | None) -> dict[str, float] | None:
            if series is None:
                return None
            return {d.strftime("%Y-%m-%d"): float(v) for d, v in series.items()}

        return {
            "rule": str(self.rule),
            "costs_bps": self.costs_bps,
            "capital": self.capital,
            "equity": curve(self.equity),
            "benchmark_equity": curve(self.benchmark_equity),
            "rebalances": [
                {
                    "date": r.date.strftime("%Y-%m-%d"),
                    "weights": {str(k): float(v) for k, v in r.weights.items()},
                    "turnover": r.turnover,
                    "cost": r.cost,
                }
                for r in self.rebalances
            ],
            "turnover": self.turnover,
            "costs": self.costs,
        }
