"""Every rendering of a portfolio in the dashboard, in one place.

Pages call these with engine results; nothing here computes a measure. A build is shown
through the shared :class:`~smallq.presentation.PortfolioView` (the same view the CLI and the
bot render: figures with their units and explanations, holdings with target and bought
weights, scenarios in money) and formatted by ``smallq.presentation``'s ``money``/``pct``.
A stored build carries the same view (decoded by ``smallq.presentation.stored.stored_view``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from smallq.errors import SmallQError
from smallq.models import MonteCarloResult, Note, Report
from smallq.presentation import (
    Figure,
    MonteCarloView,
    PortfolioView,
    figure_text,
    money,
    pct,
    present_portfolio,
)
from smallq.presentation.stored import stored_view
from smallq.results import TrackedPortfolio
from smallq.types import Objective, Sector
from storage.portfolios import PortfolioRecord

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

#: the risk cards, in order: money first (what a bad day costs), then the rates and ratios
CARD_KEYS: tuple[str, ...] = (
    "var_95_amount", "cvar_95_amount", "var_99_amount", "cvar_99_amount",
    "expected_return", "volatility", "max_drawdown", "sharpe", "beta",
)  # fmt: skip


def markdown_safe(text: str) -> str:
    """Escape dollar signs, which Streamlit's markdown would read as LaTeX delimiters."""
    return text.replace("$", "\\$")


def show_error(exc: SmallQError) -> None:
    """The error's sentence for people; never a traceback."""
    st.error(exc.user_message())


def present(report: Report) -> PortfolioView:
    """The shared view of a build (what every front end renders)."""
    return present_portfolio(report)


def risk_cards(view: PortfolioView) -> list[Figure]:
    """The figures shown as cards (those the view has, in :data:`CARD_KEYS` order)."""
    keys = {figure.key for figure in view.figures}
    return [view.figure(key) for key in CARD_KEYS if key in keys]


def _short_sector(name: str | None) -> str:
    """"Tech", "Health", … (the table fits a phone)."""
    try:
        return Sector(name).short if name else ""
    except ValueError:
        return str(name)


def holdings_frame(view: PortfolioView) -> pd.DataFrame:
    """One row per holding: shares, price, dollars, target vs bought weight (in %)."""
    return pd.DataFrame(
        [
            {
                "Ticker": h.ticker,
                "Sector": _short_sector(h.sector),
                "Shares": h.shares,
                "Price": h.price,
                "Dollars": h.amount,
                "Target": h.target_weight * 100,
                "Bought": h.achieved_weight * 100,
            }
            for h in view.holdings
        ],
        columns=["Ticker", "Sector", "Shares", "Price", "Dollars", "Target", "Bought"],
    )


def render_holdings(view: PortfolioView) -> None:
    """The holdings table and the capital = invested + cash line."""
    frame = holdings_frame(view)
    shares = "{:,.4f}" if view.profile.fractional else "{:,.0f}"
    dollars = lambda value: money(value, view.currency)  # noqa: E731
    styled = frame.style.hide(axis="index").format(
        {"Shares": shares, "Price": dollars, "Dollars": dollars, "Target": "{:.1f}%",
         "Bought": "{:.1f}%"}
    )  # fmt: skip
    st.table(styled)
    st.caption(
        markdown_safe(
            f"Invested {money(view.invested, view.currency)} + cash left "
            f"{money(view.cash, view.currency)} = capital {money(view.capital, view.currency)}"
        )
    )


def render_cards(view: PortfolioView) -> None:
    """Risk cards, two per row (one per row on a phone), each with its explanation."""
    figures = risk_cards(view)
    for start in range(0, len(figures), 2):
        for column, figure in zip(st.columns(2), figures[start : start + 2], strict=False):
            with column:
                st.metric(figure.label, figure_text(figure, view.currency))
                st.caption(markdown_safe(figure.explanation))


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


def render_notes(notes: Sequence[Note]) -> None:
    """Caveats the user should see, folded away."""
    if notes:
        with st.expander(f"Notes ({len(notes)})"):
            for note in notes:
                st.markdown(markdown_safe(f"- {note.text}"))


def render_build(report: Report, benchmark: tuple[float, float] | None) -> None:
    """The Build page's result: holdings, risk cards, frontier, correlations, notes."""
    view = present_portfolio(report)
    opt = view.optimizer
    st.subheader("Your portfolio")
    used = OBJECTIVE_LABELS.get(opt.objective_used, opt.objective_used)
    st.caption(f"As of {view.as_of:%Y-%m-%d} · {used} · data: {view.source}")
    if opt.fallbacks:
        st.warning(
            f"{OBJECTIVE_LABELS.get(opt.objective_requested, opt.objective_requested)} was not "
            f"possible ({opt.fallbacks[0][1]}); the weights come from {used}."
        )
    render_holdings(view)
    st.subheader("Risk in dollars")
    render_cards(view)
    render_frontier(report, benchmark)
    st.altair_chart(charts.correlation(correlation_matrix(report)), width="stretch")
    render_notes(view.notes)


