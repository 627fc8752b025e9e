"""The engine's process pool: builds, backtests and charts run in worker processes.

A build is CPU-bound Python (pandas, the optimizer, matplotlib). In a thread it holds the
GIL, and the event loop (button answers, questions) waits for it. In a worker process it
does not: the loop only pickles the inputs and unpickles the result.

Design
------
* :class:`EnginePool` wraps a :class:`~concurrent.futures.ProcessPoolExecutor` of
  ``SMALLQ_WORKERS`` processes (default: one per core). Start method ``forkserver`` (``spawn``
  where there is none), never ``fork``: the bot's process runs threads (executors, SQLite,
  httpx), and forking a threaded process can copy a held lock. The fork server preloads the
  engine, so a new or replacement worker starts in milliseconds.
* Each worker runs :func:`_init_worker` once: it opens its own price source (for ``yahoo``,
  through its own SQLite price-cache connection: connections never cross processes),
  ignores Ctrl-C (the parent shuts the pool down), lowers its CPU priority
  (:data:`WORKER_NICE`: when builds fill every core, the event loop still runs first) and
  keeps an :class:`Engine`.
  :meth:`EnginePool.start` waits until every worker is up, before the bot polls.
* A job is a module-level function ``job(engine, *args)`` with picklable arguments (a
  profile, today's date, chart names) and a picklable result (the ``Report``, PNG bytes).
  The same job runs in a thread with :meth:`bot.deps.Deps.engine` when there is no pool
  (``SMALLQ_ENGINE_POOL=thread``, tests with fake engines): see :meth:`bot.deps.Deps.run_engine`.
* Errors: a ``SmallQError`` pickles with its fields (``SmallQError.__reduce__``) and reaches
  the caller with the same ``user_message()``; any other exception comes back as itself,
  its worker traceback attached as ``__cause__``. A worker that dies (killed, out of memory)
  breaks the executor: the pool is replaced by a fresh one and the caller gets
  :class:`~smallq.errors.WorkerCrashedError` (retryable). Jobs in flight at that moment fail
  the same way; later jobs run on the new pool.
* :meth:`EnginePool.shutdown` cancels queued jobs and waits for running ones.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple, cast

from smallq.data.base import PriceSource
from smallq.errors import SmallQError, WorkerCrashedError
from smallq.models import Profile, Report
from smallq.pandas_options import use_python_strings
from smallq.params import EngineParams

if TYPE_CHECKING:  # the outcome types live with the services that return them
    from bot.services.portfolio import BacktestOutcome

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: workers run at a lower CPU priority than the bot's process, so that when builds keep every
#: core busy, button answers and questions still get the CPU at once (Unix niceness;
#: ``SMALLQ_WORKER_NICE``)
WORKER_NICE = 10
#: the quick lane's priority (:class:`EnginePool`): the bot's own, ahead of the builds
QUICK_NICE = 0
#: imported once by the fork server, so every worker starts with them loaded
PRELOAD = (
    "bot.workers",
    "bot.services.portfolio",
    "smallq.pipeline",
    "smallq.charts.report",
    "smallq.charts.frontier",
    "smallq.charts.backtest",
    "smallq.report",
)


class BuildPortfolio(Protocol):
    """``smallq.pipeline.build_portfolio``'s shape."""

    def __call__(
        self, profile: Profile, source: PriceSource, *, today: date, params: EngineParams
    ) -> Report: ...


class RunBacktest(Protocol):
    """Backtests a profile's strategy over a window and renders it (:func:`run_backtest`)."""

    def __call__(
        self,
        profile: Profile,
        source: PriceSource,
        *,
        start: date,
        end: date,
        rebalance: str,
        costs_bps: float,
        whole_shares: bool,
    ) -> BacktestOutcome: ...


#: draws the named charts of a report (names from ``smallq.charts.report.CHARTS``) as PNG bytes
RenderCharts = Callable[[Report, tuple[str, ...]], dict[str, bytes]]
#: ``smallq.pipeline.compare_levels``: the risk question's level table of a profile
CompareLevels = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Engine:
    """What a job sees: the price source of its thread or process and the engine's entry points."""

    source: PriceSource
    params: EngineParams
    build_portfolio: BuildPortfolio
    render_charts: RenderCharts
    run_backtest: RunBacktest | None = None
    compare_levels: CompareLevels | None = None


