"""Report charts: valid PNGs from a hand-built Report, no pyplot, phone-sized, grouped labels."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smallq.charts import report as charts
from smallq.charts import stress as stress_charts
from smallq.models import (
    Allocation,
    MonteCarloResult,
    OptimizationResult,
    Profile,
    Ranking,
    Report,
    RiskMetrics,
    ScenarioResult,
    Settings,
    StressReport,
)
from smallq.types import CovModel, MonteCarloMethod, Objective, ReturnsModel, Sector, Strategy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTORS = [Sector.INFORMATION_TECHNOLOGY, Sector.HEALTH_CARE, Sector.ENERGY, Sector.FINANCIALS]


def _fan(days: int = 20) -> pd.DataFrame:
    t = np.arange(days + 1)[:, None]
    z = np.array([-1.645, -0.674, 0.0, 0.674, 1.645])[None, :]
    values = np.exp(0.0003 * t + 0.01 * np.sqrt(t) * z)
    return pd.DataFrame(values, columns=[0.05, 0.25, 0.5, 0.75, 0.95])


def _scenarios() -> tuple[ScenarioResult, ...]:
    historical = [
        ScenarioResult(
            "Global financial crisis 2008",
            "historical",
            -0.42,
            -0.57,
            True,
            date(2007, 10, 9),
            date(2009, 3, 9),
            "Estimated: ...",
        ),
        ScenarioResult(
            "COVID crash 2020",
            "historical",
            -0.30,
            -0.34,
            False,
            date(2020, 2, 19),
            date(2020, 3, 23),
        ),
        ScenarioResult("2022 bear market", "historical", 0.05, -0.25, False),
    ]
    market = [
        ScenarioResult(f"Market {x:.0%}", "hypothetical", 1.1 * x, x, False)
        for x in (-0.1, -0.2, -0.3)
    ]
    sector = [
        ScenarioResult(f"Sector {i} -30%", "hypothetical", -0.3 * w, None, False)
        for i, w in enumerate(np.linspace(0.05, 0.4, 9))
    ]
    return (*historical, *market, *sector)


def make_report(n_assets: int = 15, *, frontier: bool = True) -> Report:
    """A small but complete Report built directly from the value objects."""
    tickers = [f"T{i:02d}" for i in range(n_assets)]
    rng = np.random.default_rng(0)
    weights = pd.Series(rng.dirichlet(np.ones(n_assets)), index=tickers)
    weights.iloc[-1] = 0.0  # one candidate not held
    weights /= weights.sum()
    a = rng.normal(size=(n_assets, n_assets)) * 0.1
    cov = pd.DataFrame(a @ a.T + np.eye(n_assets) * 0.02, index=tickers, columns=tickers)
    mu = pd.Series(rng.uniform(0.02, 0.2, n_assets), index=tickers)
    w = weights.to_numpy()
    vol = float(np.sqrt(w @ cov.to_numpy() @ w))
    contributions = weights * (cov @ weights) / vol**2
    prices = pd.Series(rng.uniform(20, 400, n_assets), index=tickers)
    amounts = weights * 10_000
    curve = None
    if frontier:
        vols = np.linspace(0.14, 0.4, 10)
        curve = pd.DataFrame({"volatility": vols, "expected_return": 0.05 + 0.4 * (vols - 0.14)})
    sectors = pd.Series([SECTORS[i % 4].value for i in range(n_assets)], index=tickers)
    mc = MonteCarloResult(
        MonteCarloMethod.BOOTSTRAP,
        1000,
        20,
        0.01,
        {0.05: -0.05, 0.5: 0.01},
        {0.0: 0.4, 0.1: 0.05, 0.2: 0.0, 0.3: 0.0},
        _fan(),
    )
    return Report(
        as_of=date(2022, 12, 28),
        profile=Profile(sectors=tuple(SECTORS), capital=10_000.0),
        settings=Settings(
            Objective.MAX_SHARPE, ReturnsModel.MEAN, CovModel.SAMPLE, 0.25, 4, 0.02, 0.15, 1.0
        ),
        ranking=Ranking(
            pd.DataFrame({"score": mu}), tuple(tickers), Strategy.MOMENTUM, date(2022, 12, 28)
        ),
        mu=mu,
        cov=cov,
        optimization=OptimizationResult(
            weights,
            Objective.MAX_SHARPE,
            Objective.MAX_SHARPE,
            (),
            "closed form",
            float(w @ mu),
            vol,
            1.0,
        ),
        allocation=Allocation(
            amounts / prices, prices, amounts, weights, weights, 0.0, 10_000.0, True, "fractional"
        ),
        metrics=RiskMetrics(
            float(w @ mu), vol, 1.0, 1.1, 0.1, 0.2, 0.3, (), contributions, float(1 / (w**2).sum())
        ),
        stress=StressReport(_scenarios(), (mc,)),
        sectors=sectors,
        frontier=curve,
        source="test",
        fetched_at=None,
        notes=(),
    )


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_every_chart_is_a_phone_sized_png() -> None:
    report = make_report()
    before = (report.weights.copy(), report.cov.copy(), report.stress.monte_carlo[0].fan.copy())
    rendered = charts.render_report_charts(report)
    # charts only read the report
    pd.testing.assert_series_equal(report.weights, before[0])
    pd.testing.assert_frame_equal(report.cov, before[1])
    pd.testing.assert_frame_equal(report.stress.monte_carlo[0].fan, before[2])
    assert set(rendered) == {
        "allocation",
        "frontier",
        "risk_contributions",
        "monte_carlo",
        "stress",
    }
    for name, png in rendered.items():
        assert png.startswith(PNG_SIGNATURE), name
        width, height = _png_size(png)
        assert (width, height) == (900, 1200), (name, width, height)  # portrait 3:4


def test_charts_handle_missing_parts() -> None:
    report = make_report(4, frontier=False)
    empty = dataclasses.replace(report, stress=StressReport((), ()))
    for png in (charts.frontier_chart(report), *charts.render_report_charts(empty).values()):
        assert png.startswith(PNG_SIGNATURE)


def test_top_groups_the_rest_as_other() -> None:
    values = pd.Series(np.arange(1.0, 16.0), index=[f"X{i}" for i in range(15)])
    top = charts._top(values)
    assert len(top) == charts.MAX_ITEMS
    assert top.index[-1] == "Other"
    assert top["Other"] == pytest.approx(values.sort_values().iloc[:4].sum())
    assert top.sum() == pytest.approx(values.sum())
    assert (
        charts._top(values.iloc[:5]).index.tolist()
        == values.iloc[:5].sort_values(ascending=False).index.tolist()
    )


def test_stress_chart_keeps_history_and_worst_sector_shocks() -> None:
    shown = stress_charts.shown_scenarios(_scenarios())
    assert len(shown) == stress_charts.MAX_SCENARIOS
    assert [s.name for s in shown[:6]] == [s.name for s in _scenarios()[:6]]
    sector_returns = [s.portfolio_return for s in shown[6:]]
    assert sector_returns == sorted(s.portfolio_return for s in _scenarios()[6:])[:6]
    row = stress_charts._scenario_row(shown[0], 10_000.0)
    assert row.label.endswith("(est.)") and row.hatch == "//"
    assert row.text == "−\\$4,200 (−42%)"


def test_pyplot_is_never_imported() -> None:
    for path in Path(charts.__file__).parent.glob("*.py"):
        lines = path.read_text().splitlines()
        imports = [line for line in lines if line.lstrip().startswith(("import", "from"))]
        assert not any("pyplot" in line for line in imports), path
    code = (
        "import sys\n"
        "from tests.smallq.charts.test_report import make_report\n"
        "from smallq.charts.report import render_report_charts\n"
        "render_report_charts(make_report(5), index_return=0.1, index_volatility=0.2)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_png_palette_keeps_every_pixel_close_to_the_drawing() -> None:
    import io

    from PIL import Image

    from smallq.charts.layout import fixed_figure
    from smallq.charts.style import PNG_COLORS, figure_to_png

    fig = fixed_figure()
    ax = fig.add_subplot()
    ax.barh(range(12), np.linspace(1, 12, 12), color=["#2563eb", "#16a34a", "#f59e0b"] * 4)
    ax.fill_between([0, 6], 0, 11, color="#dc2626", alpha=0.25)
    ax.set_title("Where your \\$10,000 goes", fontsize=15, fontweight="bold")
    png = figure_to_png(fig)
    drawn = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # type: ignore[attr-defined]
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P" and len(image.getcolors(maxcolors=1024) or ()) <= PNG_COLORS
    decoded = np.asarray(image.convert("RGB")).astype(int)
    assert decoded.shape == drawn.shape
    assert np.abs(decoded - drawn).max() <= 24  # of 255: anti-aliased edges move a little
    assert (np.abs(decoded - drawn).max(axis=2) <= 8).mean() > 0.99  # the rest hardly at all
