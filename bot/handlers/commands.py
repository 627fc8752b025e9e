"""Commands outside the conversation: /help /portfolio /risk /stress /profile /settings
/delete /cancel /backtest, and the /settings and /delete buttons.

/portfolio and /risk show the last stored build (with its date); /stress reuses the last
build's report while it is in memory, else rebuilds the stored profile at the stored date.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.handlers.buttons import pressed_by_owner
from bot.handlers.replies import (
    best_effort,
    chat_id_of,
    reply_html,
    send_charts,
    send_html,
    send_portfolio,
    show_action,
)
from bot.parsing import ascii_int
from bot.services.dashboard import dashboard_enabled
from bot.services.portfolio import (
    apply_setting,
    backtest,
    current_settings,
    erase,
    latest_portfolio,
    performance,
    save_profile,
    saved_profile,
    stress_of_latest,
)
from bot.services.records import portfolio_view
from bot.views import texts
from bot.views.keyboards import (
    callback_value,
    delete_keyboard,
    parse_setting,
    profile_keyboard,
    settings_keyboard,
    split_owner,
)
from bot.views.messages import format_backtest, format_performance, render_risk, render_stress
from smallq.errors import InsufficientHistoryError

_LOG = logging.getLogger(__name__)
NEW_MESSAGE = filters.UpdateType.MESSAGE
BACKTEST_YEARS = 5
MAX_BACKTEST_YEARS = 30


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands."""
    dashboard = dashboard_enabled(context.deps.config)
    await reply_html(update, context, texts.help_text(dashboard=dashboard))


async def portfolio_command(update: Update, context: BotContext) -> None:
    """Show the last stored portfolio with its date."""
    record = latest_portfolio(context.deps, _user_id(update))
    if record is None:
        await reply_html(update, context, texts.NO_PORTFOLIO)
        return
    title = f"Your portfolio of {(record.created_at or '')[:10]}"
    await send_portfolio(
        context, chat_id_of(update), portfolio_view(record), record.id, title=title,
        today=context.deps.today(),
    )  # fmt: skip


async def risk_command(update: Update, context: BotContext) -> None:
    """Show the risk figures of the last portfolio."""
    record = latest_portfolio(context.deps, _user_id(update))
    answer = render_risk(portfolio_view(record)) if record else texts.NO_PORTFOLIO
    await reply_html(update, context, answer)


async def stress_command(update: Update, context: BotContext) -> None:
    """Stress scenarios, Monte Carlo figures and their charts for the last portfolio."""
    user_id, chat_id = _user_id(update), chat_id_of(update)
    lock = context.deps.locks.get(user_id)
    if lock.locked():
        await reply_html(update, context, texts.BUSY)
        return
    async with lock:
        await show_action(context, chat_id, ChatAction.TYPING)
        found = await stress_of_latest(context.deps, user_id)
        if found is None:
            await reply_html(update, context, texts.NO_PORTFOLIO)
            return
        record, charts = found
        await send_html(context, chat_id, render_stress(portfolio_view(record)))
        await send_charts(context, chat_id, charts, record.as_of)


async def profile_command(update: Update, context: BotContext) -> None:
    """Show the saved profile with an Edit button."""
    profile = saved_profile(context.deps, _user_id(update))
    if profile is None:
        await reply_html(update, context, texts.NO_PROFILE)
        return
    markup = profile_keyboard(_user_id(update))
    await reply_html(update, context, texts.profile_text(profile), markup)


async def settings_command(update: Update, context: BotContext) -> None:
    """Show the settings keyboard."""
    profile = saved_profile(context.deps, _user_id(update))
    if profile is None:
        await reply_html(update, context, texts.NO_PROFILE)
        return
    markup = settings_keyboard(current_settings(profile), _user_id(update))
    await reply_html(update, context, texts.settings_text(profile), markup)


async def on_setting_button(update: Update, context: BotContext) -> None:
    """Apply one setting to the saved profile of the user who asked for /settings."""
    query = update.callback_query
    assert query is not None
    value, owner = split_owner(callback_value(query.data, "set"))
    if not await pressed_by_owner(update, owner):
        return
    choice = parse_setting(value)
    profile = saved_profile(context.deps, _user_id(update))
    if choice is None or profile is None:
        await query.answer(texts.STALE_BUTTON if choice is None else texts.NO_PROFILE)
        return
    changed = apply_setting(profile, *choice)
    if changed == profile:
        await query.answer("Already set.")
        return
    user_id = _user_id(update)
    await save_profile(context.deps, user_id, changed)
    await query.answer("Saved.")
    await best_effort(
        query.edit_message_text(
            texts.settings_text(changed),
            parse_mode="HTML",
            reply_markup=settings_keyboard(current_settings(changed), user_id),
        ),
        "settings keyboard",
    )


