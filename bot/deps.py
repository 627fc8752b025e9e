"""The composition root's products, shared by every handler through ``bot_data["deps"]``.

Threads and SQLite
------------------
A sqlite-utils ``Database`` is not shareable across threads. :class:`ConnectionFactory`
hands each thread its own connection (``threading.local``), opened lazily with migrations
applied. In WAL mode readers never wait for a writer, so handlers read on the event-loop
thread's connection. A write may wait for SQLite's lock (another process, a backup, a
worker's price-cache write) up to the busy timeout, so writes leave the loop:
:meth:`Deps.run_storage` runs them in :attr:`Deps.storage_executor`, where each thread uses
its own connection. Builds, backtests and charts run in :attr:`Deps.engine_pool`'s worker
processes (each with its own source and price-cache connection, :mod:`bot.workers`), or,
without a pool, in :attr:`Deps.executor` threads, like the lighter engine calls of paper
trading and the digests; a thread that needs the database (the price cache) calls the same
factory and gets its own connection. The
scheduler's dispatcher has a connection of its own with a short busy timeout and retries
locked writes with ``await asyncio.sleep`` (:mod:`bot.scheduler.dispatch`).

Extending
---------
Another repository is one more field with a default, or one more method like
:meth:`Deps.users` that wraps ``self.db()``. Add fields with defaults so tests can build a
``Deps`` with only what they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import sqlite_utils

from bot.config import BotConfig
from bot.scheduler.calendar import SchedulerSettings
from bot.scheduler.dispatch import ContentBuilder
from bot.workers import BuildPortfolio, Engine, EnginePool, RenderCharts, RunBacktest
from smallq.data.base import PriceSource
from smallq.levels import LevelComparison
from smallq.models import Profile, Report
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import Sector
from storage.conversations import BotStateRepository
from storage.db import connect
from storage.portfolios import PortfolioRepository
from storage.users import UserRepository

_LOG = logging.getLogger(__name__)
__all__ = ["BuildPortfolio", "ConnectionFactory", "Deps", "RenderCharts", "RunBacktest"]
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class ConnectionFactory:
    """One SQLite connection per thread for one database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite_utils.Database] = []

    def __call__(self) -> sqlite_utils.Database:
        """The calling thread's connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self.open()
            self._local.db = db
        return db

    def open(self, *, busy_timeout_s: float = 5.0) -> sqlite_utils.Database:
        """A new connection for the calling thread only (closed by :meth:`close_all`)."""
        db = connect(self.path, busy_timeout_s=busy_timeout_s)
        with self._lock:
            self._all.append(db)
        return db

    def close_all(self) -> None:
        """Close the connections opened so far (at shutdown).

        A connection can only be closed on its own thread; the others are dropped and
        closed when collected.
        """
        with self._lock:
            for db in self._all:
                with contextlib.suppress(sqlite3.ProgrammingError):
                    db.close()
            self._all.clear()
        self._local = threading.local()


class UserLocks:
    """A per-user :class:`asyncio.Lock` (created on first use, event-loop thread only)."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    def get(self, user_id: int) -> asyncio.Lock:
        """The lock of one user."""
        return self._locks.setdefault(user_id, asyncio.Lock())


class RecentReports:
    """The last full :class:`Report` per user (bounded LRU) for /stress without a rebuild."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[int, Report]] = OrderedDict()

    def put(self, user_id: int, portfolio_id: int, report: Report) -> None:
        """Remember the report of one user's latest build."""
        self._items[user_id] = (portfolio_id, report)
        self._items.move_to_end(user_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, user_id: int, portfolio_id: int) -> Report | None:
        """The remembered report if it belongs to ``portfolio_id``."""
        item = self._items.get(user_id)
        return item[1] if item and item[0] == portfolio_id else None

    def drop(self, user_id: int) -> None:
        """Forget a user's report."""
        self._items.pop(user_id, None)


