"""Charts of a portfolio :class:`~smallq.models.Report`, as portrait PNG bytes for a phone.

Every function only reads the report and draws on a :class:`matplotlib.figure.Figure`
(never pyplot): portrait 3:4, large fonts, values in dollars of the user's capital, full
sector names, and at most :data:`MAX_ITEMS` rows (the rest are grouped as "Other").
The frontier lives in :mod:`smallq.charts.frontier`, stress and Monte Carlo in
:mod:`smallq.charts.stress`; :data:`CHARTS` and :func:`render_report_charts` draw them all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from smallq.charts.bars import BarRow, draw_bar_list
from smallq.charts.frontier import frontier_chart
from smallq.charts.layout import GAP_PT, Layout, fixed_figure
from smallq.charts.stress import message_chart, monte_carlo_chart, stress_chart
from smallq.charts.style import (
    MUTED,
    PALETTE,
    SMALL_SIZE,
    TEXT_SIZE,
    figure_to_png,
    money,
    percent,
)
from smallq.errors import UnknownSectorError
from smallq.models import Report
from smallq.types import Sector

MAX_ITEMS: int = 12
__all__ = [
    "CHARTS",
    "MAX_ITEMS",
    "allocation_chart",
    "frontier_chart",
    "monte_carlo_chart",
    "render_report_charts",
    "risk_contribution_chart",
    "stress_chart",
]


def _top(values: pd.Series, limit: int = MAX_ITEMS) -> pd.Series:
    """The largest ``limit - 1`` values plus their remainder as "Other" when there are more."""
    ordered = values.sort_values(ascending=False)
    if len(ordered) <= limit:
        return ordered
    head = ordered.iloc[: limit - 1]
    return pd.concat([head, pd.Series({"Other": ordered.iloc[limit - 1 :].sum()})])


def _holdings(report: Report) -> pd.Series:
    """Dollars put into each stock held, largest first."""
    amounts = report.allocation.amounts.astype(float)
    return amounts[amounts > 0].sort_values(ascending=False)


def sector_name(name: object) -> str:
    """The full sector name ("Information Technology"), as the bot's text writes it."""
    try:
        return Sector.parse(name).value
    except UnknownSectorError:
        return str(name)


def _money_rows(amounts: pd.Series, capital: float, color: str) -> list[BarRow]:
    return [
        BarRow(str(name), float(value), f"{money(value)} · {percent(value / capital)}", color)
        for name, value in amounts.items()
    ]


# --------------------------------------------------------------------------- charts
def allocation_chart(report: Report) -> bytes:
    """Dollars in each stock (top) and in each sector (bottom), with their shares."""
    amounts = _holdings(report)
    if amounts.empty:
        return message_chart("Allocation", "No holdings.")
    capital = report.allocation.capital
    sectors = report.sectors.reindex(amounts.index).fillna("Other").map(sector_name)
    by_sector = amounts.groupby(sectors).sum()
    stocks = _top(amounts)
    stock_rows = _money_rows(stocks, capital, PALETTE[0])
    cash = report.allocation.cash_left
    if cash >= 0.5:
        stock_rows.append(
            BarRow("Cash", cash, f"{money(cash)} · {percent(cash / capital)}", "#9ca3af")
        )
    sector_rows = _money_rows(_top(by_sector), capital, PALETTE[1])
    fig = fixed_figure()
    top, bottom = fig.add_subplot(), fig.add_subplot()
    draw_bar_list(top, stock_rows, labels_above=False)
    draw_bar_list(bottom, sector_rows)
    layout = Layout(fig)
    layout.heading(f"Where your {money(capital)} goes")
    titles = [layout.section_title(top, "By stock"), layout.section_title(bottom, "By sector")]
    layout.place_rows(
        [top, bottom],
        [0.62 * len(stock_rows) + 0.8, len(sector_rows) + 0.8],
        left=layout.tick_width([row.label for row in stock_rows], TEXT_SIZE),
        tops=[titles[0], titles[1] + GAP_PT],
    )
    return figure_to_png(fig)


def risk_contribution_chart(report: Report) -> bytes:
    """Per holding: its share of the money next to its share of the portfolio's risk."""
    bought = report.allocation.achieved_weights  # amount / capital, as the risk figures
    weights = bought[bought > 0].sort_values(ascending=False)
    if weights.empty:
        return message_chart("Risk contribution", "No holdings.")
    contributions = report.metrics.risk_contributions.reindex(weights.index).fillna(0.0)
    shown = _top(weights)
    if "Other" in shown.index:
        rest = [t for t in weights.index if t not in shown.index]
        contributions = pd.concat(
            [contributions.loc[shown.index[:-1]], pd.Series({"Other": contributions[rest].sum()})]
        )
    risk = contributions.loc[shown.index]
    fig = fixed_figure()
    ax = fig.add_subplot()
    positions = np.arange(len(shown))
    ax.barh(positions - 0.2, shown, height=0.4, color=PALETTE[0], label="Share of money")
    ax.barh(positions + 0.2, risk, height=0.4, color=PALETTE[2], label="Share of risk")
    for y, (w, r) in enumerate(zip(shown, risk, strict=True)):
        for offset, value in ((-0.2, w), (0.2, r)):
            ax.annotate(
                percent(value, decimals=0),
                (max(value, 0.0), y + offset),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=SMALL_SIZE,
            )
    ax.set_yticks(positions, [str(i) for i in shown.index], fontsize=SMALL_SIZE + 1)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_xlim(min(0.0, float(risk.min())), max(float(shown.max()), float(risk.max())) * 1.3)
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.axvline(0.0, color=MUTED, lw=0.8)
    top = risk.idxmax()
    layout = Layout(fig)
    layout.heading(
        "Where the risk comes from",
        f"{top}: {percent(float(shown[top]), decimals=0)} of the money,\n"
        f"{percent(float(risk[top]), decimals=0)} of the ups and downs",
    )
    layout.legend(fontsize=SMALL_SIZE, ncols=2, labelcolor=MUTED)
    layout.place(ax, left=layout.tick_width([str(i) for i in shown.index], SMALL_SIZE + 1))
    return figure_to_png(fig)


CHARTS: dict[str, Callable[[Report], bytes]] = {
    "allocation": allocation_chart,
    "frontier": frontier_chart,
    "risk_contributions": risk_contribution_chart,
    "monte_carlo": monte_carlo_chart,
    "stress": stress_chart,
}


def render_report_charts(
    report: Report,
    *,
    index_return: float | None = None,
    index_volatility: float | None = None,
) -> dict[str, bytes]:
    """Every report chart as PNG bytes, keyed by name (see :data:`CHARTS`).

    Parameters
    ----------
    report : Report
        The built portfolio.
    index_return, index_volatility : float, optional
        The S&P 500's annual expected return and volatility for the frontier chart (see
        :func:`smallq.charts.frontier.index_point`); without them the index is not marked.
    """
    charts = {name: draw(report) for name, draw in CHARTS.items() if name != "frontier"}
    charts["frontier"] = frontier_chart(
        report, index_return=index_return, index_volatility=index_volatility
    )
    return {name: charts[name] for name in CHARTS}
