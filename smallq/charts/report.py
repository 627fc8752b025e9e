"""Charts of a portfolio :class:`~smallq.models.Report`, as PNG bytes sized for a phone.

Every function only reads the report and draws on a :class:`matplotlib.figure.Figure`
(never pyplot): large fonts, a title, percentage axes and at most :data:`MAX_ITEMS`
labelled items (the rest are grouped as "Other").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from smallq.charts.style import PALETTE, figure_to_png, new_figure, style_axes
from smallq.errors import UnknownSectorError
from smallq.models import MonteCarloResult, Report, ScenarioResult
from smallq.types import MonteCarloMethod, Sector

MAX_ITEMS: int = 12
TITLE_SIZE: int = 15
LABEL_SIZE: int = 12
_LOSS, _DARK = "#dc2626", "#111827"
_REPLAY, _ESTIMATED, _SHOCK = PALETTE[0], "#93c5fd", PALETTE[2]


# --------------------------------------------------------------------------- helpers
def _percent() -> PercentFormatter:
    """A fresh formatter per axis (formatters keep a reference to their axis)."""
    return PercentFormatter(1.0, decimals=None)


def _top(values: pd.Series, limit: int = MAX_ITEMS) -> pd.Series:
    """The largest ``limit - 1`` values plus their remainder as "Other" when there are more."""
    ordered = values.sort_values(ascending=False)
    if len(ordered) <= limit:
        return ordered
    head = ordered.iloc[: limit - 1]
    return pd.concat([head, pd.Series({"Other": ordered.iloc[limit - 1 :].sum()})])


def _holdings(report: Report) -> pd.Series:
    weights = report.weights.astype(float)
    return weights[weights > 0].sort_values(ascending=False)


def _sector_label(name: object) -> str:
    try:
        return Sector.parse(name).short
    except UnknownSectorError:
        return str(name)


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, fontsize=TITLE_SIZE, fontweight="bold", loc="left")


def _hbar(ax: Axes, values: pd.Series, title: str, color: str) -> None:
    """Horizontal bars, largest on top, each labelled with its percentage."""
    positions = np.arange(len(values))
    ax.barh(positions, values.to_numpy(), color=color, height=0.7)
    ax.set_yticks(positions, [str(i) for i in values.index], fontsize=LABEL_SIZE)
    ax.invert_yaxis()
    for y, value in zip(positions, values.to_numpy(), strict=True):
        ax.text(float(value), float(y), f" {value:.1%}", va="center", fontsize=11)
    ax.set_xlim(0, float(values.max()) * 1.3 if len(values) else 1.0)
    ax.xaxis.set_major_formatter(_percent())
    _title(ax, title)
    style_axes(ax)
    ax.grid(False, axis="y")


def _message_chart(title: str, message: str) -> bytes:
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_axis_off()
    _title(ax, title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=14, wrap=True)
    return figure_to_png(fig)


# --------------------------------------------------------------------------- charts
def allocation_chart(report: Report) -> bytes:
    """Two panels: weight by stock and weight by sector (horizontal bars)."""
    weights = _holdings(report)
    if weights.empty:
        return _message_chart("Allocation", "No holdings.")
    sectors = report.sectors.reindex(weights.index).fillna("Other").map(_sector_label)
    by_sector = weights.groupby(sectors).sum()
    fig = new_figure((9.0, max(5.0, 0.42 * min(len(weights), MAX_ITEMS) + 1.6)))
    left, right = fig.subplots(1, 2)
    _hbar(left, _top(weights), "By stock", PALETTE[0])
    _hbar(right, _top(by_sector), "By sector", PALETTE[1])
    fig.suptitle("Portfolio allocation", fontsize=TITLE_SIZE + 1, fontweight="bold")
    return figure_to_png(fig)


#: label offsets (points) tried in turn; a label is dropped when none is free
_OFFSETS: tuple[tuple[int, int], ...] = ((6, 4), (6, -14), (-8, 6), (-8, -14))


def _label_points(ax: Axes, points: pd.DataFrame, order: list[str]) -> None:
    """Label up to MAX_ITEMS points in ``order``, skipping labels that would overlap."""
    span_x = float(np.ptp(points["volatility"])) or 1.0
    span_y = float(np.ptp(points["expected_return"])) or 1.0
    taken: list[tuple[float, float, float, float]] = []  # boxes in axis-span units
    shown = 0
    for ticker in order:
        if shown >= MAX_ITEMS:
            break
        x = float(points.at[ticker, "volatility"]) / span_x
        y = float(points.at[ticker, "expected_return"]) / span_y
        width, height = 0.018 * len(ticker), 0.05
        for dx, dy in _OFFSETS:
            left = x + dx / 500 - (width if dx < 0 else 0.0)
            bottom = y + dy / 300
            box = (left, bottom, left + width, bottom + height)
            if all(box[2] < o[0] or box[0] > o[2] or box[3] < o[1] or box[1] > o[3] for o in taken):
                taken.append(box)
                ha = "right" if dx < 0 else "left"
                ax.annotate(
                    ticker,
                    (x * span_x, y * span_y),
                    xytext=(dx, dy),
                    textcoords="offset points",
                    fontsize=11,
                    ha=ha,
                )
                shown += 1
                break


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


def _draw_assets(ax: Axes, points: pd.DataFrame, held: list[str]) -> None:
    others = [t for t in points.index if t not in held]
    for group, color, label in ((held, PALETTE[0], "Held"), (others, "#9ca3af", "Not held")):
        if group:
            rows = points.loc[group]
            ax.scatter(
                rows["volatility"],
                rows["expected_return"],
                s=50,
                color=color,
                label=label,
                zorder=3,
            )
    _label_points(ax, points, held + others)


def frontier_chart(report: Report) -> bytes:
    """Efficient frontier, each candidate's (volatility, return) and the portfolio as a star."""
    points = _asset_points(report)
    fig = new_figure()
    ax = fig.add_subplot()
    frontier = report.frontier
    has_frontier = frontier is not None and not frontier.empty
    if frontier is not None and has_frontier:
        curve = frontier.sort_values("volatility")
        ax.plot(
            curve["volatility"],
            curve["expected_return"],
            lw=2.5,
            color=PALETTE[0],
            label="Efficient frontier",
        )
    _draw_assets(ax, points, [t for t in _holdings(report).index if t in points.index])
    opt = report.optimization
    ax.scatter(
        [opt.volatility],
        [opt.expected_return],
        marker="*",
        s=450,
        color=_LOSS,
        edgecolor="white",
        zorder=4,
        label="Your portfolio",
    )
    ax.xaxis.set_major_formatter(_percent())
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel("Volatility (per year)", fontsize=LABEL_SIZE)
    ax.set_ylabel("Expected return (per year)", fontsize=LABEL_SIZE)
    _title(ax, "Risk and return" + ("" if has_frontier else " (frontier unavailable)"))
    ax.legend(fontsize=11, loc="best")
    style_axes(ax)
    return figure_to_png(fig)


