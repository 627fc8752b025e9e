"""Where the sweep's per-account arithmetic runs: in this process, or on a Dask cluster.

Only pure work leaves the bot process: :func:`smallq.assessment.assess_accounts` on chunks of
(:class:`~smallq.assessment.AccountCheck`, :class:`~smallq.assessment.Target`) with the shared
:class:`~smallq.assessment.MarketSnapshot`. Inputs and outputs are frozen dataclasses of
numpy/pandas values, so they pickle; storage, rendering and Telegram stay in the bot.

* :class:`InProcessExecutor` (the default) runs the chunks one after the other in a worker
  thread (``deps.executor``), so the event loop keeps serving while a sweep computes.
* :class:`DaskExecutor` (``SMALLQ_SWEEP_EXECUTOR=dask``, ``SMALLQ_DASK_SCHEDULER=tcp://…``)
  connects an asynchronous ``distributed.Client`` on first use, scatters the snapshot to
  every worker once per sweep and maps the chunks over the cluster. Workers need smallq
  installed (the same version as the bot). ``distributed`` is imported only here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from bot.config import BotConfig, SweepExecutorKind
from smallq.assessment import AccountCheck, Assessment, CheckFailure, MarketSnapshot, Target
from smallq.assessment import assess_accounts as assess_accounts
from smallq.errors import InputError

Chunk = Sequence[tuple[AccountCheck, Target | None]]
Outcome = Assessment | CheckFailure


@dataclass(frozen=True, slots=True)
class CheckCosts:
    """Trading costs the plans are computed with (from ``SchedulerSettings``)."""

    costs_bps: float
    min_trade_value: float


class SweepExecutor(Protocol):
    """Runs ``assess_accounts`` on every chunk; results come back in chunk order."""

    async def run(
        self, market: MarketSnapshot, chunks: Sequence[Chunk], costs: CheckCosts
    ) -> list[list[Outcome]]: ...

    async def close(self) -> None: ...


def _run_chunks(
    market: MarketSnapshot, chunks: Sequence[Chunk], costs: CheckCosts
) -> list[list[Outcome]]:
    return [
        assess_accounts(
            chunk, market, costs_bps=costs.costs_bps, min_trade_value=costs.min_trade_value
        )
        for chunk in chunks
    ]


class InProcessExecutor:
    """Every chunk in one call on ``executor`` (a thread pool): the loop stays free."""

    def __init__(self, executor: Executor | None = None) -> None:
        self.executor = executor

    async def run(
        self, market: MarketSnapshot, chunks: Sequence[Chunk], costs: CheckCosts
    ) -> list[list[Outcome]]:
        """Assess the chunks off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, partial(_run_chunks, market, chunks, costs)
        )

    async def close(self) -> None:
        """Nothing to release (the thread pool belongs to the caller)."""


class DaskExecutor:
    """The chunks as tasks on a Dask distributed cluster (asynchronous client)."""

    def __init__(self, address: str) -> None:
        if not address:
            raise InputError("SMALLQ_DASK_SCHEDULER must name the Dask scheduler (tcp://…)")
        self.address = address
        self._client: Any = None
        #: tasks sent to the cluster so far (for logs and tests)
        self.tasks = 0

    async def connect(self) -> Any:
        """The asynchronous client, connected to the scheduler on first use."""
        if self._client is None:
            from distributed import Client  # only deployments that use Dask import it

            self._client = await Client(self.address, asynchronous=True)
        return self._client

    async def run(
        self, market: MarketSnapshot, chunks: Sequence[Chunk], costs: CheckCosts
    ) -> list[list[Outcome]]:
        """Scatter the snapshot to every worker, map the chunks, gather in order."""
        if not chunks:
            return []
        client = await self.connect()
        shared = await client.scatter(market, broadcast=True, hash=False)
        futures = client.map(
            assess_accounts,
            list(chunks),
            market=shared,
            costs_bps=costs.costs_bps,
            min_trade_value=costs.min_trade_value,
            pure=False,
        )
        self.tasks += len(futures)
        try:
            results: list[list[Outcome]] = await client.gather(futures)
        finally:
            await client.cancel([*futures, shared])
        return results

    async def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running); the bot calls this at
        shutdown (:func:`bot.scheduler.jobs.close`)."""
        if self._client is not None:
            await self._client.close()
            self._client = None


def make_sweep_executor(config: BotConfig, executor: Executor | None = None) -> SweepExecutor:
    """The executor the settings ask for (in-process unless ``SMALLQ_SWEEP_EXECUTOR=dask``)."""
    if config.sweep_executor is SweepExecutorKind.DASK:
        return DaskExecutor(config.dask_scheduler)
    return InProcessExecutor(executor)