# --------------------------------------------------------------------------- engine entry points
class RecentRecords(OrderedDict[str, Any]):
    """A bounded memo (least recently used out) of out-of-sample records, per process."""

    def __init__(self, size: int = 64) -> None:
        super().__init__()
        self.size = size

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


#: this process's records: users building the same profile on the same day share one
#: walk-forward backtest (the key holds the profile without its capital, the decision date,
#: the source and the parameters; see ``smallq.pipeline.build_portfolio``)
_RECORDS = RecentRecords()


def build_with_record(
    profile: Profile, source: PriceSource, *, today: date, params: EngineParams
) -> Report:
    """``build_portfolio`` with the out-of-sample record every recommendation carries."""
    from smallq.pipeline import build_portfolio

    return build_portfolio(
        profile, source, today=today, params=params, record=True, records=_RECORDS
    )


def run_backtest(profile: Profile, source: PriceSource, **window: Any) -> BacktestOutcome:
    """``run_strategy_backtest`` plus its summary text and the equity and drawdown charts."""
    from bot.services.portfolio import BacktestFigures, BacktestOutcome
    from smallq.charts.backtest import drawdown_figure, equity_figure
    from smallq.charts.style import figure_to_png
    from smallq.pipeline import run_strategy_backtest
    from smallq.report import format_backtest

    report = run_strategy_backtest(profile, source, **window)
    charts = {
        "equity": figure_to_png(equity_figure(report.result)),
        "drawdown": figure_to_png(drawdown_figure(report.result)),
    }
    equity = report.result.equity
    figures = BacktestFigures(
        cagr=report.metrics.cagr,
        benchmark_cagr=report.benchmark_metrics.cagr,
        max_drawdown=report.metrics.max_drawdown,
        start_value=float(equity.iloc[0]),
        final_value=float(equity.iloc[-1]),
    )
    return BacktestOutcome(format_backtest(report), report.start, report.end, charts, figures)


def render_charts(
    report: Report, names: tuple[str, ...], *, source: PriceSource | None = None
) -> dict[str, bytes]:
    """Draw only the named report charts (each chart costs 0.1-0.3 s of CPU).

    With ``source`` the frontier chart marks the S&P 500 (its levels over the look-back).
    """
    from smallq.charts.frontier import frontier_chart, index_point, index_window_start
    from smallq.charts.report import CHARTS

    charts = {name: CHARTS[name](report) for name in names if name in CHARTS and name != "frontier"}
    if "frontier" in names:
        index = None
        if source is not None:
            try:
                levels = source.fetch_benchmark(index_window_start(report), report.as_of)
                index = index_point(levels, report)
            except SmallQError:
                _LOG.warning("no S&P 500 levels for the frontier chart", exc_info=True)
        charts["frontier"] = frontier_chart(
            report,
            index_return=index[0] if index else None,
            index_volatility=index[1] if index else None,
        )
    return {name: charts[name] for name in names if name in charts}


def open_engine(
    source_spec: str, db_path: str, params: EngineParams, *, record: bool = True
) -> Engine:
    """Open a price source and wire the engine (in a worker process, once).

    ``yahoo`` is read through the SQLite price cache on a connection of this process.
    ``record``: builds carry the out-of-sample record (:func:`build_with_record`).
    """
    from smallq import pipeline
    from smallq.data.registry import open_source

    source = open_source(source_spec)
    if source_spec.strip().lower() == "yahoo":
        from smallq.data.cached import CachedPriceSource
        from storage.db import connect
        from storage.price_cache import SqlitePriceCache

        cache = SqlitePriceCache(connect(db_path))
        source = cast(PriceSource, CachedPriceSource(source, cache, now=lambda: datetime.now(UTC)))
    return Engine(
        source=source,
        params=params,
        build_portfolio=build_with_record if record else pipeline.build_portfolio,
        render_charts=partial(render_charts, source=source),
        run_backtest=run_backtest,
        compare_levels=pipeline.compare_levels,
    )


def warm_up() -> None:
    """Draw one small chart, so that the first user's charts do not load the fonts.

    A fresh process spends about 0.5 CPU-second more on its first charts than on later ones
    (font files, glyph caches); a worker pays it at start-up, before the bot polls.
    """
    from smallq.charts.stress import message_chart

    message_chart("smallQ", "ready")


