"""Stress-test and Monte Carlo charts of a report, in dollars of the user's capital."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from smallq.charts.bars import BarRow, draw_bar_list
from smallq.charts.style import (
    DARK,
    GAIN,
    LOSS,
    MUTED,
    PALETTE,
    SMALL_SIZE,
    figure_to_png,
    headline,
    money,
    money_axis,
    new_figure,
    percent,
    style_axes,
)
from smallq.models import MonteCarloResult, Report, ScenarioResult
from smallq.params import DEFAULT_PARAMS
from smallq.types import MonteCarloMethod

#: scenarios shown: every historical and market one, then the worst sector shocks
MAX_SCENARIOS: int = 12
_ESTIMATED_LOSS = "#f87171"


def shown_scenarios(scenarios: tuple[ScenarioResult, ...]) -> list[ScenarioResult]:
    """Every historical and market scenario, then the worst sector shocks up to MAX_SCENARIOS."""
    sector = [s for s in scenarios if s.kind == "hypothetical" and not s.name.startswith("Market")]
    first = [s for s in scenarios if s not in sector]
    room = max(MAX_SCENARIOS - len(first), 0)
    return first + sorted(sector, key=lambda s: s.portfolio_return)[:room]


def _scenario_row(s: ScenarioResult, capital: float) -> BarRow:
    color = GAIN if s.portfolio_return >= 0 else LOSS
    note = ""
    if s.benchmark_return is not None and s.kind == "historical":
        note = f"S&P 500 {percent(s.benchmark_return, decimals=0)}"
    return BarRow(
        label=f"{s.name} (est.)" if s.estimated else s.name,
        length=abs(s.portfolio_return),
        text=f"{money(capital * s.portfolio_return, signed=True)} "
        f"({percent(s.portfolio_return, decimals=0, signed=True)})",
        color=_ESTIMATED_LOSS if s.estimated and s.portfolio_return < 0 else color,
        hatch="//" if s.estimated else "",
        note=note,
    )


def stress_chart(report: Report) -> bytes:
    """What each crash or shock would do to the capital: dollars and percent per scenario."""
    shown = shown_scenarios(report.stress.scenarios)
    if not shown:
        return message_chart("Stress tests", "No stress scenarios available.")
    capital = report.allocation.capital
    fig = new_figure()
    ax = fig.add_subplot()
    draw_bar_list(ax, [_scenario_row(s, capital) for s in shown])
    worst = min(shown, key=lambda s: s.portfolio_return)
    headline(
        fig,
        ax,
        f"Stress tests on {money(capital)}",
        f"Worst: {money(capital * worst.portfolio_return, signed=True)} in\n{worst.name}",
    )
    if any(s.estimated for s in shown):
        fig.legend(
            handles=[
                Patch(
                    facecolor=_ESTIMATED_LOSS,
                    hatch="//",
                    edgecolor="white",
                    label="est. = estimated from beta × the index",
                )
            ],
            fontsize=SMALL_SIZE,
            loc="outside lower left",
            frameon=False,
        )
    return figure_to_png(fig)


def message_chart(title: str, message: str) -> bytes:
    """A chart that only says why there is nothing to draw."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_axis_off()
    headline(fig, ax, title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, wrap=True)
    return figure_to_png(fig)


# --------------------------------------------------------------------------- Monte Carlo
def chosen_simulation(report: Report) -> MonteCarloResult | None:
    """The bootstrap simulation when there is one, else the first."""
    results = report.stress.monte_carlo
    for result in results:
        if result.method is MonteCarloMethod.BOOTSTRAP:
            return result
    return results[0] if results else None


def horizon_text(horizon_days: int, periods_per_year: int = DEFAULT_PARAMS.periods_per_year) -> str:
    """``"next 12 months"`` for 252 trading days; days when under a month."""
    months = round(horizon_days * 12 / periods_per_year)
    if months < 1:
        return f"next {horizon_days} trading days"
    return "next month" if months == 1 else f"next {months} months"


def _band(fan: pd.DataFrame, q: float) -> pd.Series:
    column = min(fan.columns, key=lambda c: abs(float(c) - q))
    return fan[column]


def _draw_fan(ax: Axes, fan: pd.DataFrame, capital: float, months: np.ndarray) -> None:
    for low, high, alpha, label in (
        (0.05, 0.95, 0.18, "9 in 10 paths"),
        (0.25, 0.75, 0.38, "middle half"),
    ):
        ax.fill_between(
            months,
            capital * _band(fan, low),
            capital * _band(fan, high),
            color=PALETTE[0],
            alpha=alpha,
            lw=0,
            label=label,
        )
    ax.plot(months, capital * _band(fan, 0.5), color=PALETTE[0], lw=2.5, label="Median")
    ax.axhline(capital, color=DARK, lw=1.0, ls="--", label=f"Today's {money(capital)}")
    for q, color in ((0.95, GAIN), (0.5, PALETTE[0]), (0.05, LOSS)):
        end = capital * float(_band(fan, q).iloc[-1])
        ax.annotate(
            money(end, significant=3),
            (months[-1], end),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=SMALL_SIZE,
            fontweight="bold",
            color=color,
        )
    ax.set_xlim(0.0, months[-1] * 1.32)
    ticks = MaxNLocator(5, steps=[1, 2, 3, 6, 10]).tick_values(0.0, float(months[-1]))
    ax.set_xticks([t for t in ticks if 0.0 <= t <= months[-1] + 1e-9])


def monte_carlo_chart(report: Report) -> bytes:
    """Fan of simulated portfolio value in dollars over the horizon (bootstrap if present)."""
    result = chosen_simulation(report)
    if result is None or result.fan.empty:
        return message_chart("Monte Carlo", "No simulation available.")
    capital = report.allocation.capital
    periods = DEFAULT_PARAMS.periods_per_year
    months = result.fan.index.to_numpy(dtype=float) * 12.0 / periods
    fig = new_figure()
    ax = fig.add_subplot()
    _draw_fan(ax, result.fan, capital, months)
    ax.yaxis.set_major_formatter(money_axis())
    ax.set_xlabel(
        f"Months from today · {result.n_paths:,} simulated paths ({result.method.value})",
        fontsize=SMALL_SIZE,
        color=MUTED,
    )
    style_axes(ax)
    low = capital * float(_band(result.fan, 0.05).iloc[-1])
    loss = result.loss_probabilities.get(0.0)
    lines = [f"1 in 20 paths end below {money(low, significant=3)}"]
    if loss is not None:
        lines.append(f"{percent(loss, decimals=0)} chance of ending below {money(capital)}")
    headline(
        fig, ax, f"{money(capital)} over the\n{horizon_text(result.horizon_days)}", "\n".join(lines)
    )
    fig.legend(fontsize=SMALL_SIZE, loc="outside lower center", ncols=2, frameon=False)
    return figure_to_png(fig)
