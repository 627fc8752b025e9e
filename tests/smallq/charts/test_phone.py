"""Every chart read at the size of a Telegram photo bubble (about 300 points wide).

The rule, checked on each chart as it is really drawn:

* every piece of text drawn shows at 8 points or more when the picture is shrunk to 300
  points wide: ``font_pt * 300 / (figure_width_in * 72) >= 8`` (8 points is the smallest
  size phone interface guidelines use for any text; 11-point ticks on the old 8-inch wide
  charts showed at 5.7);
* no text is cut off by the picture's edge and no two texts overlap;
* no text is drawn as mathtext (two "$" amounts in a label would turn it into formulas);
* the picture is portrait or square, and at most 1.5 times taller than wide (Telegram caps a
  bubble's height, so a taller picture is shown narrower and its text smaller);
* the PNG decodes, at the figure's size times its dpi.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from PIL import Image

import smallq.charts.backtest as backtest_charts
import smallq.charts.frontier as frontier_charts
import smallq.charts.report as report_charts
import smallq.charts.stress as stress_charts
from smallq.backtest import BacktestResult, run_backtest
from smallq.charts.style import (
    BUBBLE_WIDTH_PT,
    FIG_SIZE,
    MIN_DISPLAY_PT,
    display_points,
    figure_to_png,
    new_figure,
)
from smallq.models import Report, ScenarioResult, StressReport
from smallq.performance import tracking
from tests.smallq.charts.test_report import make_report

MODULES = (report_charts, frontier_charts, stress_charts, backtest_charts)


@dataclasses.dataclass
class Drawn:
    """A chart as drawn: its figure, PNG bytes and every text artist that was drawn."""

    figure: Figure
    png: bytes
    texts: list[Text]


def render(draw: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> Drawn:
    """Run a chart function and return its figure as drawn (text artists recorded)."""
    figures: list[Figure] = []

    def keep(fig: Figure) -> bytes:
        figures.append(fig)
        return b""

    with monkeypatch.context() as patch:
        for module in MODULES:
            if hasattr(module, "figure_to_png"):
                patch.setattr(module, "figure_to_png", keep)
        made = draw()
    fig = made if isinstance(made, Figure) else figures[-1]
    drawn: list[Text] = []
    original = Text.draw

    def record(self: Text, renderer: object) -> None:
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        original(self, renderer)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Text, "draw", record)
        png = figure_to_png(fig)
    alive = set(map(id, fig.findobj(Text)))
    unique = {id(t): t for t in drawn if id(t) in alive}
    return Drawn(fig, png, list(unique.values()))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], object]], Drawn]:
    """:func:`render` with the test's monkeypatch."""
    return lambda draw: render(draw, monkeypatch)


def _check(drawn: Drawn, name: str) -> None:
    fig = drawn.figure
    width_in, height_in = fig.get_size_inches()
    assert 1.0 <= height_in / width_in <= 1.5, (name, "portrait or square", width_in, height_in)
    image = Image.open(io.BytesIO(drawn.png))
    image.load()
    assert image.format == "PNG"
    assert image.size == (round(width_in * fig.dpi), round(height_in * fig.dpi)), name
    assert drawn.texts, name
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    inside = fig.bbox.padded(1.0)
    boxes: list[tuple[str, Bbox]] = []
    for text in drawn.texts:
        shown = display_points(text.get_fontsize(), width_in)
        label = text.get_text()
        assert shown >= MIN_DISPLAY_PT, f"{name}: {label!r} shows at {shown:.1f} pt"
        assert not text._preprocess_math(label)[1], f"{name}: {label!r} is mathtext"
        box = text.get_window_extent(renderer)
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), (
            f"{name}: {label!r} is cut off at {box} (figure {fig.bbox})"
        )
        boxes.append((label, box.shrunk(0.96, 0.9)))
    for i, (label, box) in enumerate(boxes):
        for other, other_box in boxes[i + 1 :]:
            assert not box.overlaps(other_box), f"{name}: {label!r} overlaps {other!r}"


