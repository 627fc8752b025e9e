"""Altair chart specs for the dashboard: pandas in, ``alt.Chart`` out (no Streamlit here).

Altair ships with Streamlit (no extra dependency), draws interactive Vega-Lite charts with
tooltips and zoom, and its specs are plain JSON that tests can read.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

HEIGHT = 320
MONEY = "$,.0f"
PERCENT = ".1%"
OURS, THEIRS, LOSS = "#2563eb", "#9ca3af", "#dc2626"


def frontier(
    curve: pd.DataFrame | None,
    assets: pd.DataFrame,
    portfolio: tuple[float, float],
    benchmark: tuple[float, float] | None,
    title: str,
) -> alt.LayerChart | alt.FacetChart:
    """Efficient frontier line, candidates (held or not), the portfolio and the S&P 500.

    ``assets`` has columns ``ticker``, ``volatility``, ``expected_return``, ``held``.
    """
    x = alt.X("volatility:Q", title="Volatility per year", axis=alt.Axis(format="%"))
    y = alt.Y("expected_return:Q", title="Expected return per year", axis=alt.Axis(format="%"))
    tips = [
        alt.Tooltip("label:N", title=""),
        alt.Tooltip("volatility:Q", format=PERCENT, title="volatility"),
        alt.Tooltip("expected_return:Q", format=PERCENT, title="return"),
    ]
    kinds = np.where(assets["held"], "held", "not held")
    points = assets.assign(label=assets["ticker"], kind=kinds)
    extra = [{"label": "Your portfolio", "kind": "portfolio", "volatility": portfolio[0],
              "expected_return": portfolio[1]}]  # fmt: skip
    if benchmark is not None:
        extra.append({"label": "S&P 500", "kind": "S&P 500", "volatility": benchmark[0],
                      "expected_return": benchmark[1]})  # fmt: skip
    marks = pd.concat([points, pd.DataFrame(extra)], ignore_index=True)
    color = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(
            domain=["held", "not held", "portfolio", "S&P 500"],
            range=[OURS, THEIRS, LOSS, "#111827"],
        ),
        legend=alt.Legend(orient="bottom"),
    )
    dots = alt.Chart(marks).mark_point(filled=True, size=90).encode(x, y, color, tooltip=tips)
    labels = alt.Chart(marks).mark_text(dx=8, align="left", fontSize=11).encode(x, y, text="label")
    layers: list[alt.Chart] = []
    if curve is not None and not curve.empty:
        line = alt.Chart(curve.sort_values("volatility")).mark_line(color=OURS, strokeWidth=3)
        layers.append(line.encode(x, y))
    return alt.layer(*layers, dots, labels).properties(title=title, height=HEIGHT).interactive()


def correlation(matrix: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Heatmap of a correlation matrix with the values written in the cells."""
    long = matrix.rename_axis(index="a", columns="b").stack().rename("correlation").reset_index()
    order = list(matrix.index)
    base = alt.Chart(long).encode(
        alt.X("b:N", sort=order, title=None), alt.Y("a:N", sort=order, title=None)
    )
    cells = base.mark_rect().encode(
        alt.Color("correlation:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)),
        tooltip=["a", "b", alt.Tooltip("correlation:Q", format=".2f")],
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text("correlation:Q", format=".2f"))
    return alt.layer(cells, text).properties(height=HEIGHT, title="Correlation of the holdings")


def series_colors(names: list[str]) -> alt.Scale:
    """Our series in strong colours, the S&P 500 always grey."""
    strong = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"]
    ours = iter(strong)
    return alt.Scale(
        domain=names, range=[THEIRS if n == "S&P 500" else next(ours, OURS) for n in names]
    )


def lines(frame: pd.DataFrame, *, title: str, value_format: str = MONEY) -> alt.Chart:
    """Several series over time; ``frame`` is indexed by date with one column per series."""
    long = frame.rename_axis("date").reset_index().melt("date", var_name="series")
    axis = alt.Axis(format=value_format)
    return (
        alt.Chart(long)
        .mark_line()
        .encode(
            alt.X("date:T", title=None),
            alt.Y("value:Q", title=None, axis=axis, scale=alt.Scale(zero=False)),
            alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2),
                      scale=series_colors([str(c) for c in frame.columns])),
            tooltip=["date:T", "series:N", alt.Tooltip("value:Q", format=value_format)],
        )
        .properties(title=title, height=HEIGHT)
        .interactive(bind_y=False)
    )


