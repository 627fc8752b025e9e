"""A real backtest's reported metrics equal empyrical's on the engine's own equity curve.

The strategy and the benchmark metrics of ``run_strategy_backtest`` (CAGR, volatility,
Sharpe, Sortino, max drawdown, Calmar, alpha and beta) are recomputed with empyrical-reloaded
from ``result.equity`` and ``result.benchmark_equity`` and the settings' risk-free rate,
converted to a daily rate as empyrical expects (tolerance 1e-10).
"""

from __future__ import annotations

from datetime import date

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from smallq.data.sample import SampleSource
from smallq.pipeline import run_strategy_backtest
from smallq.profile import make_profile

TOL = 1e-10


@pytest.fixture(scope="module")
def backtest():  # type: ignore[no-untyped-def]
    profile = make_profile(
        sectors="tech,health,staples,energy,financials", capital=50_000.0, top_n=8
    )
    return run_strategy_backtest(
        profile,
        SampleSource(),
        start=date(2018, 1, 2),
        end=date(2020, 12, 31),
        rebalance="monthly",
        costs_bps=10.0,
    )


def _check(metrics, returns: pd.Series, benchmark: pd.Series, rf: float) -> None:  # type: ignore[no-untyped-def]
    daily_rf = rf / 252
    assert metrics.n_periods == len(returns)
    assert metrics.total_return == pytest.approx(ep.cum_returns_final(returns), abs=TOL)
    assert metrics.cagr == pytest.approx(ep.annual_return(returns), abs=TOL)
    assert metrics.volatility == pytest.approx(ep.annual_volatility(returns), abs=TOL)
    assert metrics.sharpe == pytest.approx(ep.sharpe_ratio(returns, risk_free=daily_rf), abs=TOL)
    assert metrics.sortino == pytest.approx(
        ep.sortino_ratio(returns, required_return=daily_rf), abs=TOL
    )
    assert metrics.max_drawdown == pytest.approx(-ep.max_drawdown(returns), abs=TOL)
    assert metrics.calmar == pytest.approx(ep.calmar_ratio(returns), abs=TOL)
    alpha, beta = ep.alpha_beta(returns, benchmark, risk_free=daily_rf)
    assert metrics.beta == pytest.approx(beta, abs=TOL)
    assert metrics.alpha == pytest.approx(alpha, abs=TOL)


def test_strategy_metrics_equal_empyrical_on_the_equity(backtest) -> None:  # type: ignore[no-untyped-def]
    result = backtest.result
    returns = result.equity.pct_change().iloc[1:]
    benchmark = result.benchmark_equity.pct_change().iloc[1:]
    assert result.equity.iloc[0] == 1.0
    assert returns.index.equals(benchmark.index)
    _check(backtest.metrics, returns, benchmark, backtest.settings.risk_free_rate)


def test_benchmark_metrics_equal_empyrical(backtest) -> None:  # type: ignore[no-untyped-def]
    result = backtest.result
    benchmark = result.benchmark_equity.pct_change().iloc[1:]
    _check(backtest.benchmark_metrics, benchmark, benchmark, backtest.settings.risk_free_rate)


def test_the_benchmark_curve_is_the_index_over_the_same_dates(backtest) -> None:  # type: ignore[no-untyped-def]
    """The benchmark equity is the index level on the backtest's dates over its first level."""
    result = backtest.result
    index = SampleSource().fetch_benchmark(date(2017, 12, 1), date(2021, 1, 31))
    level = index.reindex(result.equity.index)
    assert level.notna().all()
    np.testing.assert_allclose(result.benchmark_equity, level / level.iloc[0], rtol=0, atol=1e-12)
    assert backtest.start == date(2018, 1, 2) and backtest.end == date(2020, 12, 31)
