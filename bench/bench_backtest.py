"""Backtest speed: smallQ's fast path against a plain PyPortfolioOpt loop (issue 5, §6).

Setup: 10 years of weekly rebalancing (2013-01-02 .. 2022-12-28, about 520 rebalances)
over 50 assets; long-only max Sharpe with a 10% cap, risk-free rate 2%, expected returns
and covariance from the sample mean and sample covariance of the last 252 daily returns
(PyPortfolioOpt's ``mean_historical_return(compounding=False)`` and ``sample_cov``).

Assets: the 20 real stocks of skfolio's S&P 500 sample plus 30 synthetic ones drawn from
a 3-factor PCA model fitted to the real stocks' daily returns over 2012-2022:

* ``F`` = the real returns (demeaned) projected on their first 3 principal components
  (the real factor time series); the real stocks' loadings are the component vectors.
* each synthetic asset gets loadings drawn from a normal fitted to the 20 real loading
  vectors, a daily drift and an idiosyncratic volatility resampled from the real stocks'
  means and PCA residual volatilities, and returns ``drift + F·loadings + vol·ε`` with
  ``ε ~ N(0, 1)`` from a seeded generator.

Both contenders run on the same data in the same process. The plain loop calls
``EfficientFrontier(mu, S, weight_bounds=(0, 0.1)).max_sharpe(risk_free_rate=0.02)`` on
each rebalance date (falling back to ``min_volatility`` as our policy does) and simulates
the same drifting, cost-paying book with pandas. smallQ runs ``run_backtest`` with
:class:`smallq.backtest.fast.FastPolicy` (incremental rolling moments + warm-started daqp).

Run: ``.venv/bin/python bench/bench_backtest.py [--plain-runs 3] [--fast-runs 7]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version

import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, expected_returns, risk_models
from pypfopt.exceptions import OptimizationError
from skfolio.datasets import load_sp500_dataset

from smallq.backtest import BacktestResult, RebalanceRule, run_backtest
from smallq.backtest.fast import FastPolicy

START, END = "2013-01-01", "2022-12-31"
LOOKBACK, CAP, RF, COSTS_BPS = 252, 0.10, 0.02, 10.0
N_SYNTHETIC, N_FACTORS, SEED = 30, 3, 20_240_601


def synthetic_universe(real: pd.DataFrame, n_synthetic: int, seed: int) -> pd.DataFrame:
    """Real prices plus ``n_synthetic`` factor-model assets on the same calendar."""
    returns = real.pct_change().iloc[1:]
    drift = returns.mean().to_numpy()
    centred = returns.to_numpy() - drift
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    loadings = components[:N_FACTORS].T  # (20, k)
    factors = centred @ loadings  # (T, k)
    residual_vol = (centred - factors @ loadings.T).std(axis=0, ddof=1)
    rng = np.random.default_rng(seed)
    new_loadings = rng.multivariate_normal(
        loadings.mean(axis=0), np.cov(loadings.T), size=n_synthetic
    )
    new_drift = rng.choice(drift, size=n_synthetic)
    new_vol = rng.choice(residual_vol, size=n_synthetic)
    noise = rng.standard_normal((len(factors), n_synthetic)) * new_vol
    synthetic = new_drift + factors @ new_loadings.T + noise
    levels = 100.0 * np.cumprod(1.0 + np.vstack([np.zeros(n_synthetic), synthetic]), axis=0)
    names = [f"SYN{i + 1:02d}" for i in range(n_synthetic)]
    return pd.concat([real, pd.DataFrame(levels, index=real.index, columns=names)], axis=1)


def pypfopt_inputs(window: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Annualised sample mean and sample covariance, as PyPortfolioOpt computes them."""
    mu = expected_returns.mean_historical_return(window, compounding=False)
    return mu, risk_models.sample_cov(window)


def plain_weights(window: pd.DataFrame) -> pd.Series:
    """PyPortfolioOpt called the ordinary way on one lookback window of prices."""
    mu, cov = pypfopt_inputs(window)
    try:
        weights = EfficientFrontier(mu, cov, weight_bounds=(0, CAP)).max_sharpe(risk_free_rate=RF)
    except (ValueError, OptimizationError):
        weights = EfficientFrontier(mu, cov, weight_bounds=(0, CAP)).min_volatility()
    return pd.Series(weights, dtype=float)