class LevelTables:
    """The risk question's level tables, shared between users asking the same thing.

    A table depends on the profile without its capital (money is scaled from
    ``LevelComparison.capital`` when shown) and on the day, so users who pick the same sectors
    on the same day share one computation: concurrent askers await the same future, later
    ones read the result (bounded LRU, each entry kept ``ttl`` seconds, so prices that arrive
    during the day reach new tables within that time).
    """

    def __init__(self, size: int = 128, ttl: float = 3600.0) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[str, tuple[float, asyncio.Future[LevelComparison]]] = (
            OrderedDict()
        )

    @staticmethod
    def key(profile: Profile, today: date) -> str:
        """The profile without its capital, and the day (a repr: profiles hold dicts)."""
        return f"{today.isoformat()}|{replace(profile, capital=1.0)!r}"

    def ready(self, key: str, now: float) -> bool:
        """Whether the table for ``key`` is computed (and fresh): no need to say "typing…"."""
        item = self._items.get(key)
        if item is None or now - item[0] > self.ttl or not item[1].done():
            return False
        return not item[1].cancelled() and item[1].exception() is None

    async def get(
        self, key: str, compute: Callable[[], Awaitable[LevelComparison]], now: float
    ) -> LevelComparison:
        """The table for ``key``: remembered, being computed, or computed now by ``compute``.

        A failed computation is forgotten (the next asker tries again) and its error raised.
        """
        item = self._items.get(key)
        if item is not None and now - item[0] <= self.ttl:
            self._items.move_to_end(key)
            return await asyncio.shield(item[1])
        future: asyncio.Future[LevelComparison] = asyncio.get_running_loop().create_future()
        self._items[key] = (now, future)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        try:
            future.set_result(await compute())
        except BaseException as exc:
            if self._items.get(key, (0.0, None))[1] is future:
                del self._items[key]
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no warning when nobody else waits
            raise
        return future.result()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _finish_background(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def finish(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOG.warning("%s failed", task.get_name(), exc_info=task.exception())

    return finish


@dataclass(slots=True, kw_only=True)
class Deps:
    """Everything handlers need; built once in :func:`bot.main.make_deps` (or by a test)."""

    config: BotConfig
    db: ConnectionFactory
    source: Callable[[], PriceSource]
    build_portfolio: BuildPortfolio
    render_charts: RenderCharts
    params: EngineParams = DEFAULT_PARAMS
    executor: Executor = field(default_factory=lambda: ThreadPoolExecutor(2, "smallq-engine"))
    #: threads for database writes (each with its own connection), see :meth:`run_storage`
    storage_executor: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(2, "smallq-storage")
    )
    #: ``None``: /backtest answers that it is not available
    run_backtest: RunBacktest | None = None
    #: worker processes for builds, backtests and charts; ``None``: they run in
    #: :attr:`executor` threads with :meth:`engine` (see :meth:`run_engine`)
    engine_pool: EnginePool | None = None
    #: ``smallq.pipeline.compare_levels`` (the money table of the risk question); None skips it
    compare_levels: Callable[..., Any] | None = None
    clock: Callable[[], datetime] = _utc_now
    locks: UserLocks = field(default_factory=UserLocks)
    recent: RecentReports = field(default_factory=RecentReports)
    level_tables: LevelTables = field(default_factory=LevelTables)
    #: scheduling, digests and paper trading (bot.scheduler.jobs, bot.scheduler.dispatch,
    #: bot.services.paper)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    #: content of scheduled deliveries; None -> bot.scheduler.digest.DigestBuilder(deps)
    #: (tests inject)
    digest_builder: ContentBuilder | None = None
    #: stocks per sector of each source (by source name), asked once (bot.services.portfolio)
    sector_counts: dict[str, dict[Sector, int]] = field(default_factory=dict)
    #: work started ahead of a question (:meth:`start_background`), kept until done
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def users(self) -> UserRepository:
        """Users and profiles on this thread's connection."""
        return UserRepository(self.db())

    def portfolios(self) -> PortfolioRepository:
        """Portfolio builds on this thread's connection."""
        return PortfolioRepository(self.db())

    def today(self) -> date:
        """Today's date in the configured timezone."""
        return self.clock().astimezone(self.config.tzinfo).date()

    def bot_state(self) -> BotStateRepository:
        """Persisted conversation state on this thread's connection."""
        return BotStateRepository(self.db())

    def start_background(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``work`` on the event loop without waiting for it; its errors are only logged."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(_finish_background(self.background))

    async def run_blocking(self, func: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``func(*args)`` in :attr:`executor`, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, func, *args)

    def engine(self) -> Engine:
        """The engine as a job sees it, on the calling thread (thread mode)."""
        return Engine(
            source=self.source(),
            params=self.params,
            build_portfolio=self.build_portfolio,
            render_charts=self.render_charts,
            run_backtest=self.run_backtest,
            compare_levels=self.compare_levels,
        )

    async def run_engine(
        self, job: Callable[[Engine, *Ts], T], *args: *Ts, quick: bool = False
    ) -> T:
        """Run ``job(engine, *args)`` in :attr:`engine_pool`, else in an :attr:`executor` thread.

        ``quick``: a short job a person waits on, in the pool's quick lane (never behind
        queued builds; see :class:`~bot.workers.EnginePool`).

        Raises
        ------
        SmallQError
            The job's error (from a worker process, with the same ``user_message()``);
            ``WorkerCrashedError`` when a worker process died.
        """
        if self.engine_pool is not None:
            return await self.engine_pool.run(job, *args, quick=quick)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: job(self.engine(), *args))

    async def run_storage(self, func: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``func(db)`` in :attr:`storage_executor` on that thread's own connection.

        For writes: waiting for SQLite's lock happens there, never on the event loop.

        Raises
        ------
        DatabaseLockedError
            When the lock is held past the busy timeout (nothing is written).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.storage_executor, lambda: func(self.db()))
