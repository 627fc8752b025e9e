"""Alert rules against hand computations."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.alerts import (
    RISK_LIMITS,
    AlertKind,
    check_alerts,
    parse_threshold,
    thresholds_for,
)
from smallq.errors import InputError
from smallq.measures import account_values
from smallq.types import RiskLevel

LOOSE = thresholds_for(
    RiskLevel.AGGRESSIVE,
    {
        "var_limit": 0.5,
        "cvar_limit": 0.5,
        "drawdown_limit": 0.9,
        "vol_spike_ratio": 10.0,
        "min_effective_holdings": 1.0,
        "max_weight": 1.0,
        "stale_days": 30,
    },
)


def prices_from_returns(returns: np.ndarray, ticker: str = "AAA", end: str = "2024-06-28"):
    levels = 100.0 * np.cumprod(np.r_[1.0, 1.0 + returns])
    index = pd.bdate_range(end=end, periods=len(levels))
    return pd.DataFrame({ticker: levels}, index=index)


def kinds(alerts) -> set[AlertKind]:
    return {a.kind for a in alerts}


def test_var_alert_matches_order_statistic() -> None:
    # 100 returns: 94 x +0.1%, 3 x -5%, 3 x -8%. Losses ascending: index k-1 = ceil(95)-1 = 94
    # is the first 5% loss -> VaR = 5%; CVaR = mean of losses >= 5% = (3*5 + 3*8)/6 = 6.5%.
    returns = np.r_[np.full(94, 0.001), [-0.05] * 3, [-0.08] * 3]
    np.random.default_rng(0).shuffle(returns)
    prices = prices_from_returns(returns)
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "var_limit": 0.045})
    alerts = check_alerts(
        prices, pd.Series({"AAA": 10}), 0.0, as_of=date(2024, 6, 28), thresholds=th
    )
    (alert,) = alerts
    assert alert.kind is AlertKind.VAR
    assert alert.value == pytest.approx(0.05, abs=1e-12)
    assert alert.limit == 0.045
    assert "5.0%" in alert.message and "/alerts set var" in alert.message
    # VaR under its limit but CVaR over its limit -> CVaR alert with the hand value
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "var_limit": 0.06, "cvar_limit": 0.06})
    (alert,) = check_alerts(
        prices, pd.Series({"AAA": 10}), 0.0, as_of=date(2024, 6, 28), thresholds=th
    )
    assert alert.kind is AlertKind.CVAR
    assert alert.value == pytest.approx(0.065, abs=1e-12)


def _loose() -> dict[str, float]:
    return {
        f: getattr(LOOSE, f)
        for f in (
            "var_limit",
            "cvar_limit",
            "drawdown_limit",
            "vol_spike_ratio",
            "min_effective_holdings",
            "max_weight",
            "stale_days",
        )
    }


def test_drawdown_is_current_fall_from_window_high_with_cash() -> None:
    prices = pd.DataFrame(
        {"AAA": [100.0, 120.0, 90.0]}, index=pd.bdate_range("2024-01-01", periods=3)
    )
    # value = 10 * price + 300: 1300, 1500, 1200 -> 1 - 1200/1500 = 20%
    values = account_values(pd.Series({"AAA": 10}), prices, 300.0)
    assert values.tolist() == [1300.0, 1500.0, 1200.0]
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "drawdown_limit": 0.19})
    (alert,) = check_alerts(
        prices, pd.Series({"AAA": 10}), 300.0, as_of=date(2024, 1, 3), thresholds=th
    )
    assert alert.kind is AlertKind.DRAWDOWN
    assert alert.value == pytest.approx(0.2, abs=1e-12)
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "drawdown_limit": 0.2})
    assert (
        check_alerts(prices, pd.Series({"AAA": 10}), 300.0, as_of=date(2024, 1, 3), thresholds=th)
        == ()
    )


def test_vol_spike_ratio_of_short_to_long_std() -> None:
    calm = np.tile([0.005, -0.005], 120)  # 240 days
    wild = np.tile([0.03, -0.03], 6)  # 12 days
    returns = np.r_[calm, wild, np.tile([0.005, -0.005], 5)]  # 262 returns
    prices = prices_from_returns(returns)
    recovered = prices["AAA"].pct_change().dropna()
    expected = recovered.iloc[-21:].std(ddof=1) / recovered.iloc[-252:].std(ddof=1)
    assert expected > 2  # the construction is a spike
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "vol_spike_ratio": 2.0})
    (alert,) = check_alerts(
        prices, pd.Series({"AAA": 1}), 0.0, as_of=date(2024, 6, 28), thresholds=th
    )
    assert alert.kind is AlertKind.VOL_SPIKE
    assert alert.value == pytest.approx(expected, rel=1e-9)


def test_concentration_max_weight_and_effective_holdings() -> None:
    index = pd.bdate_range("2024-01-01", periods=3)
    prices = pd.DataFrame({"A": [10.0] * 3, "B": [10.0] * 3, "C": [10.0] * 3}, index=index)
    shares = pd.Series({"A": 60, "B": 20, "C": 20})  # 600, 200, 200 of a 1000 + 0 cash account
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "max_weight": 0.5})
    (alert,) = check_alerts(prices, shares, 0.0, as_of=date(2024, 1, 3), thresholds=th)
    assert (alert.kind, alert.tickers) == (AlertKind.CONCENTRATION, ("A",))
    assert alert.value == pytest.approx(0.6)
    # with 1000 cash, A is 30% of the account: no max-weight alert; eff = 1/(.36+.04+.04)
    th = thresholds_for(
        RiskLevel.MODERATE, {**_loose(), "max_weight": 0.5, "min_effective_holdings": 3}
    )
    (alert,) = check_alerts(prices, shares, 1000.0, as_of=date(2024, 1, 3), thresholds=th)
    assert alert.value == pytest.approx(1 / 0.44, rel=1e-12)
    assert "2.3" in alert.message


def test_stale_and_missing_data() -> None:
    index = pd.bdate_range("2024-06-03", "2024-06-17")  # Mon .. Mon
    prices = pd.DataFrame({"A": 10.0, "B": 20.0}, index=index)
    prices.loc[prices.index > "2024-06-11", "B"] = np.nan  # last B price Tue 11 June
    shares = pd.Series({"A": 1, "B": 1, "GONE": 3})
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "stale_days": 3})
    alerts = check_alerts(prices, shares, 0.0, as_of=date(2024, 6, 17), thresholds=th)
    by_kind = {a.kind: a for a in alerts}
    assert set(by_kind) == {AlertKind.STALE_DATA, AlertKind.MISSING_DATA}
    # weekdays after Tue 11 up to Mon 17: Wed, Thu, Fri, Mon = 4 > 3
    assert by_kind[AlertKind.STALE_DATA].value == 4
    assert by_kind[AlertKind.STALE_DATA].tickers == ("B",)
    assert by_kind[AlertKind.MISSING_DATA].tickers == ("GONE",)
    th4 = thresholds_for(RiskLevel.MODERATE, {**_loose(), "stale_days": 4})
    alerts = check_alerts(prices, shares, 0.0, as_of=date(2024, 6, 17), thresholds=th4)
    assert kinds(alerts) == {AlertKind.MISSING_DATA}


def test_future_prices_are_ignored_and_empty_account_is_quiet() -> None:
    prices = pd.DataFrame({"A": [10.0, 10.0, 1.0]}, index=pd.bdate_range("2024-01-01", periods=3))
    th = thresholds_for(RiskLevel.MODERATE, {**_loose(), "drawdown_limit": 0.05})
    assert (
        check_alerts(prices, pd.Series({"A": 1}), 0.0, as_of=date(2024, 1, 2), thresholds=th) == ()
    )
    assert (
        check_alerts(prices, pd.Series(dtype=float), 0.0, as_of=date(2024, 1, 3), thresholds=th)
        == ()
    )


def test_risk_table_is_monotone_and_overridable() -> None:
    levels = list(RiskLevel)
    for lo, hi in itertools.pairwise(levels):
        assert RISK_LIMITS[lo].var_limit < RISK_LIMITS[hi].var_limit
        assert RISK_LIMITS[lo].var_limit < RISK_LIMITS[lo].cvar_limit
        assert RISK_LIMITS[lo].drawdown_limit < RISK_LIMITS[hi].drawdown_limit
    th = thresholds_for(RiskLevel.CONSERVATIVE, {"var_limit": 0.04, "stale_days": 5.0})
    assert (th.var_limit, th.stale_days, th.cvar_limit) == (0.04, 5, 0.02)
    with pytest.raises(InputError):
        thresholds_for(RiskLevel.CONSERVATIVE, {"nope": 1.0})


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("var", "3%", ("var_limit", 0.03)),
        ("VaR", "3", ("var_limit", 0.03)),
        ("var", "0.5", ("var_limit", 0.005)),  # percent points: 0.5 is 0.5%, never 50%
        ("var", "0.5%", ("var_limit", 0.005)),
        ("vol-spike", "1.8x", ("vol_spike_ratio", 1.8)),
        ("min_holdings", "4", ("min_effective_holdings", 4.0)),
        ("stale_days", "5", ("stale_days", 5.0)),
        ("max_weight", "40%", ("max_weight", 0.4)),
    ],
)
def test_parse_threshold(name: str, text: str, expected: tuple[str, float]) -> None:
    field, value = parse_threshold(name, text)
    assert field == expected[0]
    assert value == pytest.approx(expected[1])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("var", "abc"),
        ("var", "-3%"),
        ("var", "80%"),
        ("nope", "1"),
        ("stale_days", "2.5"),
        ("vol_spike", "1.0"),
        ("var", "nan"),
        ("var", "0.03"),  # 0.03% is below the floor: not read as 3%
        ("var", "3x"),  # a ratio's suffix on a percent limit
        ("stale_days", "5%"),
        ("var", "\u0663"),  # an Arabic-Indic digit
    ],
)
def test_parse_threshold_rejects(name: str, text: str) -> None:
    with pytest.raises(InputError):
        parse_threshold(name, text)