def grouped_bars(frame: pd.DataFrame, *, title: str, value_format: str = PERCENT) -> alt.Chart:
    """Bars by category (index) for each column (e.g. yearly returns vs the S&P 500)."""
    long = frame.rename_axis("category").reset_index().melt("category", var_name="series")
    long["category"] = long["category"].astype(str)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            alt.X("category:N", title=None),
            alt.XOffset("series:N"),
            alt.Y("value:Q", title=None, axis=alt.Axis(format=value_format)),
            alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2),
                      scale=series_colors([str(c) for c in frame.columns])),
            tooltip=["category:N", "series:N", alt.Tooltip("value:Q", format=value_format)],
        )
        .properties(title=title, height=HEIGHT)
    )  # fmt: skip


def monthly_heatmap(table: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Years × months of returns (``smallq.performance.monthly_table``)."""
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    frame = table.copy()
    frame.columns = names[: len(frame.columns)]
    long = frame.rename_axis("year").reset_index().melt("year", var_name="month").dropna()
    long["year"] = long["year"].astype(str)
    base = alt.Chart(long).encode(
        alt.X("month:N", sort=names, title=None), alt.Y("year:N", title=None)
    )
    limit = float(np.nanmax(np.abs(table.to_numpy(dtype=float)))) if table.size else 0.1
    cells = base.mark_rect().encode(
        alt.Color("value:Q", title="return", legend=None,
                  scale=alt.Scale(scheme="redyellowgreen", domain=[-limit, limit])),
        tooltip=["year:N", "month:N", alt.Tooltip("value:Q", format=PERCENT)],
    )  # fmt: skip
    text = base.mark_text(fontSize=9).encode(text=alt.Text("value:Q", format=".1%"))
    return alt.layer(cells, text).properties(title="Monthly returns", height=22 * len(frame) + 40)


def horizontal_bars(frame: pd.DataFrame, *, title: str) -> alt.Chart:
    """One bar per row: columns ``name`` and ``dollars`` (negative is a loss)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            alt.Y("name:N", sort=None, title=None),
            alt.X("dollars:Q", title=None, axis=alt.Axis(format=MONEY)),
            color=alt.condition(alt.datum.dollars < 0, alt.value(LOSS), alt.value(OURS)),
            tooltip=["name:N", alt.Tooltip("dollars:Q", format=MONEY)],
        )
        .properties(title=title, height=max(HEIGHT, 26 * len(frame)))
    )


def fan(bands: pd.DataFrame, *, title: str) -> alt.LayerChart | alt.FacetChart:
    """Monte Carlo value bands in dollars; columns are quantiles (0.05 … 0.95), index days."""
    frame = bands.rename(columns=lambda q: f"p{round(float(q) * 100):02d}").rename_axis("day")
    frame = frame.reset_index()
    x = alt.X("day:Q", title="Trading days ahead")
    outer = alt.Chart(frame).mark_area(opacity=0.2, color=OURS).encode(
        x, alt.Y("p05:Q", title=None, axis=alt.Axis(format=MONEY), scale=alt.Scale(zero=False)),
        alt.Y2("p95:Q"),
    )
    inner = alt.Chart(frame).mark_area(opacity=0.35, color=OURS).encode(
        x, alt.Y("p25:Q"), alt.Y2("p75:Q")
    )
    median = alt.Chart(frame).mark_line(color=OURS).encode(
        x, alt.Y("p50:Q"), tooltip=[alt.Tooltip("p50:Q", format=MONEY, title="median")]
    )
    return alt.layer(outer, inner, median).properties(title=title, height=HEIGHT)
