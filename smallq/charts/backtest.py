"""Backtest charts: equity, drawdown, rolling Sharpe and beta, monthly heatmap, weights.

Each ``*_figure`` function returns a matplotlib ``Figure`` (never pyplot);
:func:`render_backtest_charts` renders all of them to PNG bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from smallq.backtest import BacktestResult
from smallq.charts.style import PALETTE, figure_to_png, new_figure, style_axes
from smallq.measures import drawdown
from smallq.performance import TrackingReport, monthly_table, rolling_beta, rolling_sharpe

STRATEGY_COLOR, BENCHMARK_COLOR = PALETTE[0], "#6b7280"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def equity_figure(result: BacktestResult, *, log_scale: bool = False) -> Figure:
    """Growth of 1 for the strategy and the benchmark (log scale on request)."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(result.equity.index, result.equity, color=STRATEGY_COLOR, lw=2, label="Strategy")
    if result.benchmark_equity is not None:
        ax.plot(
            result.benchmark_equity.index,
            result.benchmark_equity,
            color=BENCHMARK_COLOR,
            lw=1.6,
            label="Benchmark",
        )
    if log_scale:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1f}×"))
    ax.axhline(1.0, color="black", lw=0.8, alpha=0.5)
    _finish(ax, "Growth of 1 invested" + (" (log scale)" if log_scale else ""))
    _annotate_last(ax, result.equity, STRATEGY_COLOR)
    if result.benchmark_equity is not None:
        _annotate_last(ax, result.benchmark_equity, BENCHMARK_COLOR)
    return fig


def drawdown_figure(result: BacktestResult) -> Figure:
    """Fall from the running peak, strategy (filled) and benchmark (line)."""
    fig = new_figure()
    ax = fig.add_subplot()
    strategy = -drawdown(result.equity.pct_change().fillna(0.0))
    if result.benchmark_equity is not None:
        bench = -drawdown(result.benchmark_equity.pct_change().fillna(0.0))
        ax.plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.0, alpha=0.8, label="Benchmark")
    ax.fill_between(strategy.index, strategy, 0.0, color=PALETTE[3], alpha=0.3, lw=0)
    ax.plot(strategy.index, strategy, color=PALETTE[3], lw=1.4, label="Strategy")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(top=0.0)
    _finish(ax, f"Drawdown (strategy's worst {-strategy.min():.1%})", legend_loc="lower left")
    return fig


def rolling_figure(
    result: BacktestResult, *, window: int = 126, risk_free_rate: float = 0.0
) -> Figure:
    """Rolling Sharpe ratio (and rolling beta to the benchmark when there is one)."""
    has_bench = result.benchmark_returns is not None
    fig = new_figure((8.0, 6.5) if has_bench else (8.0, 4.5))
    axes = fig.subplots(2 if has_bench else 1, 1, sharex=True, squeeze=False)[:, 0]
    returns = result.returns
    sharpe = rolling_sharpe(returns, window, risk_free_rate)
    axes[0].plot(sharpe.index, sharpe, color=STRATEGY_COLOR, lw=1.6, label="Strategy")
    if result.benchmark_returns is not None:
        bench = rolling_sharpe(result.benchmark_returns, window, risk_free_rate)
        axes[0].plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.2, label="Benchmark")
        beta = rolling_beta(returns, result.benchmark_returns, window)
        axes[1].plot(beta.index, beta, color=PALETTE[4], lw=1.6)
        axes[1].axhline(1.0, color="black", lw=0.8, alpha=0.5)
        axes[1].set_ylabel("Beta", fontsize=12)
        style_axes(axes[1])
        _date_axis(axes[1])
    axes[0].axhline(0.0, color="black", lw=0.8, alpha=0.5)
    axes[0].set_ylabel("Sharpe", fontsize=12)
    months = round(window / 21)
    _finish(axes[0], f"Rolling {months}-month Sharpe" + (" and beta" if has_bench else ""))
    return fig


