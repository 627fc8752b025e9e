"""The use cases that the CLI, the bot, the scheduler and the dashboard all call.

One module per use case, each a short list of named stages whose work lives in the module that
owns it:

- :mod:`~smallq.pipeline.build` – :func:`select_stocks` (a ranking),
  :func:`build_portfolio` (the full report; its module docstring lists the stages) and
  :func:`rebuild_target` (the lean build a scheduled check compares an account with);
- :mod:`~smallq.pipeline.levels` – :func:`compare_levels`, the five risk levels side by side;
- :mod:`~smallq.pipeline.walkforward` – :func:`run_strategy_backtest` and
  :func:`out_of_sample_record`, the profile's decisions replayed point in time;
- :mod:`~smallq.pipeline.track` – :func:`track_portfolio`, a stored portfolio since its build.

:mod:`~smallq.pipeline.stages` holds the stages they share (a decision's data and the decision
itself). What they return lives in :mod:`smallq.models`, :mod:`smallq.results` and
:mod:`smallq.levels`, so presenters never import this package. These are the only engine
modules that wire adapters together; they hold no clock: ``today`` is a parameter (the CLI
and bot pass the real date).
"""

from __future__ import annotations

from smallq.pipeline.build import build_portfolio, rebuild_target, select_stocks
from smallq.pipeline.levels import compare_levels
from smallq.pipeline.track import track_portfolio
from smallq.pipeline.walkforward import (
    MIN_RECORD_DAYS,
    OUT_OF_SAMPLE_YEARS,
    out_of_sample_record,
    run_strategy_backtest,
)
from smallq.results import BacktestReport, Selection, TrackedPortfolio

__all__ = [
    "MIN_RECORD_DAYS",
    "OUT_OF_SAMPLE_YEARS",
    "BacktestReport",
    "Selection",
    "TrackedPortfolio",
    "build_portfolio",
    "compare_levels",
    "out_of_sample_record",
    "rebuild_target",
    "run_strategy_backtest",
    "select_stocks",
    "track_portfolio",
]
