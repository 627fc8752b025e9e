"""Time the whole report (``build_portfolio``) by stage, for 20, 50, 100 and 500 assets.

Data: the sample's 20 real stocks plus synthetic factor-model assets (bench/synthetic.py),
the last 756 trading days before 2022-12-28, one sector, every asset a candidate, the
default risk level (moderate: placed on the frontier) and ``record=False``.

**The report by stage.** Each ``build_portfolio`` call is timed as a whole and, in the same
call, stage by stage: the functions it calls are wrapped with a clock where it looks them
up (its module's globals, so the benchmark follows the code if it moves). Stages: data
(universe, prices, cleaning), decide (filters and ranking, then forecast and optimize: the
risk level's placement), allocate, risk, stress (long histories, crisis replays, shocks,
betas, and the Monte Carlo a report runs, also shown on its own), frontier (the chart's
``params.frontier_points`` points) and the rest (notes). Medians over ``--repeat`` builds
after a warm-up build, and the whole report's CPU time (``time.process_time``: on a machine
shared with other work it moves less than the wall clock). ``--clock cpu`` times every stage
in CPU time as well (then "whole report" is CPU time too). The stress views (the bot's
/stress, the dashboard's Stress page) add the Monte Carlo methods a report does not run: that
is timed too.

**Against plain PyPortfolioOpt**, round robin in one loop (so machine load hits both alike),
printed as ``plain time / our time`` (above 1: smallQ is faster):

* forecast + optimize (what ``decide_weights`` calls) against::

      mu = expected_returns.mean_historical_return(prices, compounding=False)
      cov = risk_models.CovarianceShrinkage(prices).ledoit_wolf()
      EfficientFrontier(mu, cov, weight_bounds=(0, cap)).max_sharpe(risk_free_rate=0.02)

* the report's frontier (``report_frontier(fast=True)``) against PyPortfolioOpt's
  ``efficient_return`` at the same target returns (``trace_frontier(fast=False)``, the
  reference the tests compare with); ``--frontier-repeat`` runs (it takes about 15 s at 500).

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
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic import real_index, synthetic_prices

from smallq.constraints import WeightLimits
from smallq.data.memory import FrameSource
from smallq.forecast import forecast_moments
from smallq.models import Report, Settings
from smallq.optimize import optimize_weights, report_frontier, trace_frontier
from smallq.pandas_options import use_python_strings
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from smallq.types import CovModel, Objective, ReturnsModel

AS_OF = date(2022, 12, 28)
LOOKBACK = 756
RF = 0.02
#: the stages of a build timed by :func:`stage_clock` (forecast and optimize are within
#: decide, the Monte Carlo within stress)
STAGES = ("data", "decide", "forecast", "optimize", "allocate", "risk", "stress", "monte_carlo")
STAGES += ("frontier",)
#: the stages that make up the whole report, with ``rest``
MAIN_STAGES = ("data", "decide", "allocate", "risk", "stress", "frontier")
#: the stages' clock: wall time, or CPU time with ``--clock cpu``
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock_now = CLOCKS["wall"]


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


class StageClock:
    """Seconds spent in named functions, wrapped where their callers look them up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[dict[str, Any], str, object]] = []

    def wrap(
        self, caller: object, names: str | tuple[str, ...], stage: str
    ) -> Callable[..., Any] | None:
        """Time calls from ``caller``'s module of the first of ``names`` it has; its original.

        Several names follow the code across versions (``_decision_data`` became
        ``decision_data`` when the pipeline became a package). None when none is there.
        """
        namespace = getattr(caller, "__globals__", None) or {}
        found = [n for n in ((names,) if isinstance(names, str) else names) if n in namespace]
        if not found or not callable(namespace[found[0]]):
            return None
        name, original = found[0], namespace[found[0]]

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock_now()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += clock_now() - start

        namespace[name] = timed
        self._undo.append((namespace, name, original))
        return original

    def restore(self) -> None:
        for namespace, name, original in reversed(self._undo):
            namespace[name] = original
        self._undo.clear()


@contextmanager
def stage_clock() -> Iterator[StageClock]:
    """A clock on the stages of ``build_portfolio`` (see the module docstring)."""
    clock = StageClock()
    try:
        clock.wrap(build_portfolio, ("decision_data", "_decision_data"), "data")
        decide = clock.wrap(build_portfolio, ("decide", "decide_weights"), "decide")
        decide_weights = (getattr(decide, "__globals__", None) or {}).get("decide_weights")
        clock.wrap(decide_weights, "forecast_moments", "forecast")
        clock.wrap(decide_weights, "optimize_weights", "optimize")
        clock.wrap(build_portfolio, "allocate_shares", "allocate")
        clock.wrap(build_portfolio, "compute_risk_metrics", "risk")
        stress = clock.wrap(build_portfolio, "_stress", "stress")
        run_stress_tests = (getattr(stress, "__globals__", None) or {}).get("run_stress_tests")
        # the Monte Carlo inside the stress stage: by name before and after the fast path
        clock.wrap(run_stress_tests, "simulate_methods", "monte_carlo")
        clock.wrap(run_stress_tests, "monte_carlo", "monte_carlo")
        clock.wrap(build_portfolio, "report_frontier", "frontier")
        yield clock
    finally:
        clock.restore()


