"""Paper trading: /holdings, /trades, /rebalance, the Accept button and Apply/Skip.

Buttons: ``accept:<portfolio id>`` (under a build's result), ``rebal:apply:<plan id>`` and
``rebal:skip:<plan id>`` (under rebalance signals). Plan ids are random tokens stored in
the database; a forged, foreign, stale or expired one gets a polite answer and changes
nothing. Callback queries are answered first; a per-user lock turns double taps into one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.handlers.replies import chat_id_of, edit_keyboard_later, reply_html, show_action
from bot.parsing import ascii_int
from bot.services.paper import (
    AcceptStatus,
    accept_portfolio,
    assess_blocking,
    assess_inputs,
    decide_plan,
    recent_trades,
    save_signal_plan,
    value_account,
)
from bot.services.portfolio import owned_portfolio, saved_profile
from bot.views.keyboards import callback_value
from bot.views.messages import split_blocks
from bot.views.trading import (
    NO_ACCOUNT,
    NO_PROFILE,
    PLAN_ANSWERS,
    STALE_BUTTON,
    accept_blocks,
    assessment_blocks,
    holdings_blocks,
    plan_buttons,
    trades_blocks,
)
from smallq.types import PlanOutcome

if TYPE_CHECKING:
    from telegram.ext import Application

_LOG = logging.getLogger(__name__)
PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
TRADES_SHOWN = 20
#: SQLite's largest integer: a bigger "id" is forged
PORTFOLIO_ID_MAX = 2**63 - 1


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _markup(rows: tuple[tuple[tuple[str, str], ...], ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows]
    )


async def holdings_command(update: Update, context: BotContext) -> None:
    """Show the paper positions at the latest prices."""
    valuation = await value_account(context.deps, _user_id(update))
    if valuation is None:
        await reply_html(update, context, NO_ACCOUNT)
        return
    await reply_html(update, context, split_blocks(holdings_blocks(valuation)))


async def trades_command(update: Update, context: BotContext) -> None:
    """Show the latest paper trades."""
    trades = recent_trades(context.deps, _user_id(update), TRADES_SHOWN)
    await reply_html(update, context, split_blocks(trades_blocks(trades)))


async def rebalance_command(update: Update, context: BotContext) -> None:
    """Rebuild the target now and offer the whole-share orders with Apply/Skip."""
    deps, user_id = context.deps, _user_id(update)
    inputs = assess_inputs(deps, user_id, calendar_due=True)
    if inputs is None:
        has_profile = saved_profile(deps, user_id) is not None
        await reply_html(update, context, NO_ACCOUNT if has_profile else NO_PROFILE)
        return
    await show_action(context, chat_id_of(update), ChatAction.TYPING)
    async with deps.locks.get(user_id):
        assessment = await deps.run_blocking(assess_blocking, deps, inputs)
    texts = split_blocks(assessment_blocks(assessment, "Rebalance check"))
    plan_id = await save_signal_plan(deps, user_id, inputs, assessment)
    markup = _markup(plan_buttons(plan_id)) if plan_id is not None else None
    await reply_html(update, context, texts, markup)


async def on_accept_button(update: Update, context: BotContext) -> None:
    """Record the accepted build as paper trades at the latest prices."""
    query = update.callback_query
    assert query is not None
    portfolio_id = ascii_int(callback_value(query.data, "accept"), 1, PORTFOLIO_ID_MAX)
    if portfolio_id is None:
        await query.answer(STALE_BUTTON)
        return
    user_id = _user_id(update)
    if owned_portfolio(context.deps, user_id, portfolio_id) is None:
        # foreign or erased: say so, not "Recording"
        await query.answer(STALE_BUTTON)
        await reply_html(update, context, STALE_BUTTON)
        return
    await query.answer("Recording paper trades…")
    async with context.deps.locks.get(user_id):
        outcome = await accept_portfolio(context.deps, user_id, portfolio_id)
    if outcome.status is AcceptStatus.NOT_FOUND:
        await reply_html(update, context, STALE_BUTTON)
    elif outcome.status is AcceptStatus.ALREADY:
        await reply_html(
            update, context, "This portfolio is already in your paper account. See /holdings."
        )
    else:
        await reply_html(update, context, split_blocks(accept_blocks(outcome)))


async def on_rebalance_button(update: Update, context: BotContext) -> None:
    """Apply or skip a stored rebalance plan, once, for its owner only."""
    query = update.callback_query
    assert query is not None
    value = callback_value(query.data, "rebal") or ""
    action, _, plan_id = value.partition(":")
    if action not in ("apply", "skip") or not plan_id:
        await query.answer(STALE_BUTTON)
        return
    deps, user_id = context.deps, _user_id(update)
    async with deps.locks.get(user_id):
        outcome = await decide_plan(deps, plan_id, user_id, apply=action == "apply")
    await query.answer(PLAN_ANSWERS[outcome])
    if outcome in (PlanOutcome.APPLIED, PlanOutcome.SKIPPED, PlanOutcome.ALREADY_DONE):
        # cosmetic: in the background, after the reply (too old to edit or a timeout is logged)
        await edit_keyboard_later(context, query, None, "remove plan buttons")
    if outcome is not PlanOutcome.NOT_FOUND:
        await reply_html(update, context, PLAN_ANSWERS[outcome])


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the paper trading commands and buttons (private chats)."""
    application.add_handler(CommandHandler("holdings", holdings_command, filters=PRIVATE))
    application.add_handler(CommandHandler("trades", trades_command, filters=PRIVATE))
    application.add_handler(CommandHandler("rebalance", rebalance_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_accept_button, pattern=r"^accept:"))
    application.add_handler(CallbackQueryHandler(on_rebalance_button, pattern=r"^rebal:"))