async def delete_command(update: Update, context: BotContext) -> None:
    """Ask before erasing the user's data."""
    await reply_html(update, context, texts.DELETE_CONFIRM, delete_keyboard(_user_id(update)))


async def on_delete_button(update: Update, context: BotContext) -> None:
    """Erase everything on "yes"; keep on "no"."""
    await confirm_delete(update, context)


async def confirm_delete(update: Update, context: BotContext) -> bool:
    """Answer the /delete buttons; return whether the user's data was erased.

    Also a fallback of the /start conversation, which then ends (see its module). Only the
    user who sent /delete may answer it (in a group, anyone else gets "not yours").
    """
    query = update.callback_query
    assert query is not None
    answer, owner = split_owner(callback_value(query.data, "delete"))
    if answer in ("yes", "no") and not await pressed_by_owner(update, owner):
        return False
    if answer not in ("yes", "no"):
        await query.answer(texts.STALE_BUTTON)
        return False
    await query.answer()
    if answer == "yes":
        await erase(context.deps, _user_id(update))
        context.application.drop_user_data(_user_id(update))
    done = texts.DELETED if answer == "yes" else texts.KEPT
    if not await best_effort(query.edit_message_text(done), "delete answer"):
        await reply_html(update, context, done)
    return answer == "yes"


async def cancel_command(update: Update, context: BotContext) -> None:
    """Outside the questions there is nothing to cancel."""
    await reply_html(update, context, texts.NOTHING_TO_CANCEL)


async def backtest_command(update: Update, context: BotContext) -> None:
    """Backtest the saved profile's strategy over the last years (``/backtest 3``)."""
    deps = context.deps
    if deps.run_backtest is None:
        await reply_html(update, context, texts.BACKTEST_SOON)
        return
    years = backtest_years(context.args)
    if years is None:
        await reply_html(update, context, texts.BACKTEST_USAGE)
        return
    profile = saved_profile(deps, _user_id(update))
    if profile is None:
        await reply_html(update, context, texts.NO_PROFILE)
        return
    lock = deps.locks.get(_user_id(update))
    if lock.locked():
        await reply_html(update, context, texts.BUSY)
        return
    async with lock:
        chat_id = chat_id_of(update)
        await show_action(context, chat_id, ChatAction.TYPING)
        outcome = await backtest(deps, profile, years)
        summary = format_backtest(outcome.text, outcome.start, outcome.end, outcome.figures)
        await send_html(context, chat_id, summary)
        await send_charts(context, chat_id, outcome.charts, outcome.end)


async def performance_command(update: Update, context: BotContext) -> None:
    """Show how the last portfolio did since it was built, against the S&P 500."""
    deps = context.deps
    record = latest_portfolio(deps, _user_id(update))
    if record is None:
        await reply_html(update, context, texts.NO_PORTFOLIO)
        return
    chat_id = chat_id_of(update)
    await show_action(context, chat_id, ChatAction.TYPING)
    try:
        outcome = await performance(deps, record)
    except InsufficientHistoryError:
        await reply_html(update, context, texts.no_performance_yet(record.as_of))
        return
    await send_html(context, chat_id, format_performance(outcome.text, outcome.since))
    await send_charts(context, chat_id, outcome.charts, outcome.end)


def backtest_years(args: list[str] | None) -> int | None:
    """Years from ``/backtest N`` (1-30 in ASCII digits), the default without an argument,
    ``None`` for anything else (the caller shows the usage line)."""
    if not args:
        return BACKTEST_YEARS
    if len(args) != 1:
        return None
    return ascii_int(args[0], 1, MAX_BACKTEST_YEARS)


async def on_stale_button(update: Update, context: BotContext) -> None:
    """A conversation button pressed after its conversation ended."""
    query = update.callback_query
    assert query is not None
    await query.answer(texts.STALE_BUTTON)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the command and button handlers (group 0, after the conversation)."""
    for name, callback in (
        ("help", help_command),
        ("portfolio", portfolio_command),
        ("risk", risk_command),
        ("stress", stress_command),
        ("profile", profile_command),
        ("settings", settings_command),
        ("delete", delete_command),
        ("cancel", cancel_command),
        ("backtest", backtest_command),
        ("performance", performance_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGE))
    application.add_handler(CallbackQueryHandler(on_setting_button, pattern=r"^set:"))
    application.add_handler(CallbackQueryHandler(on_delete_button, pattern=r"^delete:"))
    application.add_handler(
        CallbackQueryHandler(on_stale_button, pattern=r"^(sector|risk|strategy|confirm):")
    )
