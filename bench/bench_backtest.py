"""Backtest speed on the path users run: ``run_strategy_backtest`` against a plain loop.

The user path is ``smallq backtest --sectors "tech,health care" --start 2015-01-01
--end 2022-12-28 --rebalance weekly --objective max_sharpe`` on the embedded sample (moderate
risk, momentum top 10, max Sharpe on 756 days of mean returns and Ledoit-Wolf covariance, 25%
cap, 10 bps), and the bot's /backtest calls the same use case. (Without ``--objective`` a risk
level places each decision on the frontier, which a plain PyPortfolioOpt loop does not do.)
Contenders, interleaved in one process (round robin, so machine load hits both alike):

* **smallQ** ``run_strategy_backtest`` (loads and cleans the data, ranks, estimates and
  optimizes at every rebalance on the fast path, simulates, measures);
* **plain PyPortfolioOpt loop** making the same decisions: on each rebalance date it ranks
  the cleaned prices by 12-1 momentum with pandas, then
  ``mean_historical_return(compounding=False)`` + ``CovarianceShrinkage.ledoit_wolf()`` +
  ``EfficientFrontier(weight_bounds=(0, cap)).max_sharpe`` + ``clean_weights``, and keeps a
  fractional, cost-paying book with pandas (its data loading is not timed);
* optionally (``--reference``) smallQ's reference path (``reference=True``, PyPortfolioOpt
  at each decision), the path users got before.

Then the default command, **without** ``--objective`` (risk level 3 of 5 placed on the capped
frontier with its VaR guard, what a user gets who does not pick an objective): smallQ against
its PyPortfolioOpt reference making the same decisions (min volatility, then
``efficient_risk`` at the level's target with ``EfficientFrontier``; weights equal to 1e-4).

Then the whole ``smallq backtest`` process (``--process-runs`` runs of the console script),
for both commands. The child processes run without ``PYTHONDONTWRITEBYTECODE``, as a user's
would (pip compiles the installed packages; Python caches smallQ's own bytecode).

BLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set), as in bench_pipeline.

Run: ``.venv/bin/python bench/bench_backtest.py [--runs 5] [--process-runs 5] [--reference]``
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smallq.backtest.policy import PipelinePolicy
from smallq.data.market import history_start, load_market_data, load_universe
from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import run_strategy_backtest
from smallq.profile import make_profile
from smallq.results import BacktestReport

SECTORS, START, END, REBALANCE = "tech,health care", date(2015, 1, 1), date(2022, 12, 28), "weekly"
COSTS_BPS = 10.0
CLI = [
    "backtest",
    "--sectors",
    SECTORS,
    "--start",
    START.isoformat(),
    "--end",
    END.isoformat(),
    "--rebalance",
    REBALANCE,
    "--objective",
    "max_sharpe",
]


def smallq_backtest() -> BacktestReport:
    """The use case the CLI and the bot call (a fresh source: nothing cached between runs)."""
    profile = make_profile(sectors=SECTORS, capital=10_000.0, objective="max_sharpe")
    return run_strategy_backtest(
        profile, SampleSource(), start=START, end=END, rebalance=REBALANCE, costs_bps=COSTS_BPS
    )


def level_backtest(reference: bool = False) -> BacktestReport:
    """The default command: no objective, so risk level 3 is placed on the frontier."""
    return _backtest(None, reference=reference)


def reference_backtest() -> BacktestReport:
    """The same use case with every decision on the reference (PyPortfolioOpt) path."""
    return _backtest("max_sharpe", reference=True)


def _backtest(objective: str | None, *, reference: bool) -> BacktestReport:
    profile = make_profile(sectors=SECTORS, capital=10_000.0, objective=objective)
    return run_strategy_backtest(
        profile,
        SampleSource(),
        start=START,
        end=END,
        rebalance=REBALANCE,
        costs_bps=COSTS_BPS,
        reference=reference,
    )


def plain_inputs() -> tuple[pd.DataFrame, int, int, float, float]:
    """Cleaned prices and the profile's top N, lookback, cap and risk-free rate (untimed)."""
    profile = make_profile(sectors=SECTORS, capital=10_000.0, objective="max_sharpe")
    source = SampleSource()
    universe = load_universe(profile, source, START)
    warmup = max(profile.lookback_days, DEFAULT_PARAMS.momentum_lookback_days) + 5
    market = load_market_data(
        source,
        universe.first_pass.tickers,
        universe.companies,
        start=history_start(START, warmup),
        end=END,
        params=DEFAULT_PARAMS,
    )
    settings = PipelinePolicy.for_profile(profile, market).settings
    cap = min(settings.max_weight, 1.0 / settings.min_holdings)
    return market.prices, profile.top_n, profile.lookback_days, cap, settings.risk_free_rate


