"""The efficient-frontier chart: the capped frontier, each candidate, the portfolio, the S&P 500.

The frontier is computed under the profile's cap on each stock, so its title and legend say
so ("each stock ≤ 25%"). The S&P 500 is placed with :func:`index_point`: the same returns and
covariance models over the same look-back window as the stocks, so the points compare.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.text import Text

from smallq.charts.layout import Layout, fixed_figure, tick_labels
from smallq.charts.style import (
    DARK,
    LOSS,
    PALETTE,
    SMALL_SIZE,
    TEXT_SIZE,
    figure_to_png,
    money,
    percent,
    percent_axis,
    style_axes,
)
from smallq.errors import SmallQError
from smallq.forecast import covariance, expected_returns
from smallq.models import Report
from smallq.params import DEFAULT_PARAMS, EngineParams

#: candidates labelled on the chart, best ranked first; the rest are unlabelled dots
MAX_LABELS: int = 12
#: label offsets (points) tried in turn; a label is dropped when none is free
_OFFSETS: tuple[tuple[int, int], ...] = ((5, 3), (5, -11), (-5, 3), (-5, -11))
INDEX_NAME: str = "S&P 500"


def index_point(
    levels: pd.Series, report: Report, *, params: EngineParams = DEFAULT_PARAMS
) -> tuple[float, float] | None:
    """The index's (annual expected return, annual volatility) as the report's models see it.

    Parameters
    ----------
    levels : Series of shape (n_days,)
        Index levels by date (``PriceSource.fetch_benchmark``), covering the report's
        look-back window up to ``report.as_of``.
    report : Report
        The built portfolio; its look-back length and returns and covariance models are used.
    params : EngineParams, default=DEFAULT_PARAMS
        ``periods_per_year`` and ``ema_span_days``.

    Returns
    -------
    tuple of (float, float) or None
        Fractions per year; ``None`` when the levels are too short for the models.
    """
    window = levels.dropna().loc[: pd.Timestamp(report.as_of)]
    window = window.iloc[-(report.profile.lookback_days + 1) :]
    frame = window.to_frame(INDEX_NAME)
    try:
        mu = expected_returns(
            frame,
            report.settings.returns_model,
            benchmark=window,
            risk_free_rate=report.settings.risk_free_rate,
            periods_per_year=params.periods_per_year,
            span=params.ema_span_days,
        )
        cov = covariance(
            frame,
            report.settings.cov_model,
            periods_per_year=params.periods_per_year,
            span=params.ema_span_days,
        )
    except SmallQError:
        return None
    return float(mu.iloc[0]), float(np.sqrt(cov.iloc[0, 0]))


def index_window_start(report: Report) -> date:
    """A first date to fetch index levels from so that :func:`index_point` has its window."""
    days = int(report.profile.lookback_days * 1.5) + 14  # trading to calendar days
    return report.as_of - timedelta(days=days)


def _asset_points(report: Report) -> pd.DataFrame:
    """Annual (volatility, expected_return) of every candidate in ``mu`` and ``cov``."""
    tickers = [t for t in report.mu.index if t in report.cov.index]
    return pd.DataFrame(
        {
            "volatility": np.sqrt(np.diag(report.cov.loc[tickers, tickers].to_numpy(float))),
            "expected_return": report.mu.loc[tickers].to_numpy(float),
        },
        index=tickers,
    )


def _label_points(layout: Layout, ax: Axes, points: pd.DataFrame, order: list[str]) -> None:
    """Label up to MAX_LABELS points in ``order``, dropping labels that would overlap.

    The Axes are placed already (a fixed layout), so the labels' boxes are measured as
    they will be drawn, without drawing the figure first.
    """
    renderer = layout.renderer
    frame = ax.get_window_extent(renderer)
    taken = [t.get_window_extent(renderer) for t in ax.texts]
    shown = 0
    for ticker in order[: 2 * MAX_LABELS]:
        if shown >= MAX_LABELS:
            break
        xy = (float(points.at[ticker, "volatility"]), float(points.at[ticker, "expected_return"]))
        for dx, dy in _OFFSETS:
            label: Text = ax.annotate(
                ticker,
                xy,
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=SMALL_SIZE,
                ha="right" if dx < 0 else "left",
                color=DARK,
            )
            box = label.get_window_extent(renderer)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                shown += 1
                break
            label.remove()


def _draw_points(ax: Axes, points: pd.DataFrame, held: list[str]) -> None:
    others = [t for t in points.index if t not in held]
    for group, color, label in ((held, PALETTE[0], "Stocks held"), (others, "#9ca3af", "Not held")):
        if group:
            rows = points.loc[group]
            ax.scatter(
                rows["volatility"],
                rows["expected_return"],
                s=36,
                color=color,
                label=label,
                zorder=3,
            )


def _draw_index(ax: Axes, index_return: float, index_volatility: float) -> None:
    ax.scatter(
        [index_volatility],
        [index_return],
        marker="D",
        s=90,
        color=DARK,
        edgecolor="white",
        zorder=5,
        label=INDEX_NAME,
    )
    ax.annotate(
        INDEX_NAME,
        (index_volatility, index_return),
        xytext=(7, -4),
        textcoords="offset points",
        fontsize=SMALL_SIZE,
        fontweight="bold",
        color=DARK,
        va="top",
    )


def frontier_chart(
    report: Report,
    *,
    index_return: float | None = None,
    index_volatility: float | None = None,
    max_weight: float | None = None,
) -> bytes:
    """Capped efficient frontier, each candidate, the portfolio (star) and the S&P 500.

    Parameters
    ----------
    report : Report
        The built portfolio.
    index_return, index_volatility : float, optional
        The S&P 500's annual expected return and volatility (fractions), from
        :func:`index_point`; the index is marked only when both are given.
    max_weight : float, optional
        The cap on each stock under which the frontier was computed; defaults to
        ``report.settings.max_weight``.

    Returns
    -------
    bytes
        A PNG.
    """
    cap = report.settings.max_weight if max_weight is None else max_weight
    cap_text = f"each stock ≤ {percent(cap, decimals=0)}"
    points = _asset_points(report)
    fig = fixed_figure()
    ax = fig.add_subplot()
    frontier = report.frontier
    if frontier is not None and not frontier.empty:
        curve = frontier.sort_values("volatility")
        ax.plot(
            curve["volatility"],
            curve["expected_return"],
            lw=2.5,
            color=PALETTE[0],
            label=f"Best mixes, {cap_text}",
        )
    bought = report.allocation.shares.index
    held = [t for t in bought if t in points.index]
    _draw_points(ax, points, held)
    if index_return is not None and index_volatility is not None:
        _draw_index(ax, index_return, index_volatility)
    opt = report.metrics  # what was bought, with its cash, as every other figure
    ax.scatter(
        [opt.volatility],
        [opt.expected_return],
        marker="*",
        s=380,
        color=LOSS,
        edgecolor="white",
        zorder=6,
        label="Your portfolio",
    )
    percent_axis(ax.xaxis)
    percent_axis(ax.yaxis)
    ax.set_xlabel("Risk: volatility per year", fontsize=TEXT_SIZE)
    ax.set_ylabel("Expected return per year", fontsize=TEXT_SIZE)
    ax.margins(0.08)
    style_axes(ax)
    capital = report.allocation.capital
    title = "Efficient frontier" if report.frontier is not None else "Risk and return"
    layout = Layout(fig)
    layout.heading(
        f"{title}\n(capped: {cap_text})",
        f"Your portfolio: {percent(opt.expected_return, signed=True)} a year expected\n"
        f"(≈ {money(capital * opt.expected_return, signed=True, significant=3)} on "
        f"{money(capital)}), volatility {percent(opt.volatility)}",
    )
    layout.legend(fontsize=SMALL_SIZE, ncols=2)
    x_labels = tick_labels(ax.xaxis)
    layout.place(
        ax,
        left=layout.label_room() + layout.tick_width(tick_labels(ax.yaxis)),
        bottom=layout.tick_height() + layout.label_room(),
        right=layout.tick_width(x_labels[-1:]) / 2,  # the last x tick label's right half
    )
    _label_points(layout, ax, points, held + [t for t in points.index if t not in held])
    return figure_to_png(fig)
