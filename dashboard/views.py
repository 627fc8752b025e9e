"""Every rendering of a portfolio in the dashboard, in one place.

Pages call these with engine results; nothing here computes a measure. Until the shared
presentation view (``smallq.presentation``) lands, the figures come from the pipeline's
:class:`~smallq.models.Report` and holdings from :func:`storage.portfolios.record_from_report`
(the same rows the bot stores and shows), formatted by ``smallq.report.money``/``pct``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from smallq.errors import SmallQError
from smallq.models import MonteCarloResult, Report
from smallq.report import money, pct
from smallq.types import Objective, Sector
from storage.portfolios import HoldingRecord, PortfolioRecord, record_from_report

OBJECTIVE_LABELS: dict[str, str] = {
    Objective.MAX_SHARPE: "Max Sharpe",
    Objective.MIN_VOLATILITY: "Min volatility",
    Objective.EFFICIENT_RISK: "Target volatility",
    Objective.MAX_UTILITY: "Max utility",
    Objective.HRP: "HRP",
    Objective.EQUAL_WEIGHT: "Equal weight",
    Objective.RISK_PARITY: "Risk parity",
    Objective.HYBRID: "Hybrid (50% max Sharpe + 50% HRP)",
}


def show_error(exc: SmallQError) -> None:
    """The error's sentence for people; never a traceback."""
    st.error(exc.user_message())


@dataclass(frozen=True, slots=True)
class Figure:
    """One risk card: ``value`` in ``unit`` on ``base``, with a one-line explanation."""

    label: str
    value: float
    unit: str
    base: str
    explanation: str

    @property
    def text(self) -> str:
        """The value as shown."""
        if self.unit == "USD":
            return money(self.value, self.unit)
        return f"{self.value:.2f}" if math.isfinite(self.value) else "n/a"


def risk_figures(report: Report) -> list[Figure]:
    """The risk cards of a build, in dollars where a dollar figure exists."""
    capital, m = report.profile.capital, report.metrics
    cur = report.profile.currency
    var, var10 = m.var_at(0.95, 1), m.var_at(0.99, 10)
    return [
        Figure("Expected gain in a year", m.expected_return * capital, cur, "capital",
               f"The forecast return ({pct(m.expected_return)}) on your capital; not a promise."),
        Figure("Typical yearly swing", m.volatility * capital, cur, "capital",
               f"Volatility {pct(m.volatility)}: in about 2 years of 3 the result lands within "
               "this distance of the expected gain."),
        Figure("Bad day (VaR 95%)", var.var * capital, cur, "capital",
               f"On 1 day in 20 you could lose this much or more ({pct(var.var, 2)})."),
        Figure("Average bad day (CVaR 95%)", var.cvar * capital, cur, "capital",
               f"When such a bad day comes, the loss averages this ({pct(var.cvar, 2)})."),
        Figure("Bad two weeks (VaR 99%, 10 days)", var10.var * capital, cur, "capital",
               f"In 1 of 100 two-week spans the loss could pass this ({pct(var10.var, 2)})."),
        Figure("Worst fall in the lookback", m.max_drawdown * capital, cur, "capital",
               f"These weights fell {pct(m.max_drawdown)} from a peak in the last "
               f"{report.profile.lookback_days} trading days."),
        Figure("Sharpe ratio", m.sharpe, "ratio", "",
               "Return above cash per unit of risk; above 1 is good."),
        Figure("Beta to the S&P 500", m.beta, "ratio", "",
               "1.0 moves with the market; 0.8 moves about 80% as much."),
    ]  # fmt: skip


def _short_sector(name: str | None) -> str:
    """"Tech", "Health", … (the table fits a phone)."""
    try:
        return Sector(name).short if name else ""
    except ValueError:
        return str(name)


def holdings_frame(holdings: Sequence[HoldingRecord]) -> pd.DataFrame:
    """One row per holding: shares, price, dollars, target vs bought weight."""
    return pd.DataFrame(
        [
            {
                "Ticker": h.ticker,
                "Sector": _short_sector(h.sector),
                "Shares": h.shares,
                "Price": h.price,
                "Dollars": h.amount,
                "Target": h.target_weight * 100,
                "Bought": h.weight * 100,
            }
            for h in holdings
        ]
    )


def render_holdings(record: PortfolioRecord) -> None:
    """The holdings table and the capital = invested + cash line."""
    frame = holdings_frame(record.holdings)
    shares = "{:,.4f}" if record.fractional else "{:,.0f}"
    styled = frame.style.hide(axis="index").format(
        {"Shares": shares, "Price": "${:,.2f}", "Dollars": "${:,.2f}", "Target": "{:.1f}%",
         "Bought": "{:.1f}%"}
    )  # fmt: skip
    st.table(styled)
    invested = float(frame["Dollars"].sum()) if len(frame) else 0.0
    st.caption(
        f"Invested {money(invested, record.currency)} + cash left "
        f"{money(record.cash_left, record.currency)} = capital "
        f"{money(record.capital, record.currency)}"
    )


