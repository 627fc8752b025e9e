"""Paper trading and account checks, without Telegram types.

* :func:`accept_portfolio`: "Accept (paper trade)" on a build → trades at the latest prices.
* :func:`assess_blocking`: rebuild the target with current data (the full build), compare it
  with the holdings (whole-share orders, costs, drift, the rebalance rule) and run the risk
  alerts: one user at a time (/rebalance). The weekly sweep checks many users at once on the
  lean path (:mod:`bot.scheduler.sweep`, :mod:`smallq.assessment`) with the same messages.
* :func:`value_account`: positions at the latest prices for /holdings.

Engine and data work runs in ``deps.executor``; storage is read and written on the calling
(event-loop) thread. A static data set (the offline sample) has no "today": its last date is
used as the market date, so its prices do not look stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

import pandas as pd
import sqlite_utils

from bot.deps import Deps
from smallq.alerts import AlertThresholds, check_alerts, thresholds_for

# the account check's result is the engine's (the sweep's lean path returns the same type)
from smallq.assessment import Assessment as Assessment
from smallq.data.base import PriceSource
from smallq.errors import DataError, DataUnavailableError, SmallQError
from smallq.measures import account_value
from smallq.models import Profile, RebalancePlan
from smallq.rebalance import needs_rebalance, plan_rebalance, plan_to_shares
from smallq.types import PlanOutcome, Side
from storage.ledger import LedgerRepository, PaperAccount, TradeRecord
from storage.portfolios import HoldingRecord
from storage.subscriptions import ThresholdRepository

HISTORY_DAYS = 550
QUOTE_DAYS = 30
DRIFT_KEY = "drift_threshold"


def market_date(source: PriceSource, today: date) -> date:
    """``today``, or a static data set's last date when that is earlier."""
    last = source.last_date() if hasattr(source, "last_date") else None
    return today if last is None else min(today, last)


