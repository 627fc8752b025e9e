"""Point-in-time walk-forward backtests: policy, book, simulator and result kept apart.

* :mod:`smallq.backtest.simulator` -- :func:`run_backtest` and the rebalance rules;
* :mod:`smallq.backtest.book` -- the share counts and cash behind the simulator;
* :mod:`smallq.backtest.policy` -- the engine (rank, forecast, optimize) as a policy;
* :mod:`smallq.backtest.fast` -- the fast path: rolling moments and a warm-started daqp QP
  (the QPs themselves are :mod:`smallq.qp`).

The simulator's public names are re-exported here; import the policies from their modules
(they pull in the optimizers, which the simulator does not need).
"""

from __future__ import annotations

from smallq.backtest.simulator import (
    BacktestResult,
    Policy,
    Rebalance,
    RebalanceKind,
    RebalanceRule,
    Trade,
    run_backtest,
)

__all__ = [
    "BacktestResult",
    "Policy",
    "Rebalance",
    "RebalanceKind",
    "RebalanceRule",
    "Trade",
    "run_backtest",
]
