"""Telegram HTML for paper trading, rebalancing, alerts, subscriptions and digests.

Pure functions; every dynamic value is HTML-escaped. Money uses :func:`bot.views.messages.money`.
The values rendered are typed by what is read of them (the protocols below); the services
fill them (``bot.services.paper``: ``AcceptOutcome``, ``Assessment``, ``Valuation``; the
ledger's ``TradeRecord``), and the views import neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Protocol

import pandas as pd

from bot.views.messages import DISCLAIMER, money, pct, pre_blocks
from smallq.alerts import THRESHOLD_NAMES, Alert, AlertThresholds
from smallq.models import Order, RebalancePlan
from smallq.types import PlanOutcome, Side


class AccountFigures(Protocol):
    """A paper account as shown: cash, currency and share counts by ticker."""

    @property
    def cash(self) -> float: ...
    @property
    def currency(self) -> str: ...
    @property
    def positions(self) -> Sequence[tuple[str, int]]: ...


class AcceptedTrades(Protocol):
    """What pressing Accept recorded (``bot.services.paper.AcceptOutcome``)."""

    @property
    def plan(self) -> RebalancePlan | None: ...
    @property
    def account(self) -> AccountFigures | None: ...
    @property
    def trade_date(self) -> date | None: ...
    @property
    def notes(self) -> Sequence[str]: ...


class AccountCheck(Protocol):
    """A check of one account (``bot.services.paper.Assessment``)."""

    @property
    def as_of(self) -> date: ...
    @property
    def value(self) -> float: ...
    @property
    def alerts(self) -> Sequence[Alert]: ...
    @property
    def plan(self) -> RebalancePlan | None: ...
    @property
    def signal(self) -> bool: ...
    @property
    def threshold(self) -> float: ...
    @property
    def notes(self) -> Sequence[str]: ...


class HoldingsValue(Protocol):
    """Positions at the latest prices (``bot.services.paper.Valuation``)."""

    @property
    def account(self) -> AccountFigures: ...
    @property
    def prices(self) -> pd.Series: ...
    @property
    def as_of(self) -> date | None: ...
    @property
    def missing(self) -> Sequence[str]: ...
    @property
    def positions_value(self) -> float: ...


class TradeLine(Protocol):
    """One paper trade as listed (``storage.ledger.TradeRecord``)."""

    @property
    def trade_date(self) -> date: ...
    @property
    def side(self) -> Side: ...
    @property
    def shares(self) -> int: ...
    @property
    def ticker(self) -> str: ...
    @property
    def price(self) -> float: ...
    @property
    def fee(self) -> float: ...


APPLY, SKIP = "Apply (paper)", "Skip"
NO_ACCOUNT = (
    "You have no paper holdings yet. Build a portfolio with /start and tap "
    "<b>Accept (paper trade)</b> under the result."
)
NO_PROFILE = "You have no profile yet. Send /start to create one."
STALE_BUTTON = "This button is no longer active."
PLAN_ANSWERS: dict[PlanOutcome, str] = {
    PlanOutcome.APPLIED: "Applied: the paper trades are recorded. See /holdings.",
    PlanOutcome.SKIPPED: "Skipped: nothing was traded.",
    PlanOutcome.ALREADY_DONE: "This plan was already applied or skipped.",
    PlanOutcome.STALE: "Your holdings changed since this plan. Send /rebalance for a new one.",
    PlanOutcome.EXPIRED: "This plan has expired. Send /rebalance for a fresh one.",
    PlanOutcome.NOT_FOUND: STALE_BUTTON,
}
THRESHOLD_LABELS: dict[str, str] = {
    "var_limit": "VaR (1 day, 95%)",
    "cvar_limit": "CVaR (1 day, 95%)",
    "drawdown_limit": "Drawdown",
    "vol_spike_ratio": "Volatility spike (21 d vs 1 y)",
    "min_effective_holdings": "Min effective holdings",
    "max_weight": "Max position weight",
    "stale_days": "Stale prices after (trading days)",
}


def order_lines(orders: Sequence[Order], currency: str = "USD") -> list[str]:
    """One line per order: side, shares, ticker, price, value (plain text for <pre>)."""
    return [
        f"{o.side.value:<4} {o.shares:>6} {o.ticker:<6} @ {o.price:>9,.2f} = {o.value:>11,.2f}"
        for o in orders
    ]


def plan_blocks(plan: RebalancePlan, threshold: float, currency: str = "USD") -> list[str]:
    """Orders, costs and drift of a rebalance plan."""
    head = (
        f"<b>Rebalance signals</b>: drift {pct(plan.drift)} (your band {pct(threshold)}), "
        f"{pct(plan.drift_after)} after trading."
    )
    tail = (
        f"Fees {money(plan.fees, currency)} · turnover {pct(plan.turnover)} · "
        f"cash after {money(plan.cash_after, currency)}"
    )
    return [head, *pre_blocks(order_lines(plan.orders, currency)), tail]


def on_target_text(assessment: AccountCheck) -> str:
    """Why no signals were sent."""
    plan = assessment.plan
    if plan is None:
        return "No rebalance check this time: " + "; ".join(map(escape, assessment.notes))
    if not plan.orders:
        return f"On target: drift {pct(plan.drift)}, nothing to trade in whole shares."
    return (
        f"On target: drift {pct(plan.drift)} is inside your {pct(assessment.threshold)} band. "
        "Nothing to trade."
    )


def alert_blocks(alerts: Sequence[Alert]) -> list[str]:
    """The alerts, one paragraph each, or a short all-clear."""
    if not alerts:
        return ["✅ No risk alerts."]
    return [f"⚠️ <b>{len(alerts)} risk alert(s)</b>"] + [f"• {escape(a.message)}" for a in alerts]


def assessment_blocks(assessment: AccountCheck, title: str) -> list[str]:
    """A user's digest or /rebalance answer (without the buttons)."""
    blocks = [
        f"<b>{escape(title)}</b> · prices as of {assessment.as_of.isoformat()}",
        f"Account value {money(assessment.value)}",
    ]
    blocks += alert_blocks(assessment.alerts)
    if assessment.signal and assessment.plan is not None:
        blocks += plan_blocks(assessment.plan, assessment.threshold)
    else:
        blocks.append(on_target_text(assessment))
    return [*blocks, DISCLAIMER]


