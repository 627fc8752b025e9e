"""Walk-forward backtest: hand simulations, no look-ahead, drift bands, whole shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smallq.backtest import (
    BacktestResult,
    Policy,
    RebalanceKind,
    RebalanceRule,
    run_backtest,
)
from smallq.backtest.fast import FastPolicy
from smallq.errors import (
    DataFormatError,
    DataUnavailableError,
    InputError,
    InsufficientHistoryError,
    UnknownOptionError,
)

WEIGHTS = {"AAA": 0.5, "BBB": 0.3, "CCC": 0.2}


def random_prices(n_days: int = 90, seed: int = 1, start: str = "2021-01-04") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0005, 0.02, (n_days, len(WEIGHTS)))
    levels = np.array([50.0, 120.0, 33.0]) * np.cumprod(1 + steps, axis=0)
    return pd.DataFrame(levels, index=pd.bdate_range(start, periods=n_days), columns=list(WEIGHTS))


def fixed(weights: dict[str, float]) -> Policy:
    def policy(prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        return pd.Series(weights)

    return policy


def hand_simulation(
    prices: pd.DataFrame, weights: dict[str, float], rebalance_at: set[int], cost_rate: float
) -> list[float]:
    """Value-based book; post-cost equity found by bisection (the engine uses shares and a
    fixed point, so the two computations share nothing but the definitions)."""
    w = np.array([weights[c] for c in prices.columns])
    p = prices.to_numpy()
    values, cash, equity = np.zeros(len(w)), 1.0, []
    for k in range(len(p)):
        if k > 0:
            values = values * p[k] / p[k - 1]
        total = cash + values.sum()
        equity.append(total)
        if k in rebalance_at and k < len(p) - 1:
            low, high = 0.0, total
            for _ in range(200):  # solve post = total - c * sum|w post - values|
                mid = (low + high) / 2
                if mid - (total - cost_rate * np.abs(w * mid - values).sum()) > 0:
                    high = mid
                else:
                    low = mid
            post = (low + high) / 2
            values, cash = w * post, post * (1 - w.sum())
    return equity


def first_of_month_positions(index: pd.DatetimeIndex) -> set[int]:
    months = [(d.year, d.month) for d in index]
    return {0} | {k for k in range(1, len(index)) if months[k] != months[k - 1]}


# --------------------------------------------------------------------------- rules
@pytest.mark.parametrize(
    ("text", "kind", "threshold"),
    [
        ("weekly", RebalanceKind.WEEKLY, 0.0),
        (" Monthly ", RebalanceKind.MONTHLY, 0.0),
        ("drift:0.05", RebalanceKind.DRIFT, 0.05),
    ],
)
def test_rule_parsing(text: str, kind: RebalanceKind, threshold: float) -> None:
    rule = RebalanceRule.parse(text)
    assert (rule.kind, rule.threshold) == (kind, threshold)
    assert RebalanceRule.parse(str(rule)) == rule


@pytest.mark.parametrize("text", ["daily", "drift", "drift:0", "drift:1.5", "weekly:2", "drift:x"])
def test_bad_rules_are_rejected(text: str) -> None:
    with pytest.raises(UnknownOptionError):
        RebalanceRule.parse(text)


def test_calendar_dates_are_first_trading_days() -> None:
    index = pd.DatetimeIndex(
        ["2021-03-30", "2021-03-31", "2021-04-01", "2021-04-06", "2021-04-12", "2021-05-03"]
    )
    monthly = RebalanceRule.parse("monthly").calendar_dates(index)
    assert list(monthly) == list(index[[0, 2, 5]])
    weekly = RebalanceRule.parse("weekly").calendar_dates(index)  # Tue 30 Mar, Tue 6 Apr, ...
    assert list(weekly) == list(index[[0, 3, 4, 5]])


# --------------------------------------------------------------------------- hand simulations
@pytest.mark.parametrize("costs_bps", [0.0, 25.0])
def test_fixed_weights_equity_matches_a_hand_simulation(costs_bps: float) -> None:
    prices = random_prices()
    result = run_backtest(
        prices,
        fixed(WEIGHTS),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="monthly",
        costs_bps=costs_bps,
    )
    expected = hand_simulation(
        prices, WEIGHTS, first_of_month_positions(prices.index), costs_bps / 10_000
    )
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=0, atol=1e-12)
    assert result.equity.iloc[0] == 1.0
    assert [r.date for r in result.rebalances] == [
        prices.index[k] for k in sorted(first_of_month_positions(prices.index))
    ]
    if costs_bps:
        assert (
            result.equity.iloc[-1]
            < run_backtest(
                prices,
                fixed(WEIGHTS),
                start=prices.index[0],
                end=prices.index[-1],
                rebalance="monthly",
                costs_bps=0.0,
            ).equity.iloc[-1]
        )


def test_costs_are_bps_of_traded_value() -> None:
    prices = random_prices()
    result = run_backtest(
        prices,
        fixed(WEIGHTS),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="weekly",
        costs_bps=30.0,
    )
    for rebalance in result.rebalances:
        trades = [t for t in result.trades if t.date == rebalance.date]
        traded = sum(abs(t.value) for t in trades)
        assert rebalance.cost == pytest.approx(0.003 * traded, rel=1e-12)
        assert sum(t.cost for t in trades) == pytest.approx(rebalance.cost, rel=1e-12)
        pre_trade_equity = result.equity.loc[rebalance.date]
        assert rebalance.turnover == pytest.approx(traded / pre_trade_equity, rel=1e-12)
        pd.testing.assert_series_equal(
            rebalance.weights, pd.Series(WEIGHTS).loc[rebalance.weights.index], atol=1e-12
        )
    # buying from cash spends the post-cost equity E' = 1 / (1 + c)
    assert result.rebalances[0].turnover == pytest.approx(1 / 1.003, rel=1e-12)
    assert result.costs == pytest.approx(sum(r.cost for r in result.rebalances))
    assert result.turnover == pytest.approx(sum(r.turnover for r in result.rebalances))


def test_buy_and_hold_closed_form() -> None:
    """A drift band that never triggers holds the first purchase: a closed form."""
    prices = random_prices(60)
    cost_rate = 0.001
    result = run_backtest(
        prices,
        fixed(WEIGHTS),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="drift:0.99",
        costs_bps=10.0,
    )
    w = pd.Series(WEIGHTS)
    # the first purchase spends E' with E' = 1 - c E'  =>  E' = 1 / (1 + c)
    growth = (prices / prices.iloc[0]).mul(w, axis=1).sum(axis=1) / (1 + cost_rate)
    np.testing.assert_allclose(result.equity.iloc[1:], growth.iloc[1:], rtol=0, atol=1e-13)
    assert len(result.rebalances) == 1
    # weights drift with prices between rebalances
    drifted = (prices * w / prices.iloc[0]).div((prices * w / prices.iloc[0]).sum(axis=1), axis=0)
    np.testing.assert_allclose(result.weights.to_numpy(), drifted.to_numpy(), atol=1e-12)


def test_partial_investment_keeps_cash() -> None:
    prices = random_prices(40)
    result = run_backtest(
        prices,
        fixed({"AAA": 0.6}),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="monthly",
        costs_bps=0.0,
    )
    expected = hand_simulation(
        prices, {"AAA": 0.6, "BBB": 0.0, "CCC": 0.0}, first_of_month_positions(prices.index), 0.0
    )
    np.testing.assert_allclose(result.equity.to_numpy(), expected, atol=1e-12)
    assert result.cash.iloc[0] == pytest.approx(0.4)
    assert list(result.weights.columns) == ["AAA"]


# --------------------------------------------------------------------------- point in time
def test_changing_prices_after_a_rebalance_date_does_not_change_its_weights() -> None:
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2019-01-01", periods=400)
    prices = pd.DataFrame(
        100 * np.cumprod(1 + rng.normal(0.0004, 0.015, (400, 12)), axis=0),
        index=dates,
        columns=[f"S{i:02d}" for i in range(12)],
    )
    options = {"start": dates[150], "end": dates[-1], "rebalance": "weekly", "costs_bps": 5.0}
    base = run_backtest(prices, FastPolicy(lookback_days=120, max_weight=0.3), **options)
    cut = base.rebalances[len(base.rebalances) // 2].date
    changed = prices.copy()
    later = changed.index > cut
    changed.loc[later] *= np.exp(rng.normal(0, 0.05, (int(later.sum()), 12)))
    other = run_backtest(changed, FastPolicy(lookback_days=120, max_weight=0.3), **options)
    for ours, theirs in zip(base.rebalances, other.rebalances, strict=False):
        if ours.date > cut:
            break
        assert ours.date == theirs.date
        pd.testing.assert_series_equal(ours.target, theirs.target, check_exact=True)
    pd.testing.assert_series_equal(base.equity.loc[:cut], other.equity.loc[:cut])
    # the perturbation does matter afterwards (so the check above could fail)
    after = [(a, b) for a, b in zip(base.rebalances, other.rebalances, strict=True) if a.date > cut]
    assert any(not a.target.equals(b.target) for a, b in after)


def test_the_policy_never_sees_rows_after_the_decision_date() -> None:
    prices = random_prices(80)
    seen: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def spy(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        seen.append((history.index[-1], as_of))
        return pd.Series(WEIGHTS)

    run_backtest(prices, spy, start=prices.index[10], end=prices.index[-1], rebalance="weekly")
    assert seen and all(last == as_of for last, as_of in seen)
    assert seen[0][1] == prices.index[10]


# --------------------------------------------------------------------------- drift bands
def test_drift_band_triggers_when_total_drift_exceeds_the_threshold() -> None:
    # A gains 1% a day, B is flat; from 50/50 the drift is w_A - 0.5 and crosses 0.05 when
    # 1.01**k > 11/9, i.e. first at k = 21 (1.01**20 = 1.2202, 1.01**21 = 1.2324)
    n_days = 70
    dates = pd.bdate_range("2022-01-03", periods=n_days)
    prices = pd.DataFrame({"A": 1.01 ** np.arange(n_days), "B": np.ones(n_days)}, index=dates)
    result = run_backtest(
        prices,
        fixed({"A": 0.5, "B": 0.5}),
        start=dates[0],
        end=dates[-1],
        rebalance="drift:0.05",
        costs_bps=0.0,
    )
    assert [r.date for r in result.rebalances] == [dates[0], dates[21], dates[42], dates[63]]
    assert result.weights["A"].max() <= 0.55 + 1e-12  # post-trade weights never exceed the band
    tighter = run_backtest(
        prices,
        fixed({"A": 0.5, "B": 0.5}),
        start=dates[0],
        end=dates[-1],
        rebalance="drift:0.02",
        costs_bps=0.0,
    )
    assert tighter.rebalances[1].date == dates[9]  # 1.01**8 = 1.0829 < 13/12 < 1.01**9


# --------------------------------------------------------------------------- whole shares
@pytest.mark.parametrize("capital", [1_000.0, 10_000.0, 123_456.0])
def test_whole_share_rounding_never_spends_more_than_equity(capital: float) -> None:
    prices = random_prices(120, seed=5) * np.array([4.0, 3.0, 9.0])  # 130-500 per share
    result = run_backtest(
        prices,
        fixed(WEIGHTS),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="weekly",
        costs_bps=50.0,
        capital=capital,
    )
    assert (result.cash >= 0).all()
    assert all(float(t.shares).is_integer() for t in result.trades)
    # replay the trades: cash never negative, and holdings + cash equal the equity curve
    shares = pd.Series(0.0, index=prices.columns)
    cash = capital
    for day in prices.index:
        value = cash + float((shares * prices.loc[day]).sum())
        assert value == pytest.approx(result.equity.loc[day] * capital, rel=1e-12)
        for trade in (t for t in result.trades if t.date == day):
            shares[trade.ticker] += trade.shares
            cash -= trade.value + trade.cost
        assert cash >= -1e-9
    assert result.capital == capital


# --------------------------------------------------------------------------- inputs and errors
def test_inputs_are_not_mutated_and_benchmark_starts_at_one() -> None:
    prices = random_prices(50)
    bench = pd.Series(np.linspace(300, 330, 50), prices.index, name="SPY")
    before_prices, before_bench = prices.copy(), bench.copy()
    result = run_backtest(
        prices,
        fixed(WEIGHTS),
        start="2021-01-10",
        end="2021-03-01",
        rebalance="weekly",
        benchmark=bench,
    )
    pd.testing.assert_frame_equal(prices, before_prices)
    pd.testing.assert_series_equal(bench, before_bench)
    assert result.equity.index[0] == pd.Timestamp("2021-01-11")  # snapped to a trading day
    assert result.benchmark_equity is not None
    expected = bench.loc[result.equity.index] / bench.loc[result.equity.index[0]]
    np.testing.assert_allclose(result.benchmark_equity.to_numpy(), expected.to_numpy())
    data = result.to_dict()
    assert data["equity"]["2021-01-11"] == 1.0 and data["benchmark_equity"]["2021-01-11"] == 1.0
    assert set(data["rebalances"][0]) == {"date", "weights", "turnover", "cost"}


def test_metrics_need_a_benchmark() -> None:
    prices = random_prices(30)
    result = run_backtest(
        prices, fixed(WEIGHTS), start=prices.index[0], end=prices.index[-1], rebalance="weekly"
    )
    assert isinstance(result, BacktestResult) and result.benchmark_equity is None
    with pytest.raises(DataUnavailableError):
        result.metrics()


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        ({"ZZZ": 1.0}, DataUnavailableError),
        ({"AAA": 0.7, "BBB": 0.7}, InputError),
        ({"AAA": 1.2, "BBB": -0.2}, InputError),
        ({"AAA": float("nan")}, InputError),
    ],
)
def test_invalid_policy_weights_raise(weights: dict[str, float], error: type) -> None:
    prices = random_prices(20)
    with pytest.raises(error):
        run_backtest(
            prices, fixed(weights), start=prices.index[0], end=prices.index[-1], rebalance="weekly"
        )


def test_bad_inputs_raise() -> None:
    prices = random_prices(20)
    kwargs = {"start": prices.index[0], "end": prices.index[-1], "rebalance": "weekly"}
    with pytest.raises(DataFormatError):
        run_backtest(prices.iloc[::-1], fixed(WEIGHTS), **kwargs)
    with pytest.raises(InsufficientHistoryError):
        run_backtest(
            prices, fixed(WEIGHTS), start=prices.index[5], end=prices.index[5], rebalance="weekly"
        )
    with pytest.raises(InputError):
        run_backtest(prices, fixed(WEIGHTS), costs_bps=-1.0, **kwargs)
    with pytest.raises(InputError):
        run_backtest(prices, fixed(WEIGHTS), capital=0.0, **kwargs)
    unlisted = prices.copy()
    unlisted.loc[: prices.index[3], "CCC"] = np.nan
    with pytest.raises(DataUnavailableError):
        run_backtest(unlisted, fixed(WEIGHTS), **kwargs)
    late = pd.Series(1.0, prices.index[5:])
    with pytest.raises(DataUnavailableError):
        run_backtest(prices, fixed(WEIGHTS), benchmark=late, **kwargs)


def test_cash_note_only_when_whole_shares_leave_most_of_the_capital_in_cash() -> None:
    prices = random_prices() * 1_000  # a few thousand per share: 500 buys almost nothing
    small = run_backtest(
        prices,
        fixed(WEIGHTS),
        start=prices.index[0],
        end=prices.index[-1],
        rebalance="monthly",
        capital=500.0,
    )
    fractional = run_backtest(
        prices, fixed(WEIGHTS), start=prices.index[0], end=prices.index[-1], rebalance="monthly"
    )
    assert small.cash.iloc[:-1].mean() >= 0.25
    assert small.cash_notes("USD") == [
        f"With 500.00 USD of capital, whole shares left {small.cash.iloc[:-1].mean():.0%} of "
        "the portfolio in cash on average; add capital or backtest without --capital "
        "(fractional shares)."
    ]
    assert fractional.cash_notes("USD") == []
