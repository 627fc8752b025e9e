"""Charts show what was bought, as every other figure does.

With $600 the whole shares bought differ from the optimizer's targets (and leave cash);
the report's figures describe the bought portfolio with its cash (``report.metrics``), so
the chart's star and its headline ("+X% a year expected (≈ $Y on $capital)") must use the
same numbers, not the targets'.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from matplotlib.axes import Axes

from smallq.charts.frontier import frontier_chart
from smallq.charts.report import risk_contribution_chart
from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile


def test_the_star_is_the_bought_portfolio(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(sectors="tech,health", capital=600.0, as_of=date(2022, 12, 28))
    report = build_portfolio(
        profile,
        SampleSource(),
        today=date(2026, 1, 1),
        params=dataclasses.replace(DEFAULT_PARAMS, mc_paths=200),
    )
    bought = report.metrics
    assert abs(bought.expected_return - report.optimization.expected_return) > 0.005
    stars: list[tuple[float, float]] = []
    real_scatter = Axes.scatter

    def spy(self: Axes, x, y, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("label") == "Your portfolio":
            stars.append((float(x[0]), float(y[0])))
        return real_scatter(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", spy)
    frontier_chart(report)
    assert stars == [pytest.approx((bought.volatility, bought.expected_return), abs=1e-12)]


def test_the_risk_chart_compares_money_bought_with_risk(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Share of money" is amount / capital of the shares bought, beside their risk shares."""
    profile = make_profile(sectors="tech,health", capital=600.0, as_of=date(2022, 12, 28))
    report = build_portfolio(
        profile,
        SampleSource(),
        today=date(2026, 1, 1),
        params=dataclasses.replace(DEFAULT_PARAMS, mc_paths=200),
    )
    bars: dict[str, list[float]] = {}
    real_barh = Axes.barh

    def spy(self: Axes, y, width, *args, **kwargs):  # type: ignore[no-untyped-def]
        bars[kwargs.get("label", "")] = [float(v) for v in width]
        return real_barh(self, y, width, *args, **kwargs)

    monkeypatch.setattr(Axes, "barh", spy)
    risk_contribution_chart(report)
    bought = report.allocation.achieved_weights
    bought = bought[bought > 0].sort_values(ascending=False)
    assert bars["Share of money"] == pytest.approx(list(bought), abs=1e-12)
    risk = report.metrics.risk_contributions.reindex(bought.index)
    assert bars["Share of risk"] == pytest.approx(list(risk), abs=1e-12)