def render_cards(figures: list[Figure]) -> None:
    """Risk cards, two per row (readable on a phone)."""
    for start in range(0, len(figures), 2):
        for column, figure in zip(st.columns(2), figures[start : start + 2], strict=False):
            with column:
                st.metric(figure.label, figure.text, help=figure.explanation)
                st.caption(figure.explanation)


def correlation_matrix(report: Report) -> pd.DataFrame:
    """Correlations of the held stocks from the report's covariance."""
    held = [t for t, w in report.weights.items() if w > 0]
    cov = report.cov.loc[held, held].to_numpy(dtype=float)
    sd = np.sqrt(np.diag(cov))
    return pd.DataFrame(cov / np.outer(sd, sd), index=held, columns=held)


def frontier_title(report: Report) -> str:
    """The frontier's caps in words."""
    s = report.settings
    cap = min(s.max_weight, 1.0 / s.min_holdings)
    return f"Efficient frontier: long only, at most {cap:.0%} per stock"


def render_frontier(report: Report, benchmark: tuple[float, float] | None) -> None:
    """The interactive frontier with the candidates, the portfolio and the S&P 500."""
    tickers = [t for t in report.mu.index if t in report.cov.index]
    assets = pd.DataFrame(
        {
            "ticker": tickers,
            "volatility": np.sqrt(np.diag(report.cov.loc[tickers, tickers].to_numpy(float))),
            "expected_return": report.mu.loc[tickers].to_numpy(float),
            "held": [bool(report.weights.get(t, 0) > 0) for t in tickers],
        }
    )
    opt = report.optimization
    chart = charts.frontier(
        report.frontier, assets, (opt.volatility, opt.expected_return), benchmark,
        frontier_title(report),
    )  # fmt: skip
    st.altair_chart(chart, width="stretch")


def render_notes(notes: Sequence[str]) -> None:
    """Caveats the user should see, folded away."""
    if notes:
        with st.expander(f"Notes ({len(notes)})"):
            for note in notes:
                st.markdown(f"- {note}")


def render_build(report: Report, benchmark: tuple[float, float] | None) -> None:
    """The Build page's result: holdings, risk cards, frontier, correlations, notes."""
    opt = report.optimization
    st.subheader("Your portfolio")
    used = OBJECTIVE_LABELS.get(opt.objective_used, opt.objective_used)
    st.caption(f"As of {report.as_of:%Y-%m-%d} · {used} · data: {report.source}")
    if opt.fallbacks:
        st.warning(
            f"{OBJECTIVE_LABELS.get(opt.objective_requested)} was not possible "
            f"({opt.fallbacks[0].reason}); the weights come from "
            f"{OBJECTIVE_LABELS.get(opt.objective_used)}."
        )
    render_holdings(record_from_report(report))
    st.subheader("Risk in dollars")
    render_cards(risk_figures(report))
    render_frontier(report, benchmark)
    st.altair_chart(charts.correlation(correlation_matrix(report)), width="stretch")
    render_notes(report.notes)


# --------------------------------------------------------------------------- compare
def compare_frame(items: Sequence[tuple[str, Report, object]]) -> pd.DataFrame:
    """Ex-ante and out-of-sample figures, one column per portfolio."""
    rows: dict[str, dict[str, str]] = {}
    for label, report, tracked in items:
        m, cur = report.metrics, report.profile.currency
        column = {
            "Construction": OBJECTIVE_LABELS.get(report.optimization.objective_used, ""),
            "Holdings": str(int((report.weights > 0).sum())),
            "Expected return": pct(m.expected_return),
            "Volatility": pct(m.volatility),
            "Sharpe": f"{m.sharpe:.2f}",
            "VaR 95% (1 day)": money(m.var_at(0.95).var * report.profile.capital, cur),
            "Largest weight": pct(float(report.weights.max())),
        }
        record = getattr(tracked, "tracking", None)
        if record is not None:
            growth = float(tracked.values.iloc[-1])
            column |= {
                "Value now": money(growth, cur),
                "CAGR since": pct(record.metrics.cagr),
                "Volatility since": pct(record.metrics.volatility),
                "Max drawdown since": pct(record.metrics.max_drawdown),
                "S&P 500 CAGR": pct(record.benchmark_metrics.cagr),
            }
        rows[label] = column
    return pd.DataFrame(rows)