def plain_weights(window: pd.DataFrame, cap: float, rf: float) -> pd.Series:
    """PyPortfolioOpt called the ordinary way on one lookback window."""
    from pypfopt import EfficientFrontier, expected_returns, risk_models

    mu = expected_returns.mean_historical_return(window, compounding=False)
    cov = risk_models.CovarianceShrinkage(window).ledoit_wolf()
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, cap))
    ef.max_sharpe(risk_free_rate=rf)
    return pd.Series(ef.clean_weights(cutoff=DEFAULT_PARAMS.weight_cutoff, rounding=None))


def plain_loop(
    prices: pd.DataFrame, top_n: int, lookback: int, cap: float, rf: float
) -> tuple[pd.Series, dict[pd.Timestamp, pd.Series]]:
    """Momentum top N, then PyPortfolioOpt, on each week's first trading day; pandas book."""
    dates = prices.loc[pd.Timestamp(START) : pd.Timestamp(END)].index
    week = dates.to_period("W-SUN")
    first_of_week = set(dates[np.r_[True, week[1:] != week[:-1]]])
    cost_rate, cash, shares = COSTS_BPS / 10_000, 1.0, pd.Series(0.0, index=prices.columns)
    equity, targets = {}, {}
    skip, span = DEFAULT_PARAMS.momentum_skip_days, DEFAULT_PARAMS.momentum_lookback_days
    for day in dates:
        price = prices.loc[day]
        value = cash + float((shares * price).sum())
        equity[day] = value
        if day in first_of_week and day != dates[-1]:
            past = prices.loc[:day]
            score = (past.iloc[-1 - skip] / past.iloc[-1 - span] - 1).dropna()
            chosen = list(score.sort_values(ascending=False).index[:top_n])
            window = past[chosen].iloc[-(lookback + 1) :].dropna(axis=1)
            target = plain_weights(window, cap, rf).reindex(prices.columns, fill_value=0.0)
            targets[day] = target
            held = shares * price
            post = value
            for _ in range(50):  # post-cost equity: E' = E - c * sum|w E' - v|
                post = value - cost_rate * float((target * post - held).abs().sum())
            shares = target * post / price
            cash = post - float((shares * price).sum())
    return pd.Series(equity), targets