# --------------------------------------------------------------------------- inputs
def _sector_scenarios() -> tuple[ScenarioResult, ...]:
    """Long, real names: the stress chart must fit the full sector names of the text."""
    names = ["Information Technology", "Communication Services", "Consumer Discretionary"]
    return (
        ScenarioResult("Dot-com crash 2000-2002", "historical", -0.61, -0.47, True),
        ScenarioResult("Global financial crisis 2008", "historical", -0.528, -0.55, False),
        ScenarioResult("2022 bear market", "historical", 0.04, -0.25, False),
        ScenarioResult("Market -30%", "hypothetical", -0.33, -0.3, False),
        *(ScenarioResult(f"{n} -30%", "hypothetical", -0.12, None, False) for n in names),
    )


def _reports() -> Iterator[tuple[str, Report]]:
    report = make_report()
    yield "synthetic 15 stocks", report
    yield "few stocks, no frontier", make_report(4, frontier=False)
    yield (
        "long sector names",
        dataclasses.replace(
            report, stress=StressReport(_sector_scenarios(), report.stress.monte_carlo)
        ),
    )
    big = dataclasses.replace(report.allocation, capital=1_234_567.0)
    yield "large capital", dataclasses.replace(report, allocation=big)


def _result(years: int, *, capital: float | None) -> BacktestResult:
    rng = np.random.default_rng(years)
    days = 252 * years
    dates = pd.bdate_range("2008-01-01", periods=days)
    tickers = [f"T{i:02d}" for i in range(14)]
    prices = pd.DataFrame(
        50 * np.cumprod(1 + rng.normal(0.0004, 0.015, (days, 14)), axis=0),
        index=dates,
        columns=tickers,
    )
    bench = pd.Series(3000 * np.cumprod(1 + rng.normal(0.0003, 0.012, days)), dates)
    weights = pd.Series(np.linspace(1, 2, 14), tickers)
    return run_backtest(
        prices,
        lambda history, as_of: weights / weights.sum(),
        start=dates[0],
        end=dates[-1],
        rebalance="monthly",
        benchmark=bench,
        capital=capital,
    )


REPORTS = dict(_reports())


@pytest.fixture(scope="module")
def results() -> dict[str, BacktestResult]:
    return {"3 years": _result(3, capital=None), "14 years, $25,000": _result(14, capital=25_000)}


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", list(REPORTS))
@pytest.mark.parametrize("chart", list(report_charts.CHARTS))
def test_report_chart_reads_at_300_points(
    capture: Callable[[Callable[[], object]], Drawn], case: str, chart: str
) -> None:
    report = REPORTS[case]
    if chart == "frontier":
        drawn = capture(
            lambda: frontier_charts.frontier_chart(report, index_return=0.09, index_volatility=0.18)
        )
    else:
        drawn = capture(lambda: report_charts.CHARTS[chart](report))
    _check(drawn, f"{chart} ({case})")


BACKTEST_FIGURES: dict[str, Callable[[BacktestResult], Figure]] = {
    "equity": backtest_charts.equity_figure,
    "equity log": lambda r: backtest_charts.equity_figure(r, log_scale=True),
    "drawdown": backtest_charts.drawdown_figure,
    "rolling": backtest_charts.rolling_figure,
    "monthly_returns": backtest_charts.monthly_heatmap_figure,
    "weights": backtest_charts.weights_figure,
}


@pytest.mark.parametrize("case", ["3 years", "14 years, $25,000"])
@pytest.mark.parametrize("chart", list(BACKTEST_FIGURES))
def test_backtest_chart_reads_at_300_points(
    capture: Callable[[Callable[[], object]], Drawn],
    results: dict[str, BacktestResult],
    case: str,
    chart: str,
) -> None:
    result = results[case]
    _check(capture(lambda: BACKTEST_FIGURES[chart](result)), f"{chart} ({case})")