def render_compare(items: Sequence[tuple[str, Report, object]]) -> None:
    """Side-by-side table, weights and the growth of the capital after the build date."""
    st.dataframe(compare_frame(items), width="stretch")
    weights = pd.DataFrame({label: r.weights for label, r, _ in items}).fillna(0.0)
    weights = weights.loc[(weights > 0).any(axis=1)]
    st.altair_chart(
        charts.grouped_bars(weights, title="Weights"), width="stretch"
    )
    growth = {label: t.values for label, _, t in items if t is not None}  # type: ignore[attr-defined]
    if growth:
        first = next(t for _, _, t in items if t is not None)
        bench = first.tracking.benchmark_growth * items[0][1].profile.capital  # type: ignore[attr-defined]
        frame = pd.DataFrame(growth).assign(**{"S&P 500": bench})
        st.altair_chart(
            charts.lines(frame, title="Growth of the capital after the build date"),
            width="stretch",
        )
    else:
        st.info("No out-of-sample record: the build date is the data's last day.")


# --------------------------------------------------------------------------- stress
def scenario_frame(report: Report) -> pd.DataFrame:
    """Every stress scenario in dollars of the capital (negative is a loss)."""
    capital = report.profile.capital
    return pd.DataFrame(
        [
            {
                "name": s.name + (" (estimated)" if s.estimated else ""),
                "dollars": s.portfolio_return * capital,
                "return": s.portfolio_return,
                "S&P 500": s.benchmark_return,
            }
            for s in report.stress.scenarios
        ]
    )


def monte_carlo_of(report: Report, method: str) -> MonteCarloResult:
    """The simulation of one method."""
    return next(mc for mc in report.stress.monte_carlo if mc.method.value == method)


def loss_probability_text(report: Report, simulation: MonteCarloResult, loss: float) -> str:
    """"Probability of losing more than X% (…$) in a year: P"."""
    probability = simulation.loss_probabilities[loss]
    dollars = money(loss * report.profile.capital, report.profile.currency)
    return (
        f"Probability of losing more than {loss:.0%} ({dollars}) in a year: "
        f"**{pct(probability)}**"
    )


def render_stress(report: Report) -> None:
    """Scenarios in dollars."""
    frame = scenario_frame(report)
    st.altair_chart(
        charts.horizontal_bars(frame, title="What these holdings would have done"),
        width="stretch",
    )
    table = frame.assign(
        **{
            "Dollars": frame["dollars"].map(lambda v: money(v, report.profile.currency)),
            "Return": frame["return"].map(pct),
            "S&P 500": frame["S&P 500"].map(lambda v: pct(v) if v is not None else "n/a"),
        }
    )[["name", "Dollars", "Return", "S&P 500"]].rename(columns={"name": "Scenario"})
    st.dataframe(table, hide_index=True, width="stretch")


def render_fan(report: Report, simulation: MonteCarloResult) -> None:
    """Monte Carlo bands of the capital over a year."""
    bands = simulation.fan * report.profile.capital
    st.altair_chart(
        charts.fan(bands, title=f"One year of {simulation.n_paths:,} simulated paths"),
        width="stretch",
    )


# --------------------------------------------------------------------------- account
def render_tracking(record: PortfolioRecord, tracked: object) -> None:
    """A stored build's value since its data date against the S&P 500."""
    st.subheader("Since you built it")
    if tracked is None:
        st.info(f"No prices after {record.as_of:%Y-%m-%d} yet; check again later.")
        return
    report = tracked.tracking  # type: ignore[attr-defined]
    values = tracked.values  # type: ignore[attr-defined]
    frame = pd.DataFrame(
        {"Your portfolio": values, "S&P 500": report.benchmark_growth * record.capital}
    )
    cur = record.currency
    left, right, third = st.columns(3)
    left.metric("Value now", money(float(values.iloc[-1]), cur), pct(report.total_return))
    right.metric("S&P 500", pct(report.benchmark_total_return))
    third.metric("Difference", pct(report.excess_return))
    st.altair_chart(charts.lines(frame, title="Value since the build"), width="stretch")


def render_paper(account: object) -> None:
    """Paper holdings and the latest trades."""
    paper = getattr(account, "paper", None)
    st.subheader("Paper holdings")
    if paper is None:
        st.info("No paper account yet: press Accept under a build in the bot.")
    else:
        st.dataframe(
            pd.DataFrame(paper.positions, columns=["Ticker", "Shares"]),
            hide_index=True, width="stretch",
        )  # fmt: skip
        st.caption(f"Cash {money(paper.cash, paper.currency)}")
    trades = getattr(account, "trades", ())
    if trades:
        st.subheader("Trades")
        st.dataframe(
            pd.DataFrame(
                [
                    {"Date": t.trade_date.isoformat(), "Ticker": t.ticker, "Side": t.side.value,
                     "Shares": t.shares, "Price": money(t.price), "Fee": money(t.fee)}
                    for t in trades
                ]
            ),
            hide_index=True, width="stretch",
        )  # fmt: skip
