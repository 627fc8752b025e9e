"""``smallq-bot``: the composition root. Reads the config once, wires the engine, runs polling."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

from telegram import Update
from telegram.error import InvalidToken

from bot.app import build_application
from bot.config import BotConfig, load_config
from bot.deps import ConnectionFactory, Deps
from bot.ptb.redaction import configure_logging
from bot.scheduler.calendar import SchedulerSettings
from bot.workers import EnginePool, build_with_record, render_charts, run_backtest
from smallq.data.base import PriceSource
from smallq.errors import SmallQError
from smallq.pandas_options import use_python_strings
from smallq.params import DEFAULT_PARAMS

_LOG = logging.getLogger(__name__)
#: the engine pool's quick lane: one process for the risk question's level tables
QUICK_WORKERS = 1
NO_TOKEN = (
    "smallq-bot: TELEGRAM_BOT_TOKEN is not set. Put it in .env (see .env.example) "
    "or in the environment, then run smallq-bot again."
)
REJECTED_TOKEN = (
    "smallq-bot: Telegram rejected TELEGRAM_BOT_TOKEN (revoked or mistyped?). Check it with "
    "@BotFather (/token), update .env, then run smallq-bot again."
)


def make_deps(config: BotConfig) -> Deps:
    """Open the data source and database, and wire the engine's entry points.

    With ``SMALLQ_ENGINE_POOL=process`` (the default) builds, backtests and charts go to an
    :class:`~bot.workers.EnginePool` (started in the application's ``post_init``).

    Raises
    ------
    SmallQError
        When the data source cannot be opened.
    """
    from smallq import pipeline
    from smallq.data.registry import open_source

    db = ConnectionFactory(config.db_path)
    db()  # create the file and apply migrations before serving
    # a build's shares leave room for the paper ledger's fees, so Accept buys them as shown
    params = replace(DEFAULT_PARAMS, purchase_costs_bps=config.paper_costs_bps)
    if config.mc_paths:
        params = replace(params, mc_paths=config.mc_paths)
    sources = source_factory(config, open_source(config.source), db)
    pool = None
    if config.engine_pool == "process":
        pool = EnginePool(
            config.worker_count, source=config.source, db_path=str(config.db_path),
            params=params, nice=config.worker_nice, quick_workers=QUICK_WORKERS,
        )  # fmt: skip
    return Deps(
        config=config,
        db=db,
        source=sources,
        build_portfolio=build_with_record,
        render_charts=lambda report, names: render_charts(report, names, source=sources()),
        params=params,
        executor=ThreadPoolExecutor(config.worker_count, thread_name_prefix="smallq-engine"),
        storage_executor=ThreadPoolExecutor(2, thread_name_prefix="smallq-storage"),
        run_backtest=run_backtest,
        engine_pool=pool,
        compare_levels=pipeline.compare_levels,
        scheduler=SchedulerSettings.from_config(config),
    )


def source_factory(
    config: BotConfig, base: PriceSource, db: ConnectionFactory
) -> Callable[[], PriceSource]:
    """The price source for the calling thread.

    Network sources are read through the SQLite price cache; each worker thread gets its
    own :class:`~smallq.data.cached.CachedPriceSource` on its own connection (kept for the
    thread's life, so its in-memory company table is reused). Local sources are shared.
    """
    if config.source.strip().lower() != "yahoo":
        return lambda: base
    from smallq.data.cached import CachedPriceSource
    from storage.price_cache import SqlitePriceCache

    local = threading.local()

    def for_this_thread() -> PriceSource:
        source = getattr(local, "source", None)
        if source is None:
            cache = SqlitePriceCache(db())
            source = cast(
                PriceSource, CachedPriceSource(base, cache, now=lambda: datetime.now(UTC))
            )
            local.source = source
        return source

    return for_this_thread


def main() -> int:
    """Run the bot until interrupted; exit 2 with one line when it cannot start.

    Any other error ends in the (token-redacting) log and exit status 1.
    """
    try:
        config = load_config()
    except SmallQError as exc:
        print(f"smallq-bot: {exc.user_message()}", file=sys.stderr)
        return 2
    if not config.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    configure_logging(
        config.log_level, config.token, httpx_level=config.httpx_log_level, excepthooks=True
    )
    use_python_strings()
    try:
        deps = make_deps(config)
    except SmallQError as exc:
        print(f"smallq-bot: {exc.user_message()}", file=sys.stderr)
        return 2
    try:
        application = build_application(config, deps)
        _LOG.info("starting smallq-bot: source %s, database %s", config.source, config.db_path)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:  # its message contains the token: never print it
        print(REJECTED_TOKEN, file=sys.stderr)
        return 2
    except Exception:
        _LOG.exception("smallq-bot stopped on an unexpected error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
