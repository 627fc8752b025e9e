"""Command-line start-up and whole-process times, with their contenders, round robin.

Each row is a whole process (``subprocess.run``, wall time), repeated ``--runs`` times in
turn with its contender so machine load hits both alike; the table prints medians, and the
median CPU time (user + system) of smallQ's runs, which waiting for a core does not inflate:

* ``smallq --help`` against ``python -c pass`` (the interpreter alone: the floor);
* ``smallq build`` on the sample (tech + health care, $10,000) against a plain
  PyPortfolioOpt script on the same prices (read the sample CSV with pandas, mean returns,
  Ledoit-Wolf, ``max_sharpe``, print the weights);
* ``smallq backtest`` weekly 2015-2022 on the sample (its in-process contender, a plain
  PyPortfolioOpt loop, is in ``bench/bench_backtest.py``: as a process it takes over 10 s).

BLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set), as in bench_pipeline.

Run: ``.venv/bin/python bench/bench_cli.py [--runs 7]``
"""

from __future__ import annotations

import argparse
import os
import resource

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import statistics
import subprocess
import sys
import time
from pathlib import Path

SMALLQ = str(Path(sys.executable).with_name("smallq"))
PLAIN_BUILD = """
import gzip, importlib.util, pathlib
import pandas as pd
from pypfopt import EfficientFrontier, expected_returns, risk_models
spec = importlib.util.find_spec("skfolio")
root = pathlib.Path(next(iter(spec.submodule_search_locations)))
with gzip.open(root / "datasets/data/sp500_dataset.csv.gz", "rt") as f:
    prices = pd.read_csv(f, index_col=0, parse_dates=True)
window = prices[["AAPL", "AMD", "MSFT", "JNJ", "LLY", "MRK", "PFE", "UNH"]].iloc[-757:]
mu = expected_returns.mean_historical_return(window, compounding=False)
cov = risk_models.CovarianceShrinkage(window).ledoit_wolf()
print(EfficientFrontier(mu, cov, weight_bounds=(0, 0.25)).max_sharpe(risk_free_rate=0.02))
"""

PAIRS: dict[str, tuple[list[str], list[str] | None, str]] = {
    "help": ([SMALLQ, "--help"], [sys.executable, "-c", "pass"], "`python -c pass`"),
    "build": (
        [SMALLQ, "build", "--sectors", "tech,health care", "--capital", "10000"],
        [sys.executable, "-c", PLAIN_BUILD],
        "plain PyPortfolioOpt script",
    ),
    "backtest": (
        [
            SMALLQ,
            "backtest",
            "--sectors",
            "tech,health care",
            "--start",
            "2015-01-01",
            "--end",
            "2022-12-28",
            "--rebalance",
            "weekly",
        ],
        None,
        "—",
    ),
}
GOALS = {"help": 1.0, "build": 1.3, "backtest": 1.5}
#: child processes run as a user's would: Python caches bytecode (pip compiles the installed
#: packages), so a PYTHONDONTWRITEBYTECODE set in this shell is not passed on
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: user + system CPU seconds of each run, by command: on a shared machine the wall time
#: includes waiting for a core, the CPU time does not
CPU: dict[tuple[str, ...], list[float]] = {}


def seconds(command: list[str]) -> float:
    """Wall time of one process run to completion (its CPU time goes to ``CPU``)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=CHILD_ENV)
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(tuple(command), []).append(
        after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime
    )
    return wall


def main() -> None:
    """Time each command and its contender round robin; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    for ours, _theirs, _label in PAIRS.values():
        seconds(ours)  # warm-up: bytecode cached, files in the page cache
    for _ in range(args.runs):
        for name, (ours, theirs, _label) in PAIRS.items():
            times.setdefault(name, []).append(seconds(ours))
            if theirs is not None:
                times.setdefault(f"{name}:contender", []).append(seconds(theirs))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {args.runs} runs each\n")
    print(
        "| command (whole process) | median (s) | CPU median (s) | goal | contender "
        "| its median (s) |"
    )
    print("|---|---:|---:|---:|---|---:|")
    for name, (ours, _theirs, label) in PAIRS.items():
        mine = statistics.median(times[name])
        cpu = statistics.median(CPU[tuple(ours)][1:])  # without the warm-up run
        other = times.get(f"{name}:contender")
        theirs_text = f"{statistics.median(other):.2f}" if other else "—"
        shown = " ".join(ours[1:4]) + (" …" if len(ours) > 4 else "")
        print(
            f"| `smallq {shown}` | {mine:.2f} | {cpu:.2f} | ≤ {GOALS[name]} | {label} "
            f"| {theirs_text} |"
        )


if __name__ == "__main__":
    main()
