"""Backtest charts in dollars: equity, drawdown, rolling Sharpe and beta, monthly heatmap, weights.

Each ``*_figure`` function returns a portrait matplotlib ``Figure`` (never pyplot);
:func:`render_backtest_charts` renders all of them to PNG bytes. Money charts start from
the backtest's capital, or from :data:`DEFAULT_CAPITAL` ($10,000) when it had none.
"""

from __future__ import annotations

from textwrap import fill

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from smallq.backtest import BacktestResult
from smallq.charts.style import (
    DARK,
    LOSS,
    PALETTE,
    SMALL_SIZE,
    figure_to_png,
    headline,
    money,
    money_axis,
    new_figure,
    percent,
    percent_axis,
    style_axes,
)
from smallq.measures import drawdown
from smallq.performance import TrackingReport, monthly_table, rolling_beta, rolling_sharpe

STRATEGY_COLOR, BENCHMARK_COLOR = PALETTE[0], "#6b7280"
BENCHMARK_NAME = "S&P 500"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: starting dollars drawn when a backtest ran without a capital (growth of one unit)
DEFAULT_CAPITAL: float = 10_000.0
#: the heatmap shows at most this many (most recent) years so that its cells stay legible
HEATMAP_YEARS: int = 10


def start_capital(result: BacktestResult) -> float:
    """The dollars the charts start from: the backtest's capital or :data:`DEFAULT_CAPITAL`."""
    return result.capital if result.capital else DEFAULT_CAPITAL


def _span(index: pd.Index) -> str:
    return f"{index[0]:%b %Y} – {index[-1]:%b %Y}"


def equity_figure(result: BacktestResult, *, log_scale: bool = False) -> Figure:
    """Dollars over time for the strategy and the S&P 500 ("$10,000 → $61,700")."""
    capital = start_capital(result)
    value = result.equity * capital
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(value.index, value, color=STRATEGY_COLOR, lw=2.2, label="Strategy")
    subtitle = f"Strategy, {_span(value.index)}"
    if result.benchmark_equity is not None:
        bench = result.benchmark_equity * capital
        ax.plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.6, label=BENCHMARK_NAME)
        subtitle += f"\n{BENCHMARK_NAME}: {money(capital)} → {_end_money(bench)}"
    if log_scale:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(money_axis())
    ax.axhline(capital, color=DARK, lw=0.8, alpha=0.5)
    _finish(fig, ax, f"{money(capital)} → {_end_money(value)}", subtitle)
    return fig


def drawdown_figure(result: BacktestResult) -> Figure:
    """Fall from the running peak, strategy (filled) and S&P 500 (line), worst in dollars."""
    capital = start_capital(result)
    strategy = -drawdown(result.equity.pct_change().fillna(0.0))
    fig = new_figure()
    ax = fig.add_subplot()
    if result.benchmark_equity is not None:
        bench = -drawdown(result.benchmark_equity.pct_change().fillna(0.0))
        ax.plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.0, alpha=0.9, label=BENCHMARK_NAME)
    ax.fill_between(strategy.index, strategy, 0.0, color=LOSS, alpha=0.25, lw=0)
    ax.plot(strategy.index, strategy, color=LOSS, lw=1.4, label="Strategy")
    percent_axis(ax.yaxis)
    ax.set_ylim(top=0.0)
    trough = strategy.idxmin()
    peak_value = float(result.equity.loc[:trough].max()) * capital
    lost = peak_value * float(strategy.loc[trough])
    _finish(
        fig,
        ax,
        f"Worst fall: {percent(float(strategy.min()), decimals=0)}",
        f"{money(lost, significant=3)} from a peak of {money(peak_value, significant=3)},\n"
        f"bottom in {trough:%b %Y}",
    )
    return fig


def rolling_figure(
    result: BacktestResult, *, window: int = 126, risk_free_rate: float = 0.0
) -> Figure:
    """Rolling Sharpe ratio (and rolling beta to the S&P 500 when there is one), stacked."""
    has_bench = result.benchmark_returns is not None
    fig = new_figure()
    axes = fig.subplots(2 if has_bench else 1, 1, sharex=True, squeeze=False)[:, 0]
    returns = result.returns
    sharpe = rolling_sharpe(returns, window, risk_free_rate)
    axes[0].plot(sharpe.index, sharpe, color=STRATEGY_COLOR, lw=1.6, label="Strategy")
    if result.benchmark_returns is not None:
        bench = rolling_sharpe(result.benchmark_returns, window, risk_free_rate)
        axes[0].plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.2, label=BENCHMARK_NAME)
        beta = rolling_beta(returns, result.benchmark_returns, window)
        axes[1].plot(beta.index, beta, color=PALETTE[4], lw=1.6)
        axes[1].axhline(1.0, color=DARK, lw=0.8, alpha=0.5)
        axes[1].set_ylabel("Beta to the S&P 500", fontsize=SMALL_SIZE)
        style_axes(axes[1])
        _date_axis(axes[1])
    axes[0].axhline(0.0, color=DARK, lw=0.8, alpha=0.5)
    axes[0].set_ylabel("Sharpe ratio", fontsize=SMALL_SIZE)
    months = round(window / 21)
    _finish(
        fig,
        axes[0],
        f"Rolling {months}-month Sharpe" + ("\nand beta" if has_bench else ""),
        f"Return per unit of risk over each\npast {months} months (above 0: beat cash)",
    )
    return fig


