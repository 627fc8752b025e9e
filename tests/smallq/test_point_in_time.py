"""Point in time: a decision on D is unchanged when everything after D is altered or removed.

A wrapper source (:class:`FutureAltered`) serves the same data up to D and, after D, prices
(close, open, high, low, volume) and benchmark levels multiplied by random factors (large
enough to make spikes, bad prints and crashes), fundamentals rows dated after D changed, and
new ones added; or it removes everything after D. A build at D and the backtest's decision
on D must not move, to 1e-12 (the same floating-point operations on the same inputs).
Checked on the embedded sample and on the real data of ../shared/data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.base import PriceSource
from smallq.data.csv import CsvSource
from smallq.data.sample import SampleSource
from smallq.fundamentals import FUNDAMENTAL_COLUMNS, Fundamentals
from smallq.models import PriceData, Report
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, run_strategy_backtest
from smallq.profile import make_profile
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

TODAY = date(2026, 11, 25)
FAST = dataclasses.replace(DEFAULT_PARAMS, mc_paths=300)
TOL = 1e-12


class FutureAltered:
    """A :class:`PriceSource` equal to ``inner`` up to ``cut``; after it altered or removed."""

    def __init__(
        self,
        inner: PriceSource,
        cut: date,
        *,
        remove: bool = False,
        walk: bool = False,
        seed: int = 0,
        fundamentals: Fundamentals | None = None,
    ) -> None:
        self.inner, self.cut, self.remove, self.seed = inner, pd.Timestamp(cut), remove, seed
        self.walk = walk
        self.name = inner.name
        self._fundamentals = fundamentals

    @property
    def benchmark_name(self) -> str:
        return self.inner.benchmark_name

    def last_date(self) -> date | None:
        last = self.inner.last_date()
        if self.remove and last is not None:
            return min(last, self.cut.date())
        return last

    def _alter(self, frame: pd.DataFrame | None, salt: int) -> pd.DataFrame | None:
        if frame is None:
            return None
        later = frame.index > self.cut
        if self.remove:
            return frame.loc[~later].copy()
        rng = np.random.default_rng([self.seed, salt, len(frame)])
        shocks = rng.normal(
            0.0, 0.02 if self.walk else 0.4, size=(int(later.sum()), frame.shape[1])
        )
        # walk: another plausible path (decisions after D still work); else wild daily prints
        factors = np.exp(np.cumsum(shocks, axis=0) if self.walk else shocks)
        out = frame.astype(float).copy()
        out.loc[later] = out.loc[later].to_numpy() * factors
        return out

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        data = self.inner.fetch_prices(tickers, start, end)
        fields = {
            name: self._alter(getattr(data, name), salt)
            for salt, name in enumerate(("close", "open", "high", "low", "volume"))
        }
        return dataclasses.replace(data, **fields)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        level = self.inner.fetch_benchmark(start, end)
        altered = self._alter(level.to_frame(), 7)
        assert altered is not None
        return altered.iloc[:, 0].rename(level.name)

    def fetch_companies(self) -> pd.DataFrame:
        return self.inner.fetch_companies()

    def fetch_fundamentals(self) -> Fundamentals:
        base = self._fundamentals or self.inner.fetch_fundamentals()
        history = base.history
        later = history["date"] > self.cut
        if self.remove:
            return Fundamentals.from_rows(history.loc[~later], base.origin)
        changed = history.copy()
        rng = np.random.default_rng(self.seed + 99)
        for column in ("pe", "pb", "market_cap"):
            changed.loc[later, column] *= rng.uniform(0.2, 5.0, size=int(later.sum()))
        changed.loc[later, "dividend_yield"] = rng.uniform(0, 0.08, size=int(later.sum()))
        extra = history.drop_duplicates("ticker").copy()
        extra["date"] = self.cut + pd.Timedelta(days=1)
        extra["pe"] = rng.uniform(1, 100, size=len(extra))
        extra["pb"] = rng.uniform(0.1, 30, size=len(extra))
        combined = pd.concat([changed, extra]).drop_duplicates(["date", "ticker"], keep="first")
        return Fundamentals.from_rows(combined, base.origin)


def _dated_history(source: PriceSource, dates: Sequence[str]) -> Fundamentals:
    """A quarterly-style fundamentals history: the snapshot, scaled differently at each date."""
    snapshot = source.fetch_fundamentals().history.drop(columns="date")
    rng = np.random.default_rng(3)
    rows = []
    for when in dates:
        frame = snapshot.copy()
        frame.insert(0, "date", pd.Timestamp(when))
        for column in FUNDAMENTAL_COLUMNS:
            frame[column] = frame[column] * rng.uniform(0.5, 1.5, size=len(frame))
        frame["dividend_yield"] = frame["dividend_yield"].clip(upper=0.2)
        rows.append(frame)
    return Fundamentals.from_rows(pd.concat(rows, ignore_index=True), "test history")


def _assert_same_build(left: Report, right: Report) -> None:
    """Every number a user acts on: weights, shares, risk, VaR, stress, Monte Carlo."""
    assert left.as_of == right.as_of
    assert list(left.ranking.selected) == list(right.ranking.selected)
    pd.testing.assert_series_equal(left.optimization.weights, right.optimization.weights, atol=TOL)
    pd.testing.assert_series_equal(left.allocation.shares, right.allocation.shares)
    pd.testing.assert_series_equal(
        left.allocation.achieved_weights, right.allocation.achieved_weights, atol=TOL
    )
    pd.testing.assert_series_equal(left.mu, right.mu, atol=TOL)
    pd.testing.assert_frame_equal(left.cov, right.cov, atol=TOL)
    for a, b in zip(left.metrics.var, right.metrics.var, strict=True):
        assert a.var == pytest.approx(b.var, abs=TOL) and a.cvar == pytest.approx(b.cvar, abs=TOL)
    for name in ("expected_return", "volatility", "beta", "realized_return", "max_drawdown"):
        assert getattr(left.metrics, name) == pytest.approx(getattr(right.metrics, name), abs=TOL)
    left_scenarios = {s.name: s.portfolio_return for s in left.stress.scenarios}
    right_scenarios = {s.name: s.portfolio_return for s in right.stress.scenarios}
    assert left_scenarios.keys() == right_scenarios.keys()
    for name, value in left_scenarios.items():
        assert value == pytest.approx(right_scenarios[name], abs=TOL), name
    for a, b in zip(left.stress.monte_carlo, right.stress.monte_carlo, strict=True):
        assert a.percentiles == pytest.approx(b.percentiles, abs=TOL)


def _assert_same_decisions(left, right, until: pd.Timestamp) -> None:  # type: ignore[no-untyped-def]
    before = [r for r in left.result.rebalances if r.date <= until]
    after = [r for r in right.result.rebalances if r.date <= until]
    assert [r.date for r in before] == [r.date for r in after]
    assert len(before) >= 2
    for a, b in zip(before, after, strict=True):
        pd.testing.assert_series_equal(a.target, b.target, atol=TOL)
    np.testing.assert_allclose(
        left.result.equity.loc[:until], right.result.equity.loc[:until], rtol=0, atol=TOL
    )


# --------------------------------------------------------------------------- sample data
SAMPLE_DATES = (date(2008, 9, 15), date(2015, 6, 30), date(2020, 3, 16), date(2021, 12, 31))


@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


@pytest.mark.parametrize("remove", [False, True], ids=["altered", "removed"])
@pytest.mark.parametrize("as_of", SAMPLE_DATES, ids=str)
def test_sample_build_at_d_ignores_everything_after_d(
    sample: SampleSource, as_of: date, remove: bool
) -> None:
    history = _dated_history(sample, ["2005-03-31", "2012-03-31", "2018-03-31", "2021-06-30"])
    profile = make_profile(
        sectors="tech,health,staples,energy,financials",
        capital=25_000.0,
        strategy="composite",
        top_n=8,
        as_of=as_of,
    )
    plain = FutureAltered(sample, date(2099, 1, 1), fundamentals=history)
    altered = FutureAltered(sample, as_of, remove=remove, seed=as_of.year, fundamentals=history)
    _assert_same_build(
        build_portfolio(profile, plain, today=TODAY, params=FAST),
        build_portfolio(profile, altered, today=TODAY, params=FAST),
    )


@pytest.mark.parametrize("cut", [date(2015, 9, 1), date(2020, 3, 2)], ids=str)
def test_sample_backtest_decisions_up_to_d_ignore_everything_after_d(
    sample: SampleSource, cut: date
) -> None:
    history = _dated_history(sample, ["2005-03-31", "2012-03-31", "2015-08-31", "2019-12-31"])
    profile = make_profile(
        sectors="tech,health,staples,energy,financials",
        capital=25_000.0,
        strategy="composite",
        top_n=8,
    )
    start = date(cut.year - 1, cut.month, 1)
    end = date(cut.year, 12, 31)
    kwargs = {"start": start, "end": end, "rebalance": "monthly", "params": FAST}
    plain = FutureAltered(sample, date(2099, 1, 1), fundamentals=history)
    altered = FutureAltered(sample, cut, walk=True, seed=5, fundamentals=history)
    _assert_same_decisions(
        run_strategy_backtest(profile, plain, **kwargs),  # type: ignore[arg-type]
        run_strategy_backtest(profile, altered, **kwargs),  # type: ignore[arg-type]
        pd.Timestamp(cut),
    )


# --------------------------------------------------------------------------- real data
SHARED_SECTORS = "Information Technology,Health Care,Consumer Staples,Energy,Financials,Utilities"
SHARED_DATES = (date(2016, 3, 1), date(2016, 5, 19), date(2017, 9, 1))


@pytest.mark.shared_data
@pytest.mark.parametrize("remove", [False, True], ids=["altered", "removed"])
@pytest.mark.parametrize("as_of", SHARED_DATES, ids=str)
def test_shared_build_at_d_ignores_everything_after_d(
    shared_csv_source: CsvSource,  # noqa: F811
    as_of: date,
    remove: bool,
) -> None:
    profile = make_profile(sectors=SHARED_SECTORS, capital=100_000.0, top_n=12, as_of=as_of)
    altered = FutureAltered(shared_csv_source, as_of, remove=remove, seed=as_of.month)
    _assert_same_build(
        build_portfolio(profile, shared_csv_source, today=TODAY, params=FAST),
        build_portfolio(profile, altered, today=TODAY, params=FAST),
    )


@pytest.mark.shared_data
def test_shared_backtest_decisions_up_to_d_ignore_everything_after_d(
    shared_csv_source: CsvSource,  # noqa: F811
) -> None:
    cut = date(2016, 7, 1)
    profile = make_profile(sectors=SHARED_SECTORS, capital=100_000.0, top_n=12)
    kwargs = {"start": date(2016, 3, 1), "end": date(2016, 12, 30), "rebalance": "monthly"}
    altered = FutureAltered(shared_csv_source, cut, walk=True, seed=11)
    _assert_same_decisions(
        run_strategy_backtest(profile, shared_csv_source, **kwargs),  # type: ignore[arg-type]
        run_strategy_backtest(profile, altered, **kwargs),  # type: ignore[arg-type]
        pd.Timestamp(cut),
    )


def test_a_given_index_history_is_read_only_up_to_d(sample: SampleSource) -> None:
    """A long index history passed in (for old crises) must not replay crises after D."""
    as_of = date(2015, 6, 30)
    profile = make_profile(sectors="tech,health,staples", capital=10_000.0, as_of=as_of)
    index = sample.fetch_benchmark(date(1990, 1, 2), date(2022, 12, 28))
    report = build_portfolio(profile, sample, today=TODAY, params=FAST, index_history=index)
    late = [s.name for s in report.stress.scenarios if s.end is not None and s.end > as_of]
    assert late == []
    cut = build_portfolio(
        profile, sample, today=TODAY, params=FAST, index_history=index.loc[:"2015-06-30"]
    )
    _assert_same_build(report, cut)


@pytest.mark.shared_data
def test_build_as_of_a_later_rebalance_equals_the_backtest_decision(
    shared_csv_source: CsvSource,  # noqa: F811
) -> None:
    """Not only the first rebalance: every decision date of a running backtest is a build."""
    profile = make_profile(sectors=SHARED_SECTORS, capital=100_000.0, top_n=12, fractional=True)
    backtest = run_strategy_backtest(
        profile, shared_csv_source, start=date(2016, 9, 1), end=date(2017, 9, 29), costs_bps=0.0
    )
    targets = {r.date.date(): r.target for r in backtest.result.rebalances}
    for as_of in (date(2017, 3, 1), date(2017, 9, 1)):
        built = build_portfolio(
            dataclasses.replace(profile, as_of=as_of), shared_csv_source, today=TODAY, params=FAST
        )
        weights = built.optimization.weights
        union = weights.index.union(targets[as_of].index)
        np.testing.assert_allclose(
            weights.reindex(union, fill_value=0.0),
            targets[as_of].reindex(union, fill_value=0.0),
            rtol=0,
            atol=1e-9,
        )