def fetch_closes(
    source: PriceSource, tickers: list[str], start: date, end: date
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Closes of the tickers that have prices, and the tickers that have none.

    Raises
    ------
    DataError
        When the source fails for another reason than unknown tickers.
    """
    wanted, missing = list(dict.fromkeys(tickers)), []
    while wanted:
        try:
            close = source.fetch_prices(wanted, start, end).close
        except DataUnavailableError as exc:
            unknown = [t for t in exc.tickers if t in wanted]
            if not unknown or len(unknown) == len(wanted):
                missing += wanted
                break
            missing += unknown
            wanted = [t for t in wanted if t not in unknown]
            continue
        gone = [t for t in wanted if t not in close.columns or close[t].dropna().empty]
        return close.drop(columns=gone, errors="ignore"), tuple(missing + gone)
    return pd.DataFrame(), tuple(missing)


@dataclass(frozen=True, slots=True)
class Quote:
    """Latest prices (Series by ticker), their date, and tickers without a price."""

    prices: pd.Series
    as_of: date
    missing: tuple[str, ...]


def latest_prices(source: PriceSource, tickers: list[str], today: date) -> Quote:
    """The last close of each ticker within ``QUOTE_DAYS`` of the market date."""
    end = market_date(source, today)
    close, missing = fetch_closes(source, tickers, end - timedelta(days=QUOTE_DAYS), end)
    if close.empty:
        return Quote(pd.Series(dtype=float), end, missing)
    last = close.ffill().iloc[-1].dropna()
    return Quote(last.astype(float), close.index[-1].date(), missing)


# --------------------------------------------------------------------------- accept
class AcceptStatus(StrEnum):
    """What pressing Accept did."""

    RECORDED = "recorded"
    ALREADY = "already"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class AcceptOutcome:
    """The trades recorded for an accepted portfolio and the account after them."""

    status: AcceptStatus
    plan: RebalancePlan | None = None
    account: PaperAccount | None = None
    trade_date: date | None = None
    notes: tuple[str, ...] = ()


async def accept_portfolio(deps: Deps, user_id: int, portfolio_id: int) -> AcceptOutcome:
    """Record paper trades that turn the user's account into the accepted build's shares.

    A first account is funded with the build's capital. An existing account sells what the
    build does not hold and buys up to its share counts as far as the cash allows.
    """
    record = deps.portfolios().get(portfolio_id)
    if record is None or record.user_id != user_id:
        return AcceptOutcome(AcceptStatus.NOT_FOUND)
    ledger = LedgerRepository(deps.db())
    reference = f"accept:{portfolio_id}"
    if ledger.has_reference(user_id, reference):
        return AcceptOutcome(AcceptStatus.ALREADY, account=ledger.account(user_id))
    target = pd.Series({h.ticker: int(h.shares) for h in record.holdings if h.shares > 0})
    account = ledger.account(user_id)
    held = list(account.shares.index) if account else []
    notes: list[str] = []
    cut = whole_share_cuts(record.holdings)
    if cut:
        notes.append(
            "The paper account holds whole shares: the fractions stay in cash "
            f"({', '.join(cut)})."
        )
    try:
        quote = await deps.run_blocking(
            latest_prices, deps.source(), [*target.index, *held], deps.today()
        )
        prices, trade_date = quote.prices, quote.as_of
    except DataError:
        quote, prices, trade_date = None, pd.Series(dtype=float), record.as_of
    stored = pd.Series({h.ticker: h.price for h in record.holdings})
    if quote is None or quote.missing:
        notes.append("Some latest prices were unavailable: the build's prices were used.")
        prices = prices.combine_first(stored)
    cash = account.cash if account else record.capital
    plan = plan_to_shares(
        account.shares if account else pd.Series(dtype="int64"), cash, target, prices,
        costs_bps=deps.scheduler.costs_bps,
    )  # fmt: skip
    if account is not None:
        notes.append("Your paper account already had holdings: it now follows this portfolio.")
    short = shares_short(account.shares if account else None, plan, target)
    if short:
        notes.append(
            f"Not every share shown could be bought with the cash at these prices and fees: "
            f"{', '.join(short)}."
        )

    def store(db: sqlite_utils.Database) -> PaperAccount | None:
        return LedgerRepository(db).record_trades(
            user_id, plan.orders, trade_date=trade_date, reference=reference,
            opening_cash=None if account else record.capital, currency=record.currency,
            portfolio_id=portfolio_id, expected_version=account.version if account else None,
            once=True,
        )  # fmt: skip

    after = await deps.run_storage(store)
    if after is None:
        return AcceptOutcome(AcceptStatus.ALREADY, account=ledger.account(user_id))
    return AcceptOutcome(AcceptStatus.RECORDED, plan, after, trade_date, tuple(notes))


def whole_share_cuts(holdings: Sequence[HoldingRecord]) -> tuple[str, ...]:
    """``"AAPL 3.4567 → 3"`` for each holding of a fractional build with a fractional part."""
    return tuple(
        f"{h.ticker} {h.shares:.4f} → {int(h.shares)}"
        for h in holdings
        if h.shares > 0 and h.shares - int(h.shares) > 1e-9
    )


def shares_short(
    current: pd.Series | None, plan: RebalancePlan, target: pd.Series
) -> tuple[str, ...]:
    """``"AMD 38 of 39"`` for each ticker the orders leave below the build's share count.

    A build's shares leave room for the fees at its own prices (``purchase_costs_bps``), so
    this is empty unless prices rose since the build or the account's cash is short.
    """
    after = (current if current is not None else pd.Series(dtype="int64")).astype(int).to_dict()
    for order in plan.orders:
        step = order.shares if order.side is Side.BUY else -order.shares
        after[order.ticker] = after.get(order.ticker, 0) + step
    return tuple(
        f"{ticker} {after.get(ticker, 0)} of {int(wanted)}"
        for ticker, wanted in target.items()
        if after.get(ticker, 0) < wanted
    )


# --------------------------------------------------------------------------- assess
@dataclass(frozen=True, slots=True)
class AssessInputs:
    """What :func:`assess_blocking` needs, read from storage on the loop thread."""

    profile: Profile
    shares: pd.Series
    cash: float
    thresholds: AlertThresholds
    drift_threshold: float
    calendar_due: bool
    #: the account version these holdings were read at; a plan applies only on top of it
    account_version: int = 0


def assess_inputs(deps: Deps, user_id: int, *, calendar_due: bool) -> AssessInputs | None:
    """Read the profile, account and thresholds; ``None`` without a profile or account."""
    profile = deps.users().get_profile(user_id)
    account = LedgerRepository(deps.db()).account(user_id)
    if profile is None or account is None:
        return None
    overrides = ThresholdRepository(deps.db()).overrides(user_id)
    drift = overrides.pop(DRIFT_KEY, deps.scheduler.drift_threshold)
    return AssessInputs(
        profile, account.shares, account.cash, thresholds_for(profile.risk_level, overrides),
        drift, calendar_due, account.version,
    )  # fmt: skip


async def save_signal_plan(
    deps: Deps, user_id: int, inputs: AssessInputs, assessment: Assessment
) -> str | None:
    """Store the assessment's plan when it signals; return the plan id for the buttons.

    The plan is tied to the account version the holdings were read at, so Apply refuses it
    if a trade happened in between.
    """
    plan = assessment.plan
    if not assessment.signal or plan is None:
        return None
    now = deps.clock()
    plan_id: str = await deps.run_storage(
        lambda db: LedgerRepository(db).save_plan(
            user_id,
            plan,
            base_version=inputs.account_version,
            trade_date=assessment.as_of,
            now=now,
            ttl=deps.scheduler.plan_ttl,
        )
    )
    return plan_id


def check_holdings_blocking(deps: Deps, inputs: AssessInputs) -> tuple[Assessment, pd.Series]:
    """Risk alerts and value of the holdings, and their latest prices (worker thread)."""
    day = market_date(deps.source(), deps.today())
    held = [str(t) for t in inputs.shares[inputs.shares != 0].index]
    history, _ = fetch_closes(deps.source(), held, day - timedelta(days=HISTORY_DAYS), day)
    alerts = check_alerts(
        history, inputs.shares, inputs.cash, as_of=day, thresholds=inputs.thresholds
    )
    last = history.ffill().iloc[-1].dropna() if not history.empty else pd.Series(dtype=float)
    value = account_value(inputs.shares, last, inputs.cash)
    return Assessment(day, value, alerts, None, False, inputs.drift_threshold), last


def assess_blocking(deps: Deps, inputs: AssessInputs) -> Assessment:
    """Alerts on the holdings, then the target rebuilt with current data (worker thread)."""
    base, last = check_holdings_blocking(deps, inputs)
    try:
        profile = replace(inputs.profile, capital=max(base.value, 1.0), as_of=None)
        report = deps.build_portfolio(
            profile, deps.source(), today=deps.today(), params=deps.params
        )
        prices = report.allocation.prices.combine_first(last)
        plan = plan_rebalance(
            inputs.shares, inputs.cash, report.weights, prices,
            costs_bps=deps.scheduler.costs_bps, min_trade_value=deps.scheduler.min_trade_value,
        )  # fmt: skip
    except SmallQError as exc:
        return replace(base, notes=(f"I couldn't rebuild the target: {exc.user_message()}",))
    signal = bool(plan.orders) and needs_rebalance(
        plan.drift, inputs.drift_threshold, inputs.calendar_due
    )
    return replace(base, plan=plan, signal=signal)


@dataclass(frozen=True, slots=True)
class Valuation:
    """Positions at the latest prices for /holdings."""

    account: PaperAccount
    prices: pd.Series
    as_of: date | None
    missing: tuple[str, ...]

    @property
    def positions_value(self) -> float:
        """Sum of shares times the latest price (positions without a price count 0)."""
        return account_value(self.account.shares, self.prices)


async def value_account(deps: Deps, user_id: int) -> Valuation | None:
    """The user's account at the latest prices, or ``None`` without an account."""
    account = LedgerRepository(deps.db()).account(user_id)
    if account is None:
        return None
    tickers = [t for t, _ in account.positions]
    if not tickers:
        return Valuation(account, pd.Series(dtype=float), None, ())
    try:
        quote = await deps.run_blocking(latest_prices, deps.source(), tickers, deps.today())
    except DataError:
        return Valuation(account, pd.Series(dtype=float), None, tuple(tickers))
    return Valuation(account, quote.prices, quote.as_of, quote.missing)


# --------------------------------------------------------------------------- ledger reads and plans
def recent_trades(deps: Deps, user_id: int, limit: int) -> list[TradeRecord]:
    """The user's latest paper trades, newest first."""
    return LedgerRepository(deps.db()).trades(user_id, limit)


async def decide_plan(deps: Deps, plan_id: str, user_id: int, *, apply: bool) -> PlanOutcome:
    """Apply or skip a stored rebalance plan (once, by its owner, while it is fresh)."""
    now = deps.clock()
    outcome, _ = await deps.run_storage(
        lambda db: LedgerRepository(db).decide_plan(plan_id, user_id, apply=apply, now=now)
    )
    return outcome