def plain_loop(prices: pd.DataFrame) -> tuple[pd.Series, dict[pd.Timestamp, pd.Series]]:
    """Rebalance on each week's first trading day with PyPortfolioOpt; simulate with pandas."""
    dates = prices.loc[START:END].index
    week = dates.to_period("W-SUN")
    first_of_week = set(dates[np.r_[True, week[1:] != week[:-1]]]) | {dates[0]}
    cost_rate, cash, shares = COSTS_BPS / 10_000, 1.0, pd.Series(0.0, index=prices.columns)
    equity, targets = {}, {}
    for day in dates:
        price = prices.loc[day]
        value = cash + float((shares * price).sum())
        equity[day] = value
        if day in first_of_week and day != dates[-1]:
            pos = prices.index.get_loc(day)
            target = plain_weights(prices.iloc[pos - LOOKBACK : pos + 1])
            targets[day] = target
            held = shares * price
            post = value
            for _ in range(50):  # post-cost equity: E' = E - c * sum|w E' - v|
                post = value - cost_rate * float((target * post - held).abs().sum())
            new_shares = target * post / price
            cash = post - float((new_shares * price).sum())
            shares = new_shares
    return pd.Series(equity), targets


def run_fast(prices: pd.DataFrame, **policy_options: bool) -> BacktestResult:
    """smallQ's backtest with the fast max Sharpe policy."""
    policy = FastPolicy(lookback_days=LOOKBACK, max_weight=CAP, risk_free_rate=RF, **policy_options)
    return run_backtest(
        prices, policy, start=START, end=END, rebalance="weekly", costs_bps=COSTS_BPS
    )


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls (``time.perf_counter``) and the last output."""
    times, output = [], None
    for _ in range(runs):
        begin = time.perf_counter()
        output = fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), output


def main() -> None:
    """Run both contenders, check they agree, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain-runs", type=int, default=3)
    parser.add_argument("--fast-runs", type=int, default=7)
    args = parser.parse_args()

    real = load_sp500_dataset().loc["2011-12-01":END]
    prices = synthetic_universe(real, N_SYNTHETIC, SEED)
    plain_time, (plain_equity, plain_targets) = timed(lambda: plain_loop(prices), args.plain_runs)
    fast_time, fast = timed(lambda: run_fast(prices), args.fast_runs)
    cold_time, _ = timed(lambda: run_fast(prices, warm_start=False), args.fast_runs)
    fresh_time, _ = timed(
        lambda: run_fast(prices, warm_start=False, incremental=False), args.fast_runs
    )

    assert isinstance(fast, BacktestResult)
    fast_dates = [r.date for r in fast.rebalances]
    assert fast_dates == sorted(plain_targets), "rebalance dates differ"
    assert RebalanceRule.parse("weekly") == fast.rule
    max_diff = max(
        float(
            (
                r.target.reindex(prices.columns, fill_value=0.0)
                - plain_targets[r.date].reindex(prices.columns, fill_value=0.0)
            )
            .abs()
            .max()
        )
        for r in fast.rebalances
    )
    equity_diff = float((fast.equity - plain_equity.reindex(fast.equity.index)).abs().max())

    n_reb, n_assets = len(fast.rebalances), prices.shape[1]
    probe = EfficientFrontier(*pypfopt_inputs(prices.iloc[-LOOKBACK - 1 :]), weight_bounds=(0, CAP))
    probe.max_sharpe(risk_free_rate=RF)
    solver = probe._opt.solver_stats.solver_name  # type: ignore[union-attr]
    print(
        f"# smallQ backtest benchmark ({n_reb} weekly rebalances, {n_assets} assets, "
        f"{START[:4]}-{END[:4]}, max Sharpe, {CAP:.0%} cap, {LOOKBACK}-day sample moments)"
    )
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"PyPortfolioOpt {version('pyportfolioopt')}, cvxpy {version('cvxpy')}, "
        f"daqp {version('daqp')}, numpy {np.__version__}, pandas {pd.__version__}; "
        f"cvxpy picked {solver} for PyPortfolioOpt's max_sharpe\n"
    )
    print("| contender | median time (s) | runs | speed-up vs plain loop |")
    print("|---|---:|---:|---:|")
    print(
        f"| plain loop: PyPortfolioOpt `max_sharpe` per rebalance | {plain_time:.2f} "
        f"| {args.plain_runs} | 1.0× |"
    )
    rows = [
        ("smallQ `run_backtest`, fresh moments, cold daqp", fresh_time),
        ("smallQ `run_backtest`, rolling moments, cold daqp", cold_time),
        ("**smallQ `run_backtest`, rolling moments, warm daqp**", fast_time),
    ]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} | {args.fast_runs} | {plain_time / seconds:.1f}× |")
    print(
        f"\nmax |weight difference| over {n_reb} rebalances: {max_diff:.2e} "
        f"(target ≤ 1e-4); max |equity difference|: {equity_diff:.2e}"
    )
    print(f"speed-up {plain_time / fast_time:.1f}× (target ≥ 15×)")


if __name__ == "__main__":
    main()
