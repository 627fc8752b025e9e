"""Time the portfolio pipeline's stages for 20, 50, 100 and 500 assets.

Data: the sample's 20 real stocks plus synthetic factor-model assets (bench/synthetic.py),
the last 756 trading days before 2022-12-28. Each stage is timed on its own (median of
``--repeat`` runs) and the whole ``build_portfolio`` call too. The reference is the plain
PyPortfolioOpt way on the same prices in the same run::

    mu = expected_returns.mean_historical_return(prices, compounding=False)
    cov = risk_models.CovarianceShrinkage(prices).ledoit_wolf()
    EfficientFrontier(mu, cov, weight_bounds=(0, cap)).max_sharpe(risk_free_rate=0.02)

Each stage is the call ``build_portfolio`` makes (fast paths on: numpy Ledoit-Wolf, daqp for
max Sharpe and the 40-point frontier, the weekly Monte Carlo fan). Forecast + optimize and
plain PyPortfolioOpt run round robin in one loop (so machine load hits both alike) and the
printed ratio is ``plain time / our time`` (above 1: smallQ is faster). The whole report also
ranks, allocates, measures risk, stress-tests with 3 x 10,000 Monte Carlo paths and traces the
frontier; it has no PyPortfolioOpt counterpart.

BLAS runs single-threaded for both contenders (``OPENBLAS_NUM_THREADS=1`` unless set): on two
cores shared with other work, BLAS threads spin against each other and the times lose meaning.

Run: ``.venv/bin/python bench/bench_pipeline.py [--repeat 5] [--sizes 20,50,100,500]``
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (see above)

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic import real_index, synthetic_prices

from smallq.allocation import allocate_shares
from smallq.data.memory import FrameSource
from smallq.forecast import covariance, expected_returns, forecast_moments
from smallq.models import Settings
from smallq.optimize import optimize_weights, report_frontier
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from smallq.risk import compute_risk_metrics
from smallq.stress import run_stress_tests
from smallq.types import CovModel, Objective, ReturnsModel

AS_OF = date(2022, 12, 28)
LOOKBACK = 756
RF = 0.02


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def round_robin(contenders: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each contender, called in turn ``repeat`` times after a warm-up."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def plain_pypfopt(prices: pd.DataFrame, cap: float) -> pd.Series:
    """The plain PyPortfolioOpt way: mean, Ledoit-Wolf, max Sharpe."""
    from pypfopt import EfficientFrontier, risk_models
    from pypfopt import expected_returns as er

    mu = er.mean_historical_return(prices, compounding=False)
    cov = risk_models.CovarianceShrinkage(prices).ledoit_wolf()
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, cap))
    return pd.Series(ef.max_sharpe(risk_free_rate=RF))


def companies_for(columns: pd.Index) -> pd.DataFrame:
    """One sector for every asset so that the whole set is selected."""
    return pd.DataFrame(
        {"ticker": columns, "name": columns, "sector": "Information Technology", "market_cap": 1e10}
    )


def bench_size(n_assets: int, repeat: int) -> dict[str, float]:
    """Median seconds per stage for ``n_assets`` assets."""
    all_prices = synthetic_prices(n_assets).loc[: pd.Timestamp(AS_OF)]
    lookback = max(LOOKBACK, 2 * n_assets + 20)  # the feasibility check wants n + max(n, 20)
    window = all_prices.iloc[-(lookback + 1) :].dropna(axis=1)
    index = real_index().loc[window.index]
    cap = max(0.10, 2.0 / n_assets)
    settings = Settings(
        Objective.MAX_SHARPE,
        ReturnsModel.MEAN,
        CovModel.LEDOIT_WOLF,
        max_weight=cap,
        min_holdings=1,
        risk_free_rate=RF,
        target_volatility=0.2,
        risk_aversion=3.0,
    )
    mu = expected_returns(window, ReturnsModel.MEAN, risk_free_rate=RF)
    cov = covariance(window, CovModel.LEDOIT_WOLF)
    result = optimize_weights(mu, cov, settings, fast=True)
    weights = result.weights
    sectors = pd.Series("Information Technology", index=window.columns)
    source = FrameSource(all_prices, real_index(), companies_for(all_prices.columns))
    profile = make_profile(
        sectors="tech",
        capital=1_000_000.0,
        top_n=n_assets,
        max_weight=cap,
        lookback_days=lookback,
        as_of=AS_OF,
    )

    def forecast_optimize() -> object:  # what decide_weights calls in a build
        mu, cov = forecast_moments(window, settings)
        return optimize_weights(mu, cov, settings, fast=True)

    paired = round_robin(
        {"ours": forecast_optimize, "plain": lambda: plain_pypfopt(window, cap)}, repeat * 3
    )
    timings = {
        "forecast+optimize": paired["ours"],
        "pypfopt": paired["plain"],
        "forecast": median_seconds(
            lambda: (
                expected_returns(window, ReturnsModel.MEAN, risk_free_rate=RF),
                covariance(window, CovModel.LEDOIT_WOLF),
            ),
            repeat,
        ),
        "optimize": median_seconds(lambda: optimize_weights(mu, cov, settings, fast=True), repeat),
        "frontier": median_seconds(lambda: report_frontier(mu, cov, settings, fast=True), repeat),
        "allocate": median_seconds(
            lambda: allocate_shares(weights, window.iloc[-1], 1_000_000.0), repeat
        ),
        "risk": median_seconds(
            lambda: compute_risk_metrics(weights, window, index, mu, cov, risk_free_rate=RF), repeat
        ),
        "stress": median_seconds(
            lambda: run_stress_tests(
                weights[weights > 0],
                all_prices[weights.index[weights > 0]],
                index,
                sectors[weights > 0],
                index_history=real_index(),
                params=DEFAULT_PARAMS,
            ),
            max(1, repeat // 2),
        ),
        "pipeline": median_seconds(lambda: build_portfolio(profile, source, today=AS_OF), repeat),
    }
    plain = plain_pypfopt(window, cap)
    timings["max_weight_diff"] = float((plain.reindex(weights.index) - weights).abs().max())
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="20,50,100,500")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        t = bench_size(n, args.repeat)
        rows.append((n, t))
        print(f"done {n} assets", file=sys.stderr)
    print(
        "| assets | forecast | optimize | frontier | allocate | risk | stress | whole report "
        "| forecast+optimize | plain PyPortfolioOpt | plain / ours | max |Δw| |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, t in rows:
        ms = {k: v * 1e3 for k, v in t.items()}
        print(
            f"| {n} | {ms['forecast']:.1f} ms | {ms['optimize']:.1f} ms | {ms['frontier']:.1f} ms "
            f"| {ms['allocate']:.1f} ms | {ms['risk']:.1f} ms | {ms['stress']:.0f} ms "
            f"| **{ms['pipeline']:.0f} ms** | {ms['forecast+optimize']:.1f} ms "
            f"| {ms['pypfopt']:.1f} ms | **{t['pypfopt'] / t['forecast+optimize']:.1f}×** "
            f"| {t['max_weight_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