# --------------------------------------------------------------------------- compare
def compare_frame(items: Sequence[tuple[str, Report, TrackedPortfolio | None]]) -> pd.DataFrame:
    """Ex-ante and out-of-sample figures, one column per portfolio."""
    rows: dict[str, dict[str, str]] = {}
    for label, report, tracked in items:
        view = present_portfolio(report)
        cur = view.currency
        column = {
            "Construction": OBJECTIVE_LABELS.get(view.optimizer.objective_used, ""),
            "Holdings": str(len(view.holdings)),
            **{
                view.figure(key).label: figure_text(view.figure(key), cur)
                for key in ("expected_return", "volatility", "sharpe", "var_95_amount")
            },
            "Largest weight": pct(max(h.target_weight for h in view.holdings)),
        }
        if tracked is not None:
            record = tracked.tracking
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


def render_compare(items: Sequence[tuple[str, Report, TrackedPortfolio | None]]) -> None:
    """Side-by-side table, weights and the growth of the capital after the build date."""
    st.dataframe(compare_frame(items), width="stretch")
    weights = pd.DataFrame({label: r.weights for label, r, _ in items}).fillna(0.0)
    weights = weights.loc[(weights > 0).any(axis=1)]
    st.altair_chart(
        charts.grouped_bars(weights, title="Weights"), width="stretch"
    )
    growth = {label: t.values for label, _, t in items if t is not None}
    if growth:
        first = next(t for _, _, t in items if t is not None)
        bench = first.tracking.benchmark_growth * items[0][1].profile.capital
        frame = pd.DataFrame(growth).assign(**{"S&P 500": bench})
        st.altair_chart(
            charts.lines(frame, title="Growth of the capital after the build date"),
            width="stretch",
        )
    else:
        st.info("No out-of-sample record: the build date is the data's last day.")


# --------------------------------------------------------------------------- stress
def scenario_frame(view: PortfolioView) -> pd.DataFrame:
    """Every stress scenario in money on the view's base (negative is a loss)."""
    return pd.DataFrame(
        [
            {
                "name": s.name + (" (estimated)" if s.estimated else ""),
                "dollars": s.amount,
                "return": s.portfolio_return,
                "S&P 500": s.benchmark_return,
            }
            for s in view.scenarios
        ]
    )


def monte_carlo_of(view: PortfolioView, method: str) -> MonteCarloView:
    """The simulation of one method."""
    return next(mc for mc in view.monte_carlo if mc.method == method)


def loss_probability_text(view: PortfolioView, simulation: MonteCarloView, loss: float) -> str:
    """"Probability of losing more than X% (…$) in a year: P"."""
    probability = simulation.loss_probability(loss)
    dollars = money(loss * view.capital, view.currency)
    return markdown_safe(
        f"Probability of losing more than {loss:.0%} ({dollars}) in a year: "
        f"**{pct(probability)}**"
    )


def render_stress(view: PortfolioView) -> None:
    """Scenarios in money."""
    frame = scenario_frame(view)
    st.altair_chart(
        charts.horizontal_bars(frame, title="What these holdings would have done"),
        width="stretch",
    )
    table = frame.assign(
        **{
            "Dollars": frame["dollars"].map(lambda v: money(v, view.currency)),
            "Return": frame["return"].map(pct),
            "S&P 500": frame["S&P 500"].map(lambda v: pct(v) if v is not None else "n/a"),
        }
    )[["name", "Dollars", "Return", "S&P 500"]].rename(columns={"name": "Scenario"})
    st.dataframe(table, hide_index=True, width="stretch")


def render_fan(report: Report, method: str) -> None:
    """Monte Carlo bands of the capital over a year (the fan stays on the engine's result)."""
    simulation: MonteCarloResult = next(
        mc for mc in report.stress.monte_carlo if mc.method.value == method
    )
    bands = simulation.fan * report.allocation.capital
    st.altair_chart(
        charts.fan(bands, title=f"One year of {simulation.n_paths:,} simulated paths"),
        width="stretch",
    )


# --------------------------------------------------------------------------- account
def render_tracking(record: PortfolioRecord, tracked: TrackedPortfolio | None) -> None:
    """A stored build's value since its data date against the S&P 500."""
    st.subheader("Since you built it")
    if tracked is None:
        st.info(f"No prices after {record.as_of:%Y-%m-%d} yet; check again later.")
        return
    report = tracked.tracking
    values = tracked.values
    view = stored_view(record)
    frame = pd.DataFrame(
        {"Your portfolio": values, "S&P 500": report.benchmark_growth * view.capital}
    )
    cur = view.currency
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
        st.caption(markdown_safe(f"Cash {money(paper.cash, paper.currency)}"))
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