def _cell_text(value: float, decimals: int) -> str:
    return percent(value, decimals=decimals).rstrip("%")


def monthly_heatmap_figure(result: BacktestResult) -> Figure:
    """Monthly returns in percent: months down, the last :data:`HEATMAP_YEARS` years across."""
    table = monthly_table(result.returns).iloc[-HEATMAP_YEARS:].T  # (12, n_years)
    n_years = table.shape[1]
    fig = new_figure()
    ax = fig.add_subplot()
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.nanpercentile(np.abs(finite), 95)) if finite.size else 0.05
    limit = max(limit, 0.01)
    ax.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    decimals = 1 if n_years <= 6 else 0
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            shade = abs(value) > 0.7 * limit
            ax.text(
                col,
                row,
                _cell_text(value, decimals),
                ha="center",
                va="center",
                fontsize=SMALL_SIZE,
                color="white" if shade else DARK,
            )
    ax.set_yticks(range(12), MONTHS)
    ax.set_xticks(
        range(n_years), [f"'{y % 100:02d}" if n_years > 6 else str(y) for y in table.columns]
    )
    ax.xaxis.tick_top()
    ax.tick_params(labelsize=SMALL_SIZE, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    years = monthly_table(result.returns)
    shown = "" if len(years) <= HEATMAP_YEARS else f", last {HEATMAP_YEARS} of {len(years)} years"
    headline(fig, ax, "Monthly returns (%)", f"Green: gains, red: losses{shown}")
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
    fig = new_figure()
    ax = fig.add_subplot()
    ax.stackplot(weights.index, *layers.values(), labels=list(layers), colors=colors, lw=0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(weights.index[0], weights.index[-1])
    percent_axis(ax.yaxis)
    style_axes(ax)
    _date_axis(ax)
    headline(fig, ax, "What it held", f"Share of the money, {_span(weights.index)}")
    fig.legend(
        loc="outside lower center",
        ncols=4,
        fontsize=SMALL_SIZE,
        frameon=False,
        columnspacing=1.0,
        handlelength=1.2,
    )
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


def _date_axis(ax: Axes) -> None:
    locator = AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


def _finish(fig: Figure, ax: Axes, title: str, subtitle: str) -> None:
    style_axes(ax)
    _date_axis(ax)
    headline(fig, ax, title, subtitle)
    fig.legend(fontsize=SMALL_SIZE, loc="outside lower center", ncols=2, frameon=False)


def _end_money(series: pd.Series) -> str:
    return money(float(series.iloc[-1]), significant=3)


def tracking_chart(
    report: TrackingReport,
    *,
    title: str = "Since you built it",
    start_value: float | None = None,
) -> bytes:
    """PNG: a stored portfolio's growth against the S&P 500 since it was built.

    Parameters
    ----------
    report : TrackingReport
        Growth of the portfolio and of the index since the build date.
    title : str, default="Since you built it"
        First line of the chart's title.
    start_value : float, optional
        The portfolio's value on the build date (shares plus cash). With it the lines are in
        dollars ("$10,000 → $11,200"); without, in percent change.
    """
    scale = 1.0 if start_value is None else start_value
    growth, bench = report.growth * scale, report.benchmark_growth * scale
    if start_value is None:
        growth, bench = growth - 1.0, bench - 1.0
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(growth.index, growth, color=STRATEGY_COLOR, lw=2.2, label="Your portfolio")
    ax.plot(bench.index, bench, color=BENCHMARK_COLOR, lw=1.6, label=BENCHMARK_NAME)
    ax.axhline(0.0 if start_value is None else scale, color=DARK, lw=0.8, alpha=0.5)
    if start_value is None:
        percent_axis(ax.yaxis, signed=True)
        ends = [percent(float(s.iloc[-1]), signed=True) for s in (growth, bench)]
    else:
        ax.yaxis.set_major_formatter(money_axis())
        ends = [_end_money(s) for s in (growth, bench)]
    start = money(scale) + " → " if start_value is not None else ""
    _finish(
        fig,
        ax,
        f"{fill(title + ':', 30)}\n{start}{ends[0]}",
        f"{BENCHMARK_NAME} over the same days: {ends[1]}\n{_span(growth.index)}",
    )
    return figure_to_png(fig)