def report_by_stage(build: Callable[[], Report], repeat: int) -> dict[str, float]:
    """Median seconds of the whole report and of each stage over ``repeat`` builds."""
    build()
    runs: dict[str, list[float]] = defaultdict(list)
    with stage_clock() as clock:
        for _ in range(repeat):
            clock.seconds.clear()
            start, start_cpu = clock_now(), time.process_time()
            build()
            whole = clock_now() - start
            runs["whole"].append(whole)
            runs["whole_cpu"].append(time.process_time() - start_cpu)
            timed = {s: clock.seconds.get(s, float("nan")) for s in STAGES}
            for stage, seconds in timed.items():
                runs[stage].append(seconds)
            known = [timed[s] for s in MAIN_STAGES if timed[s] == timed[s]]  # not NaN
            runs["rest"].append(whole - sum(known))
    return {stage: statistics.median(values) for stage, values in runs.items()}


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


def extra_methods_seconds(report: Report, repeat: int) -> float:
    """What a stress view adds to a report: the Monte Carlo methods the build did not run."""
    try:
        from smallq.stress import simulate_methods
    except ImportError:  # before the report ran one method: nothing to add
        return 0.0
    return median_seconds(lambda: simulate_methods(report.stress, DEFAULT_PARAMS), repeat)


def bench_size(n_assets: int, repeat: int, frontier_repeat: int) -> dict[str, float]:
    """Median seconds per stage, and the contenders', for ``n_assets`` assets."""
    all_prices = synthetic_prices(n_assets).loc[: pd.Timestamp(AS_OF)]
    lookback = max(LOOKBACK, 2 * n_assets + 20)  # the feasibility check wants n + max(n, 20)
    window = all_prices.iloc[-(lookback + 1) :].dropna(axis=1)
    cap = max(0.10, 2.0 / n_assets)
    source = FrameSource(all_prices, real_index(), companies_for(all_prices.columns))
    profile = make_profile(
        sectors="tech",
        capital=1_000_000.0,
        top_n=n_assets,
        max_weight=cap,
        lookback_days=lookback,
        as_of=AS_OF,
    )

    def build() -> Report:
        return build_portfolio(profile, source, today=AS_OF)

    timings = report_by_stage(build, repeat)
    report = build()
    timings["stress_views"] = extra_methods_seconds(report, max(1, repeat // 2))

    settings = Settings(
        Objective.MAX_SHARPE, ReturnsModel.MEAN, CovModel.LEDOIT_WOLF, max_weight=cap,
        min_holdings=1, risk_free_rate=RF, target_volatility=0.2, risk_aversion=3.0,
    )  # fmt: skip

    def forecast_optimize() -> object:  # what decide_weights calls in a build
        mu, cov = forecast_moments(window, settings)
        return optimize_weights(mu, cov, settings, fast=True)

    paired = round_robin(
        {"ours": forecast_optimize, "plain": lambda: plain_pypfopt(window, cap)}, repeat * 3
    )
    timings["forecast+optimize"], timings["pypfopt"] = paired["ours"], paired["plain"]
    ours = optimize_weights(*forecast_moments(window, settings), settings, fast=True).weights
    plain = plain_pypfopt(window, cap)
    timings["max_weight_diff"] = float((plain.reindex(ours.index) - ours).abs().max())

    mu, cov, placed = report.mu, report.cov, report.settings
    bound = min(placed.max_weight, 1.0 / placed.min_holdings)
    limits = WeightLimits.build(list(mu.index), bound)
    points = DEFAULT_PARAMS.frontier_points
    frontier = round_robin(
        {
            "ours": lambda: report_frontier(mu, cov, placed, n_points=points, fast=True),
            "plain": lambda: trace_frontier(mu, cov, limits, n_points=points),
        },
        frontier_repeat,
    )
    timings["frontier_ours"], timings["frontier_pypfopt"] = frontier["ours"], frontier["plain"]
    return timings


def _ms(seconds: float, digits: int = 1) -> str:
    return "—" if seconds != seconds else f"{seconds * 1e3:.{digits}f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="builds timed per size")
    parser.add_argument("--sizes", default="20,50,100,500")
    parser.add_argument(
        "--frontier-repeat", type=int, default=1, help="runs of the frontier against PyPortfolioOpt"
    )
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="the stages' clock (see above)"
    )
    args = parser.parse_args()
    global clock_now
    clock_now = CLOCKS[args.clock]
    warnings.filterwarnings("ignore")
    use_python_strings()  # as the bot's workers and the dashboard do (the CLI: no pyarrow)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append((n, bench_size(n, args.repeat, args.frontier_repeat)))
        print(f"done {n} assets", file=sys.stderr)
    kind = "CPU time" if args.clock == "cpu" else "wall time"
    print(f"The whole report by stage ({kind}, medians of {args.repeat} builds):\n")
    print(
        "| assets | data | decide | (forecast) | (optimize) | allocate | risk | stress "
        "| (Monte Carlo) | frontier | rest | **whole report** | (its CPU time) "
        "| stress views: other methods |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, t in rows:
        cells = " | ".join(_ms(t[s]) for s in (*STAGES, "rest"))
        print(
            f"| {n} | {cells} | **{_ms(t['whole'], 0)}** | {_ms(t['whole_cpu'], 0)} "
            f"| {_ms(t['stress_views'], 0)} |"
        )
    print("\nAgainst plain PyPortfolioOpt, round robin (plain / ours above 1: smallQ faster):\n")
    print(
        "| assets | forecast+optimize | plain PyPortfolioOpt | plain / ours | max |Δw| "
        "| frontier | PyPortfolioOpt efficient_return | plain / ours |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, t in rows:
        print(
            f"| {n} | {_ms(t['forecast+optimize'])} | {_ms(t['pypfopt'])} "
            f"| **{t['pypfopt'] / t['forecast+optimize']:.1f}×** | {t['max_weight_diff']:.1e} "
            f"| {_ms(t['frontier_ours'])} | {_ms(t['frontier_pypfopt'], 0)} "
            f"| **{t['frontier_pypfopt'] / t['frontier_ours']:.0f}×** |"
        )


if __name__ == "__main__":
    main()
