"""``smallq-bot``: the composition root. Reads the config once, wires the engine, runs polling."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, cast

from telegram import Update
from telegram.error import InvalidToken

from bot.app import build_application
from bot.config import BotConfig, load_config
from bot.deps import ConnectionFactory, Deps
from bot.ptb.redaction import configure_logging
from bot.scheduler.calendar import SchedulerSettings
from bot.services.portfolio import BacktestFigures, BacktestOutcome
from smallq.data.base import PriceSource
from smallq.errors import SmallQError
from smallq.models import Profile, Report
from smallq.params import DEFAULT_PARAMS, EngineParams

_LOG = logging.getLogger(__name__)
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

    Raises
    ------
    SmallQError
        When the data source cannot be opened.
    """
    from smallq import pipeline
    from smallq.data.registry import open_source

    db = ConnectionFactory(config.db_path)
    db()  # create the file and apply migrations before serving
    params = DEFAULT_PARAMS
    if config.mc_paths:
        params = replace(params, mc_paths=config.mc_paths)
    sources = source_factory(config, open_source(config.source), db)
    return Deps(
        config=config,
        db=db,
        source=sources,
        build_portfolio=build_with_record,
        render_charts=lambda report, names: render_charts(report, names, source=sources()),
        params=params,
        executor=ThreadPoolExecutor(config.workers, thread_name_prefix="smallq-engine"),
        storage_executor=ThreadPoolExecutor(2, thread_name_prefix="smallq-storage"),
        run_backtest=run_backtest,
        compare_levels=pipeline.compare_levels,
        scheduler=SchedulerSettings.from_config(config),
    )


def build_with_record(
    profile: Profile, source: PriceSource, *, today: date, params: EngineParams
) -> Report:
    """``build_portfolio`` with the out-of-sample record every recommendation carries."""
    from smallq.pipeline import build_portfolio

    return build_portfolio(profile, source, today=today, params=params, record=True)


def run_backtest(profile: Profile, source: PriceSource, **window: Any) -> BacktestOutcome:
    """``run_strategy_backtest`` plus its summary text and the equity and drawdown charts."""
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
