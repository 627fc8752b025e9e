"""The numbers of a real build, recomputed by hand from the source's own closes.

For builds on the embedded sample and on ../shared/data:

* the orders: shares are whole, each amount is shares times the decision day's close, the
  amounts plus the cash are the capital, cash is never negative, and the achieved weights
  (amount / capital) plus the cash share sum to 1 (1e-9);
* VaR and CVaR: historical 1-day figures at 95% and 99% recomputed from the closes of the
  lookback window on the weights bought (``L_(ceil(n c))`` of the sorted losses, CVaR the mean
  at or beyond it), to 1e-12; CVaR >= VaR in every row of the table; money is the fraction
  times the stated base, the capital (1e-9);
* ex-ante figures: ``w' mu`` and ``sqrt(w' cov w)`` on the weights bought;
* stress replays in money: each crisis window replayed buy-and-hold by hand, ``sum_i w_i
  (P_i(end) / P_i(start) - 1)`` with the closes on or before the window's dates, times the
  capital (1e-9).
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.base import PriceSource
from smallq.data.csv import CsvSource
from smallq.data.sample import SampleSource
from smallq.models import Report
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.presentation import present_portfolio
from smallq.presentation.view import Base
from smallq.profile import make_profile
from smallq.stress import HISTORICAL_WINDOWS
from smallq.types import VarMethod
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

TODAY = date(2026, 11, 25)
FAST = dataclasses.replace(DEFAULT_PARAMS, mc_paths=300)


def _closes(source: PriceSource, report: Report) -> pd.DataFrame:
    """The source's closes of the holdings over the lookback window, on the benchmark's days."""
    held = list(report.allocation.shares.index)
    start = date(report.as_of.year - 6, 1, 1)
    closes = source.fetch_prices(held, start, report.as_of).close
    index = source.fetch_benchmark(start, report.as_of).index
    closes = closes.reindex(closes.index.intersection(index))
    window = closes.iloc[-(report.profile.lookback_days + 1) :]
    assert window.notna().all().all()
    return window


def _check_orders(source: PriceSource, report: Report) -> None:
    alloc = report.allocation
    closes = source.fetch_prices(list(alloc.shares.index), report.as_of, report.as_of).close
    last = closes.iloc[-1]
    assert (alloc.shares > 0).all()
    if not report.profile.fractional:
        assert all(float(n).is_integer() for n in alloc.shares)
    np.testing.assert_allclose(alloc.amounts, alloc.shares * last[alloc.shares.index], rtol=1e-12)
    assert alloc.cash_left >= 0
    assert float(alloc.amounts.sum()) + alloc.cash_left == pytest.approx(alloc.capital, abs=1e-9)
    weights = alloc.achieved_weights
    assert float(weights.sum()) + alloc.cash_left / alloc.capital == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(
        weights[alloc.shares.index], alloc.amounts / alloc.capital, rtol=0, atol=1e-12
    )


def _check_var(source: PriceSource, report: Report) -> None:
    weights = report.allocation.achieved_weights
    weights = weights[weights > 0]
    returns = _closes(source, report)[weights.index].pct_change().iloc[1:]
    daily = returns.to_numpy() @ weights.to_numpy()
    losses = np.sort(-daily)
    view = present_portfolio(report)
    assert view.var_base is Base.CAPITAL
    for confidence in (0.95, 0.99):
        var = losses[math.ceil(len(losses) * confidence) - 1]
        tail = losses[losses >= var].mean()
        row = next(
            e
            for e in report.metrics.var
            if e.method is VarMethod.HISTORICAL
            and e.confidence == confidence
            and e.horizon_days == 1
        )
        assert row.var == pytest.approx(var, abs=1e-12)
        assert row.cvar == pytest.approx(tail, abs=1e-12)
    for row in view.var_table:
        assert row.cvar >= row.var - 1e-15
        assert row.var_amount == pytest.approx(row.var * view.capital, abs=1e-9)
        assert row.cvar_amount == pytest.approx(row.cvar * view.capital, abs=1e-9)
    assert view.capital == report.profile.capital
    for key in ("var_95", "cvar_95", "var_99", "cvar_99"):
        amount = view.figure(f"{key}_amount")
        assert amount.base is Base.CAPITAL
        assert amount.value == pytest.approx(view.figure(key).value * view.capital, abs=1e-9)
    mu, cov = report.mu[weights.index], report.cov.loc[weights.index, weights.index]
    assert report.metrics.expected_return == pytest.approx(float(weights @ mu), abs=1e-12)
    assert report.metrics.volatility == pytest.approx(
        math.sqrt(float(weights @ cov @ weights)), abs=1e-12
    )


def _check_stress(source: PriceSource, report: Report) -> None:
    weights = report.allocation.achieved_weights
    weights = weights[weights > 0]
    closes = source.fetch_prices(list(weights.index), date(1999, 6, 1), report.as_of).close
    view = present_portfolio(report)
    replays = {s.name: s for s in view.scenarios if s.kind == "historical"}
    checked = 0
    for window in HISTORICAL_WINDOWS:
        if pd.Timestamp(window.end) > pd.Timestamp(report.as_of):
            assert window.name not in replays  # a decision on D replays no later crisis
            continue
        first = closes.loc[: pd.Timestamp(window.start)]
        if len(first) == 0 or first.isna().iloc[0].any():
            continue  # not every holding covers the window: estimated through beta
        start = first.iloc[-1]
        end = closes.loc[: pd.Timestamp(window.end)].iloc[-1]
        expected = float(weights @ (end[weights.index] / start[weights.index] - 1.0))
        scenario = replays[window.name]
        assert not scenario.estimated
        assert scenario.portfolio_return == pytest.approx(expected, abs=1e-12), window.name
        assert scenario.amount == pytest.approx(expected * view.capital, abs=1e-9)
        assert scenario.base is Base.CAPITAL
        checked += 1
    return checked  # type: ignore[return-value]


# --------------------------------------------------------------------------- sample data
@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


@pytest.mark.parametrize(
    ("as_of", "capital", "risk"),
    [
        (date(2022, 12, 28), 10_000.0, "moderate"),
        (date(2012, 6, 29), 2_500.0, "aggressive"),
        (date(2020, 3, 31), 777.0, "cautious"),
    ],
    ids=str,
)
def test_sample_build_numbers_by_hand(
    sample: SampleSource, as_of: date, capital: float, risk: str
) -> None:
    profile = make_profile(
        sectors="tech,health,staples,energy,financials",
        capital=capital,
        risk_level=risk,
        top_n=8,
        as_of=as_of,
    )
    report = build_portfolio(profile, sample, today=TODAY, params=FAST)
    _check_orders(sample, report)
    _check_var(sample, report)
    assert _check_stress(sample, report) >= 1


# --------------------------------------------------------------------------- real data
@pytest.mark.shared_data
@pytest.mark.parametrize("as_of", [date(2016, 6, 1), date(2018, 2, 7)], ids=str)
def test_shared_build_numbers_by_hand(
    shared_csv_source: CsvSource,  # noqa: F811
    as_of: date,
) -> None:
    profile = make_profile(
        sectors="Information Technology,Health Care,Consumer Staples,Energy,Financials",
        capital=30_000.0,
        top_n=12,
        as_of=as_of,
    )
    report = build_portfolio(profile, shared_csv_source, today=TODAY, params=FAST)
    _check_orders(shared_csv_source, report)
    _check_var(shared_csv_source, report)
