"""plan_rebalance / needs_rebalance against hand computations and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smallq.errors import DataUnavailableError, InputError
from smallq.rebalance import needs_rebalance, plan_rebalance, plan_to_shares
from smallq.types import Side


def s(**kw: float) -> pd.Series:
    return pd.Series(kw, dtype=float)


def test_buy_is_scaled_down_so_fees_fit_in_cash() -> None:
    # V = 10*100 + 1000 = 2000; targets: AAA 10 sh, BBB floor(1000/50) = 20 sh.
    # 20 BBB cost 1000 * 1.001 = 1001 > 1000 cash -> floor(20 * 1000/1001) = 19 shares.
    plan = plan_rebalance(s(AAA=10), 1000.0, s(AAA=0.5, BBB=0.5), s(AAA=100, BBB=50), costs_bps=10)
    assert [(o.ticker, o.side, o.shares) for o in plan.orders] == [("BBB", Side.BUY, 19)]
    (order,) = plan.orders
    assert order.value == pytest.approx(950.0, abs=1e-9)
    assert order.fee == pytest.approx(0.95, abs=1e-9)
    assert plan.cash_after == pytest.approx(1000 - 950 - 0.95, abs=1e-9)
    assert plan.fees == pytest.approx(0.95, abs=1e-9)
    # drift: AAA on target, BBB 0 vs 0.5, cash 0.5 vs 0 -> (0 + 0.5 + 0.5) / 2
    assert plan.drift == pytest.approx(0.5, abs=1e-12)
    assert plan.turnover == pytest.approx(950 / (2 * 2000), abs=1e-12)
    v_after = 2000 - 0.95
    expected_after = (abs(1000 / v_after - 0.5) + abs(950 / v_after - 0.5) + 49.05 / v_after) / 2
    assert plan.drift_after == pytest.approx(expected_after, abs=1e-12)
    assert plan.value_before == pytest.approx(2000.0)


def test_sells_first_fund_the_buys() -> None:
    # V = 3000. Targets: AAA floor(1000/100) = 10, BBB floor(2000/40) = 50.
    # Sell 20 AAA: 2000 - 5 fee (25 bps) = 1995 available.
    # 50 BBB cost 2005 > 1995 -> floor(50 * 1995/2005) = 49 -> 1964.90, spare 30.10 < 40.10.
    plan = plan_rebalance(s(AAA=30), 0.0, s(AAA=1 / 3, BBB=2 / 3), s(AAA=100, BBB=40), costs_bps=25)
    assert [(o.ticker, o.side, o.shares) for o in plan.orders] == [
        ("AAA", Side.SELL, 20),
        ("BBB", Side.BUY, 49),
    ]
    assert plan.fees == pytest.approx(5.0 + 4.9, abs=1e-9)
    assert plan.cash_after == pytest.approx(1995 - 1964.9, abs=1e-9)
    assert plan.turnover == pytest.approx((2000 + 1960) / 6000, abs=1e-12)
    assert plan.sells[0].ticker == "AAA" and plan.buys[0].ticker == "BBB"


def test_leftover_cash_buys_back_single_shares_largest_shortfall_first() -> None:
    # Wanted 3 CCC @100 and 3 DDD @100 = 600 with 550 cash and no costs.
    # Scaled: floor(3 * 550/600) = 2 each (400), spare 150 -> one more CCC (ties by name), 50 left.
    plan = plan_to_shares(s(), 550.0, s(CCC=3, DDD=3), s(CCC=100, DDD=100), costs_bps=0)
    assert {o.ticker: o.shares for o in plan.orders} == {"CCC": 3, "DDD": 2}
    assert plan.cash_after == pytest.approx(50.0)


def test_min_trade_value_skips_small_trades_but_closes_exits() -> None:
    # V = 1*10 (EXIT) + 5*100 (AAA) + 500 cash = 1010; target AAA 0.5 -> floor(505/100) = 5 (no
    # trade), BBB 0.5 -> floor(505/600) = 0. Put a small buy in: CCC 0.004 -> floor(4.04/2) = 2 sh.
    plan = plan_rebalance(
        s(EXIT=1, AAA=5),
        500.0,
        s(AAA=0.5, CCC=0.004),
        s(EXIT=10, AAA=100, CCC=2),
        costs_bps=0,
        min_trade_value=50,
    )
    assert [(o.ticker, o.side, o.shares) for o in plan.orders] == [("EXIT", Side.SELL, 1)]
    assert plan.cash_after == pytest.approx(510.0)


def test_no_orders_when_on_target() -> None:
    plan = plan_rebalance(
        s(AAA=5, BBB=10), 0.0, s(AAA=0.5, BBB=0.5), s(AAA=20, BBB=10), costs_bps=5
    )
    assert plan.orders == ()
    assert plan.drift == pytest.approx(0.0, abs=1e-12)
    assert plan.turnover == 0.0


def test_invariants_on_random_accounts() -> None:
    rng = np.random.default_rng(7)
    tickers = [f"T{i}" for i in range(8)]
    for _ in range(100):
        prices = pd.Series(rng.uniform(1, 500, len(tickers)), index=tickers)
        held = pd.Series(rng.integers(0, 50, len(tickers)), index=tickers)
        raw = pd.Series(rng.uniform(0, 1, len(tickers)) * (rng.uniform(0, 1, 8) > 0.3), tickers)
        target = raw / raw.sum() if raw.sum() > 0 else raw
        cash = float(rng.uniform(0, 5000))
        plan = plan_rebalance(held, cash, target, prices, costs_bps=float(rng.uniform(0, 50)))
        assert plan.cash_after >= 0
        sides = [o.side for o in plan.orders]
        assert sides == sorted(sides, key=lambda x: x is Side.BUY)  # sells first
        after = held.copy()
        for o in plan.orders:
            assert isinstance(o.shares, int) and o.shares > 0
            after[o.ticker] += o.shares if o.side is Side.BUY else -o.shares
        assert (after >= 0).all()
        value_after = float((after * prices).sum()) + plan.cash_after
        assert value_after == pytest.approx(plan.value_before - plan.fees, rel=1e-9)
        assert plan.drift_after <= plan.drift + 0.05


def test_errors() -> None:
    with pytest.raises(DataUnavailableError) as info:
        plan_rebalance(s(AAA=1), 0.0, s(BBB=1.0), s(AAA=10), costs_bps=0)
    assert info.value.tickers == ("BBB",)
    with pytest.raises(InputError):
        plan_rebalance(s(), -1.0, s(AAA=1.0), s(AAA=10), costs_bps=0)
    with pytest.raises(InputError):
        plan_rebalance(s(), 10.0, s(AAA=0.8, BBB=0.8), s(AAA=1, BBB=1), costs_bps=0)
    with pytest.raises(InputError):
        plan_to_shares(s(AAA=1.5), 10.0, s(AAA=1), s(AAA=1), costs_bps=0)


@pytest.mark.parametrize(
    ("drift", "threshold", "calendar", "expected"),
    [
        (0.05, 0.05, False, True),
        (0.049, 0.05, False, False),
        (0.01, 0.05, True, True),
        (0.0, 0.05, True, False),
        (0.2, 0.05, True, True),
    ],
)
def test_needs_rebalance(drift: float, threshold: float, calendar: bool, expected: bool) -> None:
    assert needs_rebalance(drift, threshold, calendar) is expected


def test_needs_rebalance_rejects_bad_threshold() -> None:
    with pytest.raises(InputError):
        needs_rebalance(0.1, 0.0, False)
    with pytest.raises(InputError):
        needs_rebalance(float("nan"), 0.1, False)
