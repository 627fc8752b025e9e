"""Backtest charts: PNG bytes, and the drawn data equals the result's numbers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smallq.charts.backtest as charts
from smallq.backtest import BacktestResult, run_backtest
from smallq.performance import monthly_returns

N_ASSETS = 14


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2020-01-01", periods=600)
    tickers = [f"T{i:02d}" for i in range(N_ASSETS)]
    prices = pd.DataFrame(
        50 * np.cumprod(1 + rng.normal(0.0004, 0.015, (600, N_ASSETS)), axis=0),
        index=dates,
        columns=tickers,
    )
    bench = pd.Series(3000 * np.cumprod(1 + rng.normal(0.0003, 0.01, 600)), dates)
    weights = pd.Series(np.linspace(1, 2, N_ASSETS), tickers)

    def policy(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        return weights / weights.sum()

    return run_backtest(
        prices, policy, start=dates[0], end=dates[-1], rebalance="monthly", benchmark=bench
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_render_returns_every_chart_as_phone_sized_png(result: BacktestResult) -> None:
    images = charts.render_backtest_charts(result, log_scale=True)
    assert set(images) == {"equity", "drawdown", "rolling", "monthly_returns", "weights"}
    for name, data in images.items():
        assert png_size(data) == (900, 1200), name  # portrait 3:4


def test_equity_lines_are_the_curves_and_log_scale_applies(result: BacktestResult) -> None:
    fig = charts.equity_figure(result, log_scale=True)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    strategy, benchmark = ax.get_lines()[:2]
    capital = charts.DEFAULT_CAPITAL  # the fixture ran without a capital
    np.testing.assert_allclose(strategy.get_ydata(), result.equity.to_numpy() * capital)
    assert result.benchmark_equity is not None
    np.testing.assert_allclose(benchmark.get_ydata(), result.benchmark_equity.to_numpy() * capital)
    end = result.equity.iloc[-1] * capital
    assert fig.get_suptitle() == f"\\$10,000 → \\${round(end, -2):,.0f}"
    assert charts.equity_figure(result).axes[0].get_yscale() == "linear"


def test_heatmap_cells_are_the_monthly_returns(result: BacktestResult) -> None:
    fig = charts.monthly_heatmap_figure(result)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    months = monthly_returns(result.returns)
    n_years = len(set(months.index.year))
    assert image.shape == (12, n_years)  # months down, years across (portrait)
    table = months.groupby([months.index.month, months.index.year]).sum().unstack()
    np.testing.assert_allclose(image.filled(np.nan), table.to_numpy(), equal_nan=True)
    labels = sorted(float(t.get_text().replace("−", "-")) for t in ax.texts)
    expected = sorted(round(float(v) * 100, 1) + 0.0 for v in months.to_numpy())
    np.testing.assert_allclose(labels, expected, atol=0.051)


def test_weights_chart_groups_small_holdings_as_other(result: BacktestResult) -> None:
    fig = charts.weights_figure(result, top=10)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == 11 and labels[-1] == "Other"
    top = result.weights.mean().sort_values(ascending=False).index[:10]
    assert labels[:10] == list(top)


def test_rolling_chart_without_benchmark_has_one_panel(result: BacktestResult) -> None:
    alone = BacktestResult(
        equity=result.equity,
        benchmark_equity=None,
        weights=result.weights,
        cash=result.cash,
        trades=result.trades,
        rebalances=result.rebalances,
        turnover=result.turnover,
        costs=result.costs,
        rule=result.rule,
        costs_bps=result.costs_bps,
        capital=None,
    )
    assert len(charts.rolling_figure(alone).axes) == 1
    assert len(charts.rolling_figure(result).axes) == 2
    assert set(charts.render_backtest_charts(alone)) == {
        "equity",
        "drawdown",
        "rolling",
        "monthly_returns",
        "weights",
    }


def test_charts_never_use_pyplot() -> None:
    source = Path(charts.__file__).read_text()
    assert (
        "import matplotlib.pyplot" not in source and "from matplotlib import pyplot" not in source
    )
