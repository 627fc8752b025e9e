"""The scheduler tick: APScheduler through python-telegram-bot's JobQueue.

The job only ticks; the database decides what is due (:class:`bot.scheduler.dispatch.Dispatcher`).
One dispatcher per application lives in ``bot_data`` (not persisted) and uses a connection of
its own on the event-loop thread, with a short busy timeout: a locked write is retried after
an ``await asyncio.sleep`` instead of blocking the loop (:mod:`bot.scheduler.dispatch`). Engine work
inside digests runs in the executor. APScheduler runs at most one tick at a time
(``max_instances=1``) and merges missed runs (``coalesce``). At shutdown :func:`close`
disconnects the sweep's executor (the Dask client, when there is one).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.ext import Application, ContextTypes

from bot.context import get_deps
from bot.ptb.membership import is_chat_admin
from bot.scheduler.dispatch import BotSender, Dispatcher, DispatchSettings

_LOG = logging.getLogger(__name__)
DISPATCHER_KEY = "scheduler.dispatcher"
#: the sweep executor the dispatcher's digests use (a Dask client with
#: ``SMALLQ_SWEEP_EXECUTOR=dask``), closed at shutdown by :func:`close`
SWEEP_EXECUTOR_KEY = "scheduler.sweep_executor"
TICK_JOB = "scheduler-tick"
#: how long one dispatcher write may block the event loop waiting for SQLite's lock
DISPATCH_BUSY_TIMEOUT_S = 0.05
#: deliveries leased per batch: a weekly sweep builds a batch's user checks together, so
#: bigger batches share more (1,000 sends at Telegram's 30/s fit well inside the lease)
BATCH_SIZE = 1000

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


def register(application: AnyApplication) -> None:
    """Run :func:`scheduler_tick_job` every ``deps.scheduler.tick_seconds``."""
    if application.job_queue is None:
        _LOG.warning("no JobQueue (install python-telegram-bot[job-queue]): scheduler is off")
        return
    settings = get_deps(application).scheduler
    application.job_queue.run_repeating(
        scheduler_tick_job,
        interval=settings.tick_seconds,
        first=settings.first_tick_seconds,
        name=TICK_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True},
    )


def kick(application: AnyApplication) -> None:
    """Tick as soon as possible (after a broadcast was queued)."""
    if application.job_queue is not None:
        application.job_queue.run_once(scheduler_tick_job, 0, name=f"{TICK_JOB}-now")


def dispatcher_for(application: AnyApplication) -> Dispatcher:
    """The application's dispatcher, created on first use."""
    dispatcher = application.bot_data.get(DISPATCHER_KEY)
    if dispatcher is None:
        deps = get_deps(application)
        if deps.digest_builder is None:
            from bot.scheduler.digest import DigestBuilder
            from bot.scheduler.executor import make_sweep_executor

            bot = application.bot

            async def is_admin(chat_id: int, user_id: int) -> bool | None:
                return await is_chat_admin(bot, chat_id, user_id)

            executor = make_sweep_executor(deps.config, deps.executor)
            application.bot_data[SWEEP_EXECUTOR_KEY] = executor  # closed by :func:`close`
            deps.digest_builder = DigestBuilder(deps, is_admin, sweep_executor=executor)
        settings = deps.scheduler
        dispatcher = Dispatcher(
            deps.db.open(busy_timeout_s=DISPATCH_BUSY_TIMEOUT_S),
            BotSender(application.bot),
            deps.digest_builder,
            clock=deps.clock,
            settings=DispatchSettings(
                grace=settings.grace, lease=settings.lease, max_attempts=settings.max_attempts,
                batch_size=BATCH_SIZE,
            ),
        )
        application.bot_data[DISPATCHER_KEY] = dispatcher
    return dispatcher  # type: ignore[no-any-return]


async def close(application: AnyApplication) -> None:
    """Release what the scheduler opened: the sweep's executor (a Dask client), at shutdown."""
    executor = application.bot_data.pop(SWEEP_EXECUTOR_KEY, None)
    if executor is not None:
        await executor.close()


async def scheduler_tick_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plan what is due and deliver it."""
    stats = await dispatcher_for(context.application).tick()
    if stats.planned or stats.sent or stats.failed or stats.missed:
        _LOG.info(
            "scheduler: planned %d, missed %d, sent %d, failed %d, skipped %d, released %d",
            stats.planned,
            stats.missed,
            stats.sent,
            stats.failed,
            stats.skipped,
            stats.released,
        )