def risk_contribution_chart(report: Report) -> bytes:
    """Grouped bars per holding: its weight next to its share of portfolio risk."""
    weights = _holdings(report)
    if weights.empty:
        return _message_chart("Risk contribution", "No holdings.")
    contributions = report.metrics.risk_contributions.reindex(weights.index).fillna(0.0)
    shown = _top(weights)
    if "Other" in shown.index:
        rest = [t for t in weights.index if t not in shown.index]
        contributions = pd.concat(
            [contributions.loc[shown.index[:-1]], pd.Series({"Other": contributions[rest].sum()})]
        )
    frame = pd.DataFrame({"Weight": shown, "Risk": contributions.loc[shown.index]})
    fig = new_figure((8.0, max(5.0, 0.5 * len(frame) + 1.5)))
    ax = fig.add_subplot()
    positions = np.arange(len(frame))
    ax.barh(positions - 0.2, frame["Weight"], height=0.4, color=PALETTE[0], label="Weight")
    ax.barh(positions + 0.2, frame["Risk"], height=0.4, color=PALETTE[2], label="Share of risk")
    ax.set_yticks(positions, list(frame.index), fontsize=LABEL_SIZE)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_percent())
    ax.axvline(0, color=_DARK, lw=0.8)
    _title(ax, "Weight vs share of portfolio risk")
    fig.legend(fontsize=11, loc="outside lower center", ncols=2)
    style_axes(ax)
    ax.grid(False, axis="y")
    return figure_to_png(fig)


def _chosen_simulation(report: Report) -> MonteCarloResult | None:
    results = report.stress.monte_carlo
    for result in results:
        if result.method is MonteCarloMethod.BOOTSTRAP:
            return result
    return results[0] if results else None


def _band(fan: pd.DataFrame, q: float) -> pd.Series:
    column = min(fan.columns, key=lambda c: abs(float(c) - q))
    return fan[column] - 1.0


def _draw_fan(ax: Axes, fan: pd.DataFrame) -> None:
    days = fan.index.to_numpy()
    for low, high, alpha in ((0.05, 0.95, 0.18), (0.25, 0.75, 0.38)):
        ax.fill_between(
            days,
            _band(fan, low),
            _band(fan, high),
            color=PALETTE[0],
            alpha=alpha,
            label=f"{low:.0%}–{high:.0%} of paths",
        )
    ax.plot(days, _band(fan, 0.5), color=PALETTE[0], lw=2.5, label="Median")
    ax.axhline(0.0, color=_DARK, lw=0.9)
    for q in (0.05, 0.5, 0.95):
        end = float(_band(fan, q).iloc[-1])
        ax.annotate(
            f"{end:+.0%}",
            (days[-1], end),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=11,
        )
    ax.set_xlim(days[0], days[-1] * 1.1)