@pytest.mark.parametrize("start_value", [None, 10_000.0])
def test_tracking_chart_reads_at_300_points(
    capture: Callable[[Callable[[], object]], Drawn],
    results: dict[str, BacktestResult],
    start_value: float | None,
) -> None:
    result = results["3 years"]
    assert result.benchmark_equity is not None
    report = tracking(
        result.equity.iloc[:300], result.benchmark_equity.iloc[:300], risk_free_rate=0.02
    )
    drawn = capture(lambda: backtest_charts.tracking_chart(report, start_value=start_value))
    _check(drawn, f"tracking ({start_value})")


def test_the_rule_fails_the_old_landscape_size() -> None:
    """The old charts (8 inches wide, 11-point ticks) show at 5.7 points: below the rule."""
    assert display_points(11, 8.0) == pytest.approx(11 * BUBBLE_WIDTH_PT / 576)
    assert display_points(11, 8.0) < MIN_DISPLAY_PT


def test_values_are_in_dollars_and_months(
    capture: Callable[[Callable[[], object]], Drawn], results: dict[str, BacktestResult]
) -> None:
    report = REPORTS["synthetic 15 stocks"]
    texts = {
        name: " ".join(t.get_text() for t in capture(lambda d=draw: d(report)).texts)
        for name, draw in report_charts.CHARTS.items()
    }
    assert "Where your \\$10,000 goes" in texts["allocation"]
    assert "Information Technology" in texts["allocation"]
    assert "each stock ≤ 25%" in texts["frontier"]
    assert "next month" in texts["monte_carlo"] and "\\$" in texts["monte_carlo"]
    assert "\\$" in texts["stress"]
    equity = capture(lambda: backtest_charts.equity_figure(results["14 years, $25,000"]))
    title = equity.figure.get_suptitle()
    assert title.startswith("\\$25,000 → \\$"), title
    frontier = capture(
        lambda: frontier_charts.frontier_chart(report, index_return=0.09, index_volatility=0.18)
    )
    assert "S&P 500" in [t.get_text() for t in frontier.texts]


def test_index_point_uses_the_report_models() -> None:
    report = make_report()
    dates = pd.bdate_range(end=pd.Timestamp(report.as_of), periods=report.profile.lookback_days + 1)
    rng = np.random.default_rng(5)
    levels = pd.Series(3000 * np.cumprod(1 + rng.normal(0.0004, 0.01, len(dates))), dates)
    point = frontier_charts.index_point(levels, report)
    assert point is not None
    daily = levels.pct_change().dropna()
    assert point[0] == pytest.approx(daily.mean() * 252)  # the report uses ReturnsModel.MEAN
    assert point[1] == pytest.approx(daily.std() * np.sqrt(252))  # and CovModel.SAMPLE
    assert frontier_charts.index_point(levels.iloc[:5], report) is None
    assert frontier_charts.index_window_start(report) < dates[0].date() <= date(2022, 12, 28)


def _bad_figure(kind: str) -> Figure:
    fig = new_figure((8.0, 5.0) if kind == "landscape" else FIG_SIZE)
    ax = fig.add_subplot()
    if kind == "small":
        ax.text(0.1, 0.5, "small", fontsize=8)
    elif kind == "overlap":
        ax.text(0.1, 0.5, "overlap", fontsize=11)
        ax.text(0.12, 0.5, "overlap", fontsize=11)
    elif kind == "cut off":
        fig.text(0.9, 0.5, "cut off at the right edge", fontsize=11)
    elif kind == "mathtext":
        ax.text(0.1, 0.5, "$1 and $2", fontsize=11)
    return fig


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("landscape", "portrait"),
        ("small", "shows at 7.4 pt"),
        ("overlap", "overlaps"),
        ("cut off", "cut off"),
        ("mathtext", "mathtext"),
    ],
)
def test_the_check_catches_unreadable_charts(
    capture: Callable[[Callable[[], object]], Drawn], kind: str, message: str
) -> None:
    drawn = capture(lambda: _bad_figure(kind))
    with pytest.raises(AssertionError, match=message):
        _check(drawn, kind)