def monthly_heatmap_figure(result: BacktestResult) -> Figure:
    """Monthly returns, years × months, each cell annotated in percent."""
    table = monthly_table(result.returns)
    n_years = len(table)
    fig = new_figure((8.0, max(2.4, 1.2 + 0.42 * n_years)))
    ax = fig.add_subplot()
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.nanpercentile(np.abs(finite), 95)) if finite.size else 0.05
    limit = max(limit, 0.01)
    image = ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    font = 10 if n_years <= 12 else 8
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            shade = abs(value) > 0.7 * limit
            label = f"{value * 100:.1f}".replace("-0.0", "0.0")
            ax.text(
                col,
                row,
                label,
                ha="center",
                va="center",
                fontsize=font,
                color="white" if shade else "black",
            )
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(n_years), [str(y) for y in table.index])
    ax.tick_params(labelsize=11, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("Monthly returns (%)", fontsize=14, loc="left")
    return fig


def weights_figure(result: BacktestResult, *, top: int = 10) -> Figure:
    """Weights held over time as a stacked area: the ``top`` largest on average, then Other."""
    weights = result.weights
    order = weights.mean().sort_values(ascending=False).index
    shown = weights[order[:top]]
    layers = {str(c): shown[c] for c in shown.columns}
    if len(order) > top:
        layers["Other"] = weights[order[top:]].sum(axis=1)
    if float(result.cash.max()) > 0.005:
        layers["Cash"] = result.cash
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(shown.columns))]
    colors += ["#d1d5db", "#f3f4f6"][: len(layers) - len(colors)]
    fig = new_figure((8.0, 5.5))
    ax = fig.add_subplot()
    ax.stackplot(weights.index, *layers.values(), labels=list(layers), colors=colors, lw=0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(weights.index[0], weights.index[-1])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    style_axes(ax)
    _date_axis(ax)
    ax.set_title("Weights over time", fontsize=14, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10, frameon=False)
    return fig


def render_backtest_charts(
    result: BacktestResult,
    *,
    log_scale: bool = False,
    window: int = 126,
    risk_free_rate: float = 0.0,
) -> dict[str, bytes]:
    """Every backtest chart as PNG bytes.

    Returns
    -------
    dict of str to bytes
        Keys ``equity``, ``drawdown``, ``rolling``, ``monthly_returns``, ``weights``.
    """
    figures = {
        "equity": equity_figure(result, log_scale=log_scale),
        "drawdown": drawdown_figure(result),
        "rolling": rolling_figure(result, window=window, risk_free_rate=risk_free_rate),
        "monthly_returns": monthly_heatmap_figure(result),
        "weights": weights_figure(result),
    }
    return {name: figure_to_png(fig) for name, fig in figures.items()}


def _date_axis(ax: object) -> None:
    locator = AutoDateLocator(minticks=4, maxticks=8)  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(formatter)  # type: ignore[attr-defined]


def _finish(ax: object, title: str, *, legend_loc: str = "upper left") -> None:
    style_axes(ax)
    _date_axis(ax)
    ax.set_title(title, fontsize=14, loc="left")  # type: ignore[attr-defined]
    ax.legend(fontsize=11, frameon=True, framealpha=0.9, loc=legend_loc)  # type: ignore[attr-defined]


def _annotate_last(ax: object, series: pd.Series, color: str, *, growth: bool = False) -> None:
    last = float(series.iloc[-1])
    ax.annotate(  # type: ignore[attr-defined]
        f"{last - 1:+.1%}" if growth else f"{last:.2f}×",
        xy=(series.index[-1], series.iloc[-1]),
        xytext=(4, 0),
        textcoords="offset points",
        color=color,
        fontsize=11,
        va="center",
    )


def tracking_chart(report: TrackingReport, *, title: str = "Since you built it") -> bytes:
    """PNG: a stored portfolio's growth against the benchmark since it was built."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(report.growth.index, report.growth, color=STRATEGY_COLOR, lw=2, label="Portfolio")
    ax.plot(
        report.benchmark_growth.index,
        report.benchmark_growth,
        color=BENCHMARK_COLOR,
        lw=1.6,
        label="S&P 500",
    )
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v - 1:+.0%}"))
    ax.axhline(1.0, color="black", lw=0.8, alpha=0.5)
    _finish(ax, title)
    _annotate_last(ax, report.growth, STRATEGY_COLOR, growth=True)
    _annotate_last(ax, report.benchmark_growth, BENCHMARK_COLOR, growth=True)
    return figure_to_png(fig)