def monte_carlo_chart(report: Report) -> bytes:
    """Fan chart of simulated value (bootstrap if present): 5–95% and 25–75% bands, median."""
    result = _chosen_simulation(report)
    if result is None or result.fan.empty:
        return _message_chart("Monte Carlo", "No simulation available.")
    fig = new_figure()
    ax = fig.add_subplot()
    _draw_fan(ax, result.fan)
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel("Trading days ahead", fontsize=LABEL_SIZE)
    ax.set_ylabel("Change in value", fontsize=LABEL_SIZE)
    loss = result.loss_probabilities.get(0.0)
    chance = f" · {loss:.0%} chance of ending below today" if loss is not None else ""
    fig.suptitle(
        f"Simulated value over the next {result.horizon_days} trading days",
        fontsize=TITLE_SIZE,
        fontweight="bold",
        x=0.02,
        ha="left",
    )
    subtitle = f"{result.method.value} · {result.n_paths:,} paths{chance}"
    ax.set_title(subtitle, loc="left", fontsize=LABEL_SIZE)
    ax.legend(fontsize=11, loc="upper left")
    style_axes(ax)
    return figure_to_png(fig)


def _shown_scenarios(scenarios: tuple[ScenarioResult, ...]) -> list[ScenarioResult]:
    """Every historical and market scenario, then the worst sector shocks up to MAX_ITEMS."""
    sector = [s for s in scenarios if s.kind == "hypothetical" and not s.name.startswith("Market")]
    first = [s for s in scenarios if s not in sector]
    room = max(MAX_ITEMS - len(first), 0)
    return first + sorted(sector, key=lambda s: s.portfolio_return)[:room]


def _scenario_style(s: ScenarioResult) -> tuple[str, str, str]:
    """(label, color, hatch) of one scenario bar."""
    if s.estimated:
        return f"{s.name} (est.)", _ESTIMATED, "//"
    return s.name, (_REPLAY if s.kind == "historical" else _SHOCK), ""


def _stress_legend(fig: Figure, shown: list[ScenarioResult], has_bench: bool) -> None:
    kinds = {(s.kind, s.estimated) for s in shown}
    handles: list[Artist] = [
        Patch(facecolor=color, hatch=hatch, edgecolor="white", label=label)
        for key, color, hatch, label in (
            (("historical", False), _REPLAY, "", "Historical replay"),
            (("historical", True), _ESTIMATED, "//", "Estimated via beta"),
            (("hypothetical", False), _SHOCK, "", "Hypothetical shock"),
        )
        if key in kinds
    ]
    if has_bench:
        handles.append(Line2D([], [], marker="D", color=_DARK, ls="", label="S&P 500"))
    fig.legend(handles=handles, fontsize=11, loc="outside lower center", ncols=2)


def _draw_benchmark(ax: Axes, shown: list[ScenarioResult]) -> bool:
    """Mark the index's return in each historical window; False when there is none."""
    marks = [
        (y, s.benchmark_return)
        for y, s in enumerate(shown)
        if s.kind == "historical" and s.benchmark_return is not None
    ]
    if marks:
        ax.scatter(
            [b for _, b in marks], [y for y, _ in marks], marker="D", s=40, color=_DARK, zorder=3
        )
    return bool(marks)


def _value_column(ax: Axes, values: np.ndarray) -> None:
    """Each bar's value in a column right of the axes, red for losses, green for gains."""
    column = blended_transform_factory(ax.transAxes, ax.transData)
    for y, value in enumerate(values):
        ax.text(
            1.01,
            float(y),
            f"{value:+.1%}",
            transform=column,
            va="center",
            fontsize=LABEL_SIZE,
            fontweight="bold",
            color=_LOSS if value < 0 else PALETTE[1],
        )


def stress_chart(report: Report) -> bytes:
    """Horizontal bars of each scenario's return; beta-estimated ones are hatched ("est.")."""
    shown = _shown_scenarios(report.stress.scenarios)
    if not shown:
        return _message_chart("Stress tests", "No stress scenarios available.")
    fig = new_figure((8.5, max(5.0, 0.45 * len(shown) + 1.8)))
    ax = fig.add_subplot()
    positions = np.arange(len(shown))
    values = np.array([s.portfolio_return for s in shown])
    labels, colors, hatches = zip(*(_scenario_style(s) for s in shown), strict=True)
    ax.barh(positions, values, height=0.7, color=colors, hatch=hatches, edgecolor="white")
    has_bench = _draw_benchmark(ax, shown)
    _value_column(ax, values)
    ax.set_yticks(positions, labels, fontsize=LABEL_SIZE)
    ax.invert_yaxis()
    ax.axvline(0.0, color=_DARK, lw=0.9)
    ax.xaxis.set_major_formatter(_percent())
    ax.margins(x=0.08)
    _title(ax, "Stress tests: portfolio return")
    _stress_legend(fig, shown, has_bench)
    style_axes(ax)
    ax.grid(False, axis="y")
    return figure_to_png(fig)


CHARTS: dict[str, Callable[[Report], bytes]] = {
    "allocation": allocation_chart,
    "frontier": frontier_chart,
    "risk_contributions": risk_contribution_chart,
    "monte_carlo": monte_carlo_chart,
    "stress": stress_chart,
}


def render_report_charts(report: Report) -> dict[str, bytes]:
    """Every report chart as PNG bytes, keyed by name (see :data:`CHARTS`)."""
    return {name: draw(report) for name, draw in CHARTS.items()}
