"""The lean account check equals the pandas path: alerts, value and plan, on random accounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from smallq.alerts import check_alerts, thresholds_for
from smallq.allocation import allocate_shares
from smallq.assessment import AccountCheck, MarketSnapshot, Target, assess_account
from smallq.data.sample import SampleSource
from smallq.errors import SmallQError
from smallq.measures import account_value
from smallq.pipeline import build_portfolio, rebuild_target
from smallq.profile import make_profile
from smallq.rebalance import needs_rebalance, plan_rebalance
from smallq.types import RiskLevel

COSTS = 10.0


@pytest.fixture(scope="module")
def source() -> SampleSource:
    return SampleSource()


@pytest.fixture(scope="module")
def target(source: SampleSource) -> Target:
    profile = make_profile(sectors=["Information Technology", "Health Care"], capital=10_000)
    return rebuild_target(profile, source, today=date(2022, 12, 30))


def slow_path(closes, shares, cash, th, drift_threshold, calendar_due, target, day, min_trade):
    """What bot.services.paper.assess_blocking computes, on the same inputs."""
    held = [t for t in shares.index if shares[t] != 0]
    history = closes.reindex(columns=[t for t in held if t in closes.columns])
    history = history.loc[:, history.notna().any()]
    alerts = check_alerts(history, shares, cash, as_of=day, thresholds=th)
    last = history.ffill().iloc[-1].dropna() if not history.empty else pd.Series(dtype=float)
    value = account_value(shares, last, cash)
    prices = target.prices.combine_first(last)
    try:  # the full build allocates the account's value first (it may be below one share)
        allocate_shares(target.weights, target.prices, max(value, 1.0), fractional=False)
        plan = plan_rebalance(
            shares, cash, target.weights, prices, costs_bps=COSTS, min_trade_value=min_trade
        )
    except SmallQError as exc:
        return alerts, value, None, False, exc.user_message()
    signal = bool(plan.orders) and needs_rebalance(plan.drift, drift_threshold, calendar_due)
    return alerts, value, plan, signal, None


def random_account(rng, tickers):
    k = int(rng.integers(1, 12))
    names = list(rng.choice([*tickers, "GONE"], size=k, replace=False))
    counts = [int(rng.integers(0, 80)) if rng.random() > 0.1 else 0 for _ in names]
    return tuple(zip(names, counts, strict=True)), float(rng.choice([0.0, 37.5, 2_500.0, 1e5]))


@pytest.mark.parametrize("stale_days", [0, 10])
def test_lean_check_equals_the_pandas_path(source, target, stale_days) -> None:
    day = source.last_date() + timedelta(days=stale_days)
    tickers = list(source.fetch_companies().index)
    closes = source.fetch_prices(tickers, day - timedelta(days=550), day).close
    market = MarketSnapshot.from_closes(closes, day)
    rng = np.random.default_rng(3)
    for case in range(150):
        holdings, cash = random_account(rng, tickers)
        level = RiskLevel(int(rng.integers(1, 6)))
        tight = {"var_limit": 0.01, "vol_spike_ratio": 1.0, "drawdown_limit": 0.02}
        th = thresholds_for(level, tight if case % 3 == 0 else {})
        drift_threshold = float(rng.choice([0.02, 0.05, 0.5]))
        calendar_due = bool(case % 2)
        min_trade = float(rng.choice([0.0, 250.0]))
        shares = pd.Series(dict(holdings), dtype="int64")
        alerts, value, plan, signal, note = slow_path(
            closes, shares, cash, th, drift_threshold, calendar_due, target, day, min_trade
        )
        check = AccountCheck(holdings, cash, th, drift_threshold, calendar_due)
        lean = assess_account(check, market, target, costs_bps=COSTS, min_trade_value=min_trade)
        assert lean.alerts == alerts, case
        assert lean.value == value, case
        assert lean.signal == signal, case
        if plan is None:
            assert lean.plan is None and lean.notes == (f"I couldn't rebuild the target: {note}",)
            continue
        assert lean.plan is not None
        assert lean.plan.orders == plan.orders, case
        for name in ("drift", "drift_after", "fees", "turnover", "cash_after", "value_before"):
            assert getattr(lean.plan, name) == getattr(plan, name), (case, name)
        for name in ("current_weights", "target_weights", "post_weights"):
            pd.testing.assert_series_equal(
                getattr(lean.plan, name).sort_index(), getattr(plan, name).sort_index(),
                check_names=False, check_index_type=False, rtol=0, atol=0,
            )  # fmt: skip


def test_rebuilt_target_is_the_full_builds_weights(source, target) -> None:
    profile = make_profile(sectors=["Information Technology", "Health Care"], capital=10_000)
    report = build_portfolio(replace(profile, capital=1234.5), source, today=date(2022, 12, 30))
    pd.testing.assert_series_equal(target.weights, report.weights, rtol=0, atol=1e-12)
    pd.testing.assert_series_equal(target.prices, report.allocation.prices, check_names=False)
    assert target.error is None


def test_a_failed_rebuild_is_a_note_for_every_account(source) -> None:
    day = source.last_date()
    closes = source.fetch_prices(["AAPL"], day - timedelta(days=550), day).close
    market = MarketSnapshot.from_closes(closes, day)
    check = AccountCheck((("AAPL", 3),), 10.0, thresholds_for(RiskLevel.MODERATE, {}), 0.05, False)
    lean = assess_account(check, market, Target(error="No data."), costs_bps=COSTS)
    assert lean.plan is None and lean.notes == ("I couldn't rebuild the target: No data.",)
    assert lean.value == 10.0 + 3 * float(closes["AAPL"].iloc[-1])