def interleaved(contenders: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Run the contenders round robin ``runs`` times; seconds per run for each."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            begin = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - begin)
    return times


def process_times(runs: int, arguments: list[str]) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system) of the whole ``smallq backtest`` process
    (console script); on a shared machine the wall time includes waiting for a core."""
    script = Path(sys.executable).with_name("smallq")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    wall, cpu = [], []
    subprocess.run([str(script), "--help"], check=True, capture_output=True, env=env)  # pyc
    for _ in range(runs):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        begin = time.perf_counter()
        subprocess.run([str(script), *arguments], check=True, capture_output=True, env=env)
        wall.append(time.perf_counter() - begin)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    return wall, cpu


def main() -> None:
    """Time both contenders interleaved, check they agree, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--process-runs", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="also time reference=True")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    inputs = plain_inputs()
    ours = smallq_backtest()  # warm-up, and the decisions to compare
    plain_equity, plain_targets = plain_loop(*inputs)
    contenders: dict[str, Callable[[], object]] = {
        "plain": lambda: plain_loop(*inputs),
        "smallq": smallq_backtest,
    }
    if args.reference:
        contenders["reference"] = reference_backtest
    times = interleaved(contenders, args.runs)
    level_fast, level_reference = level_backtest(), level_backtest(reference=True)
    level_times = interleaved(
        {"reference": lambda: level_backtest(reference=True), "smallq": level_backtest},
        max(1, args.runs // 2),
    )
    process, process_cpu = process_times(args.process_runs, CLI)
    level_process, level_cpu = process_times(args.process_runs, CLI[: CLI.index("--objective")])

    rebalances = ours.result.rebalances
    columns = inputs[0].columns
    weight_diff = max(
        float(
            (
                r.target.reindex(columns, fill_value=0.0)
                - plain_targets[r.date].reindex(columns, fill_value=0.0)
            )
            .abs()
            .max()
        )
        for r in rebalances
    )
    plain_growth = plain_equity / plain_equity.iloc[0]
    equity_diff = float(
        (ours.result.equity - plain_growth.reindex(ours.result.equity.index)).abs().max()
    )
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"# smallq backtest, sample, {SECTORS}, {START}..{END}, {REBALANCE}: "
        f"{len(rebalances)} rebalances"
    )
    load = os.getloadavg()[0]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.1f}\n")
    print("| contender (in-process, interleaved) | median (s) | runs | vs plain loop |")
    print("|---|---:|---:|---:|")
    plain = median["plain"]
    print(f"| plain PyPortfolioOpt loop, same decisions | {plain:.3f} | {args.runs} | 1.0× |")
    if "reference" in median:
        ref = median["reference"]
        print(
            f"| smallQ `run_strategy_backtest(reference=True)` (before) | {ref:.3f} "
            f"| {args.runs} | {plain / ref:.2f}× |"
        )
    fast = median["smallq"]
    print(
        f"| **smallQ `run_strategy_backtest`** (what `smallq backtest` runs) | {fast:.3f} "
        f"| {args.runs} | {plain / fast:.1f}× |"
    )
    print(
        f"\nwhole `smallq backtest` process: median {statistics.median(process):.2f} s "
        f"(CPU {statistics.median(process_cpu):.2f} s) over {args.process_runs} runs "
        "(target ≤ 1.5 s)"
    )
    print(
        f"max |weight difference| vs the plain loop: {weight_diff:.1e}; "
        f"max |equity difference|: {equity_diff:.1e}"
    )
    print(f"speed-up {plain / fast:.1f}× (target ≥ 15×)")

    level_diff = max(
        float(
            (
                ours.target.reindex(columns, fill_value=0.0)
                - theirs.target.reindex(columns, fill_value=0.0)
            )
            .abs()
            .max()
        )
        for ours, theirs in zip(
            level_fast.result.rebalances, level_reference.result.rebalances, strict=True
        )
    )
    level_median = {name: statistics.median(values) for name, values in level_times.items()}
    ref, fast = level_median["reference"], level_median["smallq"]
    runs = max(1, args.runs // 2)
    print(
        f"\n# the default command (no --objective: risk level 3 on the frontier), "
        f"{len(level_fast.result.rebalances)} rebalances\n"
    )
    print("| contender (in-process, interleaved) | median (s) | runs | vs reference |")
    print("|---|---:|---:|---:|")
    print(
        f"| PyPortfolioOpt at each decision (`reference=True`), same decisions | {ref:.3f} "
        f"| {runs} | 1.0× |"
    )
    print(
        f"| **smallQ `run_strategy_backtest`** (what `smallq backtest` runs) | {fast:.3f} "
        f"| {runs} | {ref / fast:.1f}× |"
    )
    print(
        f"\nwhole `smallq backtest` process without --objective: median "
        f"{statistics.median(level_process):.2f} s (CPU {statistics.median(level_cpu):.2f} s) "
        f"over {args.process_runs} runs (target ≤ 1.5 s)"
    )
    print(f"max |weight difference| vs the reference: {level_diff:.1e}")


if __name__ == "__main__":
    main()