def plan_buttons(plan_id: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Apply/Skip button rows for a stored plan."""
    return (((APPLY, f"rebal:apply:{plan_id}"), (SKIP, f"rebal:skip:{plan_id}")),)


def accept_blocks(outcome: AcceptedTrades) -> list[str]:
    """Answer to Accept: the recorded trades and the account after them."""
    plan, account = outcome.plan, outcome.account
    assert plan is not None and account is not None and outcome.trade_date is not None
    blocks = [f"<b>Paper trades recorded</b> at the prices of {outcome.trade_date.isoformat()}:"]
    blocks += (
        pre_blocks(order_lines(plan.orders, account.currency))
        if plan.orders
        else ["No trades were needed."]
    )
    blocks.append(
        f"Fees {money(plan.fees, account.currency)} · cash left "
        f"{money(account.cash, account.currency)}. See /holdings and /trades."
    )
    return blocks + [escape(n) for n in outcome.notes]


def holdings_blocks(valuation: HoldingsValue) -> list[str]:
    """/holdings: shares, latest price, value and weight per position, cash and total."""
    account, prices = valuation.account, valuation.prices
    total = account.cash + valuation.positions_value
    lines = [f"{'Ticker':<6} {'Shares':>7} {'Price':>10} {'Value':>12} {'Weight':>7}"]
    for ticker, shares in account.positions:
        price = float(prices.get(ticker, float("nan")))
        value = shares * price
        weight = value / total if total > 0 and value == value else float("nan")
        shown = f"{price:>10,.2f}" if price == price else f"{'n/a':>10}"
        worth = f"{value:>12,.2f}" if value == value else f"{'n/a':>12}"
        lines.append(f"{ticker:<6} {shares:>7} {shown} {worth} {pct(weight):>7}")
    when = valuation.as_of.isoformat() if valuation.as_of else "unavailable"
    blocks = [f"<b>Your paper holdings</b> · prices as of {when}", *pre_blocks(lines)]
    blocks.append(
        f"Cash {money(account.cash, account.currency)} · total {money(total, account.currency)}"
    )
    if valuation.missing:
        blocks.append("No latest price for " + escape(", ".join(valuation.missing)) + ".")
    return blocks


def trades_blocks(trades: Sequence[TradeLine]) -> list[str]:
    """/trades: the latest paper trades, newest first."""
    if not trades:
        return ["No paper trades yet. Accept a portfolio or apply a rebalance first."]
    lines = [
        f"{t.trade_date.isoformat()} {t.side.value:<4} {t.shares:>6} {t.ticker:<6} "
        f"@ {t.price:>9,.2f} fee {t.fee:>7,.2f}"
        for t in trades
    ]
    return [f"<b>Your last {len(trades)} paper trade(s)</b>", *pre_blocks(lines)]


def thresholds_blocks(
    thresholds: AlertThresholds, overrides: dict[str, float], drift: float
) -> list[str]:
    """/alerts: every limit, marking the user's own."""
    names = {field: name for name, (field, *_rest) in THRESHOLD_NAMES.items()}
    lines = []
    for field, label in THRESHOLD_LABELS.items():
        value = getattr(thresholds, field)
        shown = pct(value) if field.endswith(("_limit", "weight")) else f"{value:g}"
        mark = " (yours)" if field in overrides else ""
        lines.append(f"{names[field]:<13} {shown:>7}  {label}{mark}")
    mine = " (yours)" if "drift_threshold" in overrides else ""
    lines.append(f"{'drift':<13} {pct(drift):>7}  Rebalance band{mine}")
    return [
        f"<b>Alert limits</b> (defaults for a {escape(thresholds.label)} profile)",
        *pre_blocks(lines),
        "Change one with <code>/alerts set var 3%</code>; back to defaults with "
        "<code>/alerts reset</code>. Percent limits are in percent points: "
        "<code>0.5</code> is 0.5%, <code>3</code> is 3%.",
    ]


def performance_line(label: str, portfolio: pd.Series, benchmark: pd.Series, days: int) -> str:
    """Return of both series over the last ``days`` rows, and the difference."""
    if len(portfolio) <= days or len(benchmark) <= days:
        return f"{label}: not enough data"
    mine = float(portfolio.iloc[-1] / portfolio.iloc[-1 - days] - 1)
    index = float(benchmark.iloc[-1] / benchmark.iloc[-1 - days] - 1)
    return (
        f"{label}: portfolio {pct(mine)} vs S&amp;P 500 {pct(index)} "
        f"({(mine - index) * 100:+.1f} pp)"
    )


def chat_digest_blocks(
    title: str, weights: pd.Series, portfolio: pd.Series, benchmark: pd.Series, day: date
) -> list[str]:
    """A linked chat's weekly digest: weights and performance against the S&P 500."""
    lines = [f"{t:<6} {w:>7.1%}" for t, w in weights.sort_values(ascending=False).items()]
    months = max(round((len(portfolio) - 1) / 21), 1)
    return [
        f"<b>Weekly digest · {escape(title)}</b> · prices as of {day.isoformat()}",
        *pre_blocks(lines),
        "<b>Performance</b> (buy and hold at these weights)",
        performance_line("1 week", portfolio, benchmark, 5),
        performance_line(f"{months} months", portfolio, benchmark, len(portfolio) - 1),
        DISCLAIMER,
    ]
