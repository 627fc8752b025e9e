"""Assemble the python-telegram-bot ``Application`` from a config and its dependencies."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from telegram import BotCommand
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    Defaults,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from bot.config import BotConfig
from bot.context import DEPS_KEY, context_types, get_deps
from bot.deps import Deps
from bot.handlers import channels, commands, dashboard, trading
from bot.handlers.buttons import on_unknown_button
from bot.handlers.conversation import build_conversation, save_answers_handler
from bot.handlers.errors import error_handler
from bot.ptb.persistence import SqlitePersistence
from bot.ptb.ratelimit import PriorityRateLimiter
from bot.ptb.throttle import PerUserUpdateProcessor
from bot.scheduler import jobs
from bot.services.dashboard import dashboard_enabled
from bot.views.texts import menu

_LOG = logging.getLogger(__name__)


def build_application(
    config: BotConfig, deps: Deps, *, request: BaseRequest | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The configured application with every handler, the error handler and the jobs.

    Updates of different users run concurrently, one user's in order
    (:class:`~bot.ptb.throttle.PerUserUpdateProcessor`); Bot API calls keep Telegram's flood
    limits, the question a user waits for goes before cosmetic edits, and 429 answers are
    retried (:class:`~bot.ptb.ratelimit.PriorityRateLimiter`); conversations and drafts
    persist in SQLite. ``request`` replaces the HTTP transport (tests); otherwise httpx
    talks to ``config.api_base_url``.
    """
    processor = PerUserUpdateProcessor(
        config.max_concurrent_updates,
        burst=config.throttle_burst,
        rate=config.throttle_rate,
    )
    builder = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.api_base_url)
        .base_file_url(config.file_url)
        .concurrent_updates(processor)
        .rate_limiter(PriorityRateLimiter(max_retries=config.rate_limit_retries))
        .persistence(
            SqlitePersistence(
                deps.db,
                update_interval=config.persistence_interval_s,
                executor=deps.storage_executor,
            )
        )
        .context_types(context_types())
        .defaults(Defaults(tzinfo=config.tzinfo))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        timeout = config.request_timeout_s
        builder = (
            builder.connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .pool_timeout(timeout)
            .get_updates_connect_timeout(timeout)
            .get_updates_pool_timeout(timeout)
        )
    application = builder.build()
    application.bot_data[DEPS_KEY] = deps
    register_handlers(application)
    return application


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The conversation first, then commands, the other handler modules, the catch-all
    button answer, the answer saver and the jobs."""
    with warnings.catch_warnings():
        # CallbackQueryHandlers in a per-chat conversation are intended: buttons are
        # checked against the draft's live message instead of per-message tracking.
        warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
        application.add_handler(build_conversation())
    commands.register(application)
    trading.register(application)
    channels.register(application)
    dashboard.register(application)
    # last in group 0: every button press is answered, even a forged or unknown one
    application.add_handler(CallbackQueryHandler(on_unknown_button))
    # after the handlers: the conversation's answers are saved as soon as they are given
    application.add_handler(save_answers_handler(), group=1)
    jobs.register(application)
    application.add_error_handler(error_handler)


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps = get_deps(application)
    if deps.engine_pool is not None:  # warm workers before the first update
        await deps.engine_pool.start()
    commands = menu(dashboard=dashboard_enabled(deps.config))
    await application.bot.set_my_commands([BotCommand(name, text) for name, text in commands])
    _LOG.info("bot @%s ready", application.bot.username)


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps = get_deps(application)
    for task in list(deps.background):  # work started ahead of a question nobody awaits now
        task.cancel()
    await jobs.close(application)  # the sweep's Dask client, if one was connected
    if deps.engine_pool is not None:
        deps.engine_pool.shutdown()  # queued jobs cancelled, running ones finish
    deps.executor.shutdown(wait=False, cancel_futures=True)
    deps.storage_executor.shutdown(wait=True)  # writes are short; let them commit
    deps.db.close_all()
