"""A backtest's decision on D uses the universe known on D, as ``build --as-of D`` does.

The market-cap band is a filter on dated fundamentals: a build on D keeps the stocks whose
cap known on D is inside the band. A backtest that started earlier must make the same
decision on D (``build --as-of D`` equals the backtest's decision on D), so its universe
cannot be frozen at its start date: a stock that grows into the band after the start is
bought on D, and one that shrinks out of it is not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from smallq.data.memory import FrameSource
from smallq.fundamentals import Fundamentals
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, run_strategy_backtest
from smallq.profile import make_profile

TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=200)
START, DECISION = date(2021, 3, 1), date(2021, 9, 1)
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "GROW", "SHRINK"]


def _source() -> FrameSource:
    rng = np.random.default_rng(21)
    dates = pd.bdate_range("2019-01-01", "2021-12-31")
    returns = 0.0003 + rng.normal(0, 0.012, size=(len(dates), len(TICKERS)))
    returns[:, -2:] += 0.0015  # the two crossing the band have the best momentum
    prices = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates, columns=TICKERS)
    index = pd.Series(1000 * np.cumprod(1 + returns.mean(axis=1)), index=dates, name="index")
    companies = pd.DataFrame(
        {"ticker": TICKERS, "name": TICKERS, "sector": "Energy", "market_cap": 5e10}
    )
    caps = {  # (cap known from 2020-12-31, cap known from 2021-06-30)
        "AAA": (5e10, 5e10),
        "BBB": (5e10, 5e10),
        "CCC": (5e10, 5e10),
        "DDD": (5e10, 5e10),
        "EEE": (5e10, 5e10),
        "GROW": (4e9, 3e10),  # below the 1e10 band at the start, inside it on D
        "SHRINK": (3e10, 4e9),  # inside at the start, below on D
    }
    rows = [
        {"date": when, "ticker": t, "market_cap": pair[i]}
        for t, pair in caps.items()
        for i, when in enumerate(("2020-12-31", "2021-06-30"))
    ]
    history = Fundamentals.from_rows(pd.DataFrame(rows), "test caps")
    return FrameSource(prices, index, companies, fundamentals=history)


def test_a_backtest_decision_on_d_uses_the_market_caps_known_on_d() -> None:
    source = _source()
    profile = make_profile(
        sectors="Energy",
        capital=100_000.0,
        top_n=5,
        lookback_days=252,
        max_weight=0.4,
        min_market_cap=1e10,
        fractional=True,
        as_of=DECISION,
    )
    built = build_portfolio(profile, source, today=TODAY, params=FAST)
    assert "GROW" in built.ranking.selected and "SHRINK" not in built.ranking.table.index
    backtest = run_strategy_backtest(
        replace(profile, as_of=None),
        source,
        start=START,
        end=date(2021, 9, 30),
        costs_bps=0.0,
        params=FAST,
    )
    on_d = next(r for r in backtest.result.rebalances if r.date == pd.Timestamp(DECISION))
    first = backtest.result.rebalances[0]
    assert "SHRINK" in first.target.index or "GROW" not in first.target.index  # as on START
    union = built.optimization.weights.index.union(on_d.target.index)
    np.testing.assert_allclose(
        built.optimization.weights.reindex(union, fill_value=0.0),
        on_d.target.reindex(union, fill_value=0.0),
        rtol=0,
        atol=1e-9,
    )
