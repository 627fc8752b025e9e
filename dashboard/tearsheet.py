"""The Backtest page's tear sheet: equity in dollars, drawdowns, yearly and rolling figures."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import charts
from smallq import performance
from smallq.presentation import money, pct
from smallq.report import backtest_to_dict, metric_rows
from smallq.results import BacktestReport

ROLLING_DAYS = 126


def equity_frame(report: BacktestReport, capital: float) -> pd.DataFrame:
    """Strategy and S&P 500 value of ``capital`` invested at the start, by day."""
    result = report.result
    frame = pd.DataFrame({"Strategy": result.equity * capital})
    if result.benchmark_equity is not None:
        frame["S&P 500"] = result.benchmark_equity.reindex(frame.index) * capital
    return frame


def drawdown_table(report: BacktestReport) -> pd.DataFrame:
    """The five worst drawdowns of the strategy."""
    table = performance.worst_drawdowns(report.result.returns, n=5)
    return pd.DataFrame(
        {
            "Peak": table["peak"].dt.strftime("%Y-%m-%d"),
            "Trough": table["trough"].dt.strftime("%Y-%m-%d"),
            "Recovered": table["recovery"].dt.strftime("%Y-%m-%d").fillna("not yet"),
            "Fall": table["depth"].map(pct),
            "Trading days": table["days"],
        }
    )


def parameters_table(report: BacktestReport, capital: float) -> pd.DataFrame:
    """What was simulated."""
    s, p, r = report.settings, report.profile, report.result
    rows = [
        ("Period", f"{report.start:%Y-%m-%d} → {report.end:%Y-%m-%d}"),
        ("Sectors", ", ".join(x.value for x in p.sectors)),
        ("Strategy", p.strategy.value), ("Stocks picked", str(p.top_n)),
        ("Objective", s.objective.value), ("Max weight", pct(s.max_weight)),
        ("Rebalance", str(r.rule)), ("Rebalances", str(len(r.rebalances))),
        ("Costs", f"{r.costs_bps:g} bps of traded value"), ("Turnover", f"{r.turnover:.1f}×"),
        ("Capital", money(capital, p.currency)), ("Data", report.source),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["Parameter", "Value"])


def export_csv(report: BacktestReport, capital: float) -> bytes:
    """Daily values in dollars (strategy and S&P 500) as CSV."""
    return equity_frame(report, capital).rename_axis("date").to_csv().encode()


def export_json(report: BacktestReport) -> bytes:
    """The CLI's ``smallq backtest --json`` document."""
    return json.dumps(backtest_to_dict(report), indent=2).encode()


def render_tearsheet(report: BacktestReport, capital: float) -> None:
    """Everything about one backtest."""
    result = report.result
    st.altair_chart(
        charts.lines(equity_frame(report, capital), title="Value of your capital"),
        width="stretch",
    )
    st.dataframe(
        pd.DataFrame(metric_rows(report), columns=["", "Strategy", "S&P 500"]),
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.subheader("Five worst drawdowns")
    st.dataframe(drawdown_table(report), hide_index=True, width="stretch")
    yearly = pd.DataFrame({"Strategy": performance.yearly_returns(result.returns)})
    bench = result.benchmark_returns
    if bench is not None:
        yearly["S&P 500"] = performance.yearly_returns(bench)
    st.altair_chart(charts.grouped_bars(yearly, title="Yearly returns"), width="stretch")
    rolling = pd.DataFrame(
        {
            "Volatility": performance.rolling_volatility(result.returns, ROLLING_DAYS),
            "Sharpe": performance.rolling_sharpe(
                result.returns, ROLLING_DAYS, risk_free_rate=report.settings.risk_free_rate
            ),
        }
    ).dropna()
    st.altair_chart(
        charts.lines(rolling[["Volatility"]], title="Rolling 6-month volatility", value_format="%"),
        width="stretch",
    )
    st.altair_chart(
        charts.lines(rolling[["Sharpe"]], title="Rolling 6-month Sharpe", value_format=".2f"),
        width="stretch",
    )
    st.altair_chart(
        charts.monthly_heatmap(performance.monthly_table(result.returns)),
        width="stretch",
    )
    st.subheader("Parameters")
    st.dataframe(parameters_table(report, capital), hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.download_button("Download CSV", export_csv(report, capital), "backtest.csv", "text/csv")
    right.download_button(
        "Download JSON", export_json(report), "backtest.json", "application/json"
    )
    if report.notes:
        with st.expander(f"Notes ({len(report.notes)})"):
            for note in report.notes:
                st.markdown(f"- {note}")