# --------------------------------------------------------------------------- worker side
_engine: Engine | None = None  # this worker process's engine, set by _init_worker


def _init_worker(
    source_spec: str, db_path: str, params: EngineParams, nice: int, record: bool
) -> None:
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent shuts the pool down
    if nice and hasattr(os, "nice"):
        os.nice(nice)  # the event loop's process gets a core first
    use_python_strings()
    _engine = open_engine(source_spec, db_path, params, record=record)
    warm_up()


def _run_job(job: Callable[..., T], args: tuple[Any, ...]) -> T:
    if _engine is None:
        raise RuntimeError("worker not initialised")
    return job(_engine, *args)


def _worker_pid() -> int:
    time.sleep(0.2)  # hold this worker, so that the next start-up call reaches another one
    return os.getpid()


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux), else ``spawn``; never ``fork``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# --------------------------------------------------------------------------- parent side
class EnginePool:
    """Worker processes for engine jobs (see the module docstring).

    With ``quick_workers`` the pool keeps a second lane of that many processes for short
    jobs a person waits on before going on (the risk question's level table): they never
    queue behind the builds of the main lane, and run at :data:`QUICK_NICE`, ahead of them.
    """

    def __init__(
        self,
        workers: int,
        *,
        source: str,
        db_path: str,
        params: EngineParams,
        method: str | None = None,
        nice: int = WORKER_NICE,
        record: bool = True,
        quick_workers: int = 0,
    ) -> None:
        self.workers, self.quick_workers = workers, quick_workers
        self.method = method or start_method()
        self.restarts = 0
        self._initargs = (source, db_path, params, nice, record)
        self._quick_initargs = (source, db_path, params, min(nice, QUICK_NICE), record)
        self._context = multiprocessing.get_context(self.method)
        if self.method == "forkserver":
            self._context.set_forkserver_preload(list(PRELOAD))
        self._executor = self._new_executor()
        self._quick = self._new_executor(quick=True) if quick_workers else None

    def _new_executor(self, *, quick: bool = False) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.quick_workers if quick else self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=self._quick_initargs if quick else self._initargs,
        )

    async def start(self) -> list[int]:
        """Start every worker and wait until each has opened its source; return their pids.

        Raises
        ------
        SmallQError
            When a worker cannot open the price source.
        """
        loop = asyncio.get_running_loop()
        lanes = [(self._executor, self.workers)]
        if self._quick is not None:
            lanes.append((self._quick, self.quick_workers))
        pids = await asyncio.gather(
            *(
                loop.run_in_executor(executor, _worker_pid)
                for executor, count in lanes
                for _ in range(count)
            )
        )
        _LOG.info(
            "engine pool: %d + %d quick %s workers %s",
            self.workers, self.quick_workers, self.method, sorted(set(pids)),
        )  # fmt: skip
        return list(pids)

    async def run(self, job: Callable[[Engine, *Ts], T], *args: *Ts, quick: bool = False) -> T:
        """Run ``job(engine, *args)`` in a worker process and return its result.

        ``quick`` runs it in the quick lane when there is one (see the class docstring).

        Raises
        ------
        SmallQError
            The job's own error, as raised in the worker.
        WorkerCrashedError
            When a worker died during the job (its lane has been replaced).
        """
        executor = self._quick if quick and self._quick is not None else self._executor
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _run_job, job, args)
        except BrokenProcessPool as exc:
            self._replace(executor)
            raise WorkerCrashedError(getattr(job, "__name__", "a job")) from exc

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if broken is self._executor:
            self._executor = self._new_executor()
        elif broken is self._quick:
            self._quick = self._new_executor(quick=True)
        else:  # another caller replaced it already
            return
        _LOG.error("an engine worker died; starting a new pool")
        broken.shutdown(wait=False, cancel_futures=True)
        self.restarts += 1

    def shutdown(self, *, wait: bool = True) -> None:
        """Cancel queued jobs; with ``wait``, let running ones finish and the workers exit."""
        for executor in (self._executor, self._quick):
            if executor is not None:
                executor.shutdown(wait=wait, cancel_futures=True)
