"""The /start conversation: sectors → capital → risk → strategy → confirm → result.

Conversation state is each handler's return value (:class:`State`); ``None`` keeps the
state. Answers live in a :class:`~bot.views.draft.Draft` in ``user_data``. A button counts only
when it sits on the draft's live message; any other button (an old keyboard, another
user's, forged data) is answered with a short notice and changes nothing. Edited messages
never match (``filters.UpdateType.MESSAGE``), so an edit after an accepted answer is ignored.
A button answer turns its question into the next one with one edit (the answer on top, the
next question and its buttons below) instead of an edit and a new message: each Bot API call
to a chat waits on the 30-per-second limiter. When that edit fails the next question is sent
as a new message (:func:`_ask_in_place`), so a timeout never stops the conversation. Callback
queries are answered first, before any other call. The /delete confirmation is also a
fallback here, so erasing a user ends the conversation (no state is written back).

Faults and restarts: each answer is saved when it is given (:func:`save_answers` runs after
every update of a user with a draft), not only on the persistence flush. A button on an old
keyboard while a draft is open asks the current question again with a live keyboard. A
build is idempotent per confirmation message: tapping *Build* again on the same summary
(a double tap, or after a crash while the result was being sent) sends the stored result
again instead of building twice.

Groups: privacy mode hides typed answers from the bot, so /start (and *Edit profile*) in a
group answers with a button that opens the private chat (a ``t.me`` deep link).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from html import escape
from typing import Any

from telegram import CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from bot.handlers.buttons import pressed_by_owner
from bot.handlers.commands import confirm_delete
from bot.handlers.replies import (
    best_effort,
    chat_id_of,
    edit_keyboard_later,
    edit_question,
    reply_html,
    send_charts,
    send_html,
    send_portfolio,
    show_action,
)
from bot.ptb.ratelimit import URGENT
from bot.services.portfolio import (
    BuildOutcome,
    UserInfo,
    build_and_store,
    check_sectors,
    confirmed_build,
    level_choices,
    level_choices_ready,
    prefetch_level_choices,
    result_charts,
    saved_profile,
    stocks_per_sector,
    stored_build,
)
from bot.services.records import portfolio_view
from bot.views import texts
from bot.views.draft import DRAFT_KEY, ENDED_KEY, Draft
from bot.views.keyboards import (
    SECTOR_CODES,
    callback_value,
    confirm_keyboard,
    horizon_keyboard,
    parse_quiz,
    parse_risk,
    parse_sector_code,
    parse_strategy,
    reaction_keyboard,
    risk_keyboard,
    sectors_keyboard,
    split_owner,
    strategy_keyboard,
)
from bot.views.messages import money
from smallq.errors import InputError, InvalidCapitalError, SmallQError
from smallq.models import Profile
from smallq.profile import DrawdownReaction, Horizon, parse_capital, suggest_level

_LOG = logging.getLogger(__name__)
CONVERSATION_NAME = "build"
NEW_MESSAGE = filters.UpdateType.MESSAGE
TEXT_ANSWER = NEW_MESSAGE & filters.TEXT & ~filters.COMMAND
OTHER_MESSAGE = NEW_MESSAGE & ~filters.COMMAND & ~filters.TEXT
ANY_MESSAGE = NEW_MESSAGE & ~filters.COMMAND
CONVERSATION_BUTTONS = r"^(sector|risk|quiz|strategy|confirm):"


class State(IntEnum):
    """Steps of the /start conversation."""

    SECTORS = 1
    CAPITAL = 2
    RISK = 3
    STRATEGY = 4
    CONFIRM = 5


END = ConversationHandler.END


# --------------------------------------------------------------------------- helpers
def _user_info(update: Update) -> UserInfo:
    user = update.effective_user
    assert user is not None
    return UserInfo(user.id, user.username, user.first_name, user.language_code)


def _live_draft(update: Update, context: BotContext) -> Draft | str:
    """The draft when the pressed button is on its live message, else the notice to show."""
    draft = Draft.load(context.user_data)
    if draft is None:
        return texts.SESSION_EXPIRED
    query = update.callback_query
    if query is None or query.message is None or query.message.message_id != draft.message_id:
        return texts.STALE_BUTTON
    return draft


def _confirmation(update: Update, draft: Draft) -> str:
    """The key of the tapped confirmation: chat and summary message."""
    return f"{chat_id_of(update)}:{draft.message_id}"


def _private_chat_link(context: BotContext) -> InlineKeyboardMarkup:
    """A button that opens the private chat with the bot and starts the questions."""
    url = f"https://t.me/{context.bot.username}?start=build"
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.OPEN_PRIVATE_BUTTON, url=url)]])


def _in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type != Chat.PRIVATE


@dataclass(frozen=True, slots=True)
class _Press:
    """A button press that may act: its query, the live draft and the parsed value."""

    query: CallbackQuery
    draft: Draft
    value: Any


async def _press(
    update: Update, context: BotContext, prefix: str, parse: Callable[[str | None], Any]
) -> _Press | State | int | None:
    """Read a conversation button; a stale, forged or foreign one is answered and rejected.

    Returns the press, or the handler's return value for a rejected press.
    """
    query = update.callback_query
    assert query is not None
    draft = _live_draft(update, context)
    value = parse(callback_value(query.data, prefix))
    if draft == texts.STALE_BUTTON and value is not None:  # an old keyboard of this draft
        return await _stale(update, context)
    if isinstance(draft, str) or value is None:
        return await _reject(query, draft if isinstance(draft, str) else texts.STALE_BUTTON)
    return _Press(query, draft, value)


async def _reject(query: CallbackQuery, notice: str) -> State | int | None:
    """Answer a button that must not act; end the conversation when the draft is gone."""
    await query.answer(notice)
    return END if notice == texts.SESSION_EXPIRED else None


async def _reask(update: Update, context: BotContext, draft: Draft) -> State:
    """Ask the draft's current question again, with a live keyboard (old keyboard pressed)."""
    step = State(draft.step) if draft.step in set(State) else State.SECTORS
    if step is State.CAPITAL:
        draft.message_id = None
        draft.save(context.user_data)
        await reply_html(update, context, texts.CAPITAL_PROMPT)
        return step
    if step is State.RISK:
        return await _ask(update, context, draft, texts.RISK_PROMPT, risk_keyboard(), step)
    if step is State.STRATEGY:
        keyboard = strategy_keyboard()
        return await _ask(update, context, draft, texts.STRATEGY_PROMPT, keyboard, step)
    if step is State.CONFIRM:
        return await _confirm(update, context, draft)
    return await _ask_sectors(update, context, draft, texts.SECTORS_PROMPT)


async def _stale(update: Update, context: BotContext) -> State | int | None:
    """An old keyboard: say so and, while a draft is open, ask its question again."""
    query = update.callback_query
    assert query is not None
    draft = Draft.load(context.user_data)
    if draft is None or _in_group(update):  # the questions run in private chats only
        await query.answer(texts.STALE_BUTTON)
        return END if draft is None else None
    await query.answer(texts.STALE_REASKED)
    return await _reask(update, context, draft)


async def _ask(
    update: Update,
    context: BotContext,
    draft: Draft,
    question: str,
    keyboard: InlineKeyboardMarkup | None,
    state: State,
) -> State:
    """Send the next question with its buttons; remember its message and save the draft."""
    message = await reply_html(update, context, question, keyboard, rate=URGENT)
    draft.message_id = message.message_id if message else None
    draft.step = int(state)
    draft.save(context.user_data)
    return state


async def _ask_in_place(
    update: Update,
    context: BotContext,
    press: _Press,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
    state: State,
) -> State:
    """Edit the pressed question into the next one; send it anew if the edit fails.

    Each summary still gets a message of its own (the risk question after the typed amount
    is always new), so the confirmation key of an idempotent Build stays unique.
    """
    edit = edit_question(context, press.query, text, keyboard, URGENT)
    if await best_effort(edit, "next question"):
        press.draft.step = int(state)
        press.draft.save(context.user_data)  # the live message stays the same
        return state
    return await _ask(update, context, press.draft, text, keyboard, state)


async def _sectors_question(
    context: BotContext, draft: Draft, intro: str
) -> tuple[str, InlineKeyboardMarkup]:
    counts = await stocks_per_sector(context.deps)
    hint = f"\n{texts.SECTORS_COUNTS_HINT}" if counts else ""
    return intro + hint, sectors_keyboard(draft.sectors, counts)


async def _ask_sectors(update: Update, context: BotContext, draft: Draft, intro: str) -> State:
    question, keyboard = await _sectors_question(context, draft, intro)
    return await _ask(update, context, draft, question, keyboard, State.SECTORS)


# --------------------------------------------------------------------------- entry
async def start_command(update: Update, context: BotContext) -> State | int:
    """Start (or restart) the questions with an empty draft; in a group, link to the bot."""
    if _in_group(update):
        await reply_html(update, context, texts.START_IN_PRIVATE, _private_chat_link(context))
        return END
    user = update.effective_user
    name = user.first_name if user else None
    return await _ask_sectors(update, context, Draft(), texts.welcome(name))


async def on_profile_edit_button(update: Update, context: BotContext) -> State | int | None:
    """Re-enter the questions prefilled from the saved profile (its owner only)."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    _, owner = split_owner(callback_value(query.data, "profile"))
    if not await pressed_by_owner(update, owner):
        return None
    await query.answer()
    if _in_group(update):
        await reply_html(update, context, texts.START_IN_PRIVATE, _private_chat_link(context))
        return END
    profile = saved_profile(context.deps, update.effective_user.id)
    return await _ask_sectors(update, context, Draft.from_profile(profile), texts.SECTORS_PROMPT)


# --------------------------------------------------------------------------- sectors
async def on_sector_button(update: Update, context: BotContext) -> State | int | None:
    """Toggle a sector, or finish the choice with Done."""
    press = await _press(update, context, "sector", parse_sector_code)
    if not isinstance(press, _Press):
        return press
    query, draft, code = press.query, press.draft, press.value
    if code != "done":
        draft.toggle(code)
        draft.save(context.user_data)
        await query.answer()
        counts = await stocks_per_sector(context.deps)
        keyboard = sectors_keyboard(draft.sectors, counts)
        await edit_keyboard_later(context, query, keyboard, "sector toggle")
        return None
    if not draft.sectors:
        return await _reject(query, texts.SECTORS_EMPTY)
    chosen = [SECTOR_CODES[code] for code in draft.sectors if code in SECTOR_CODES]
    user = update.effective_user
    base = None if user is None else saved_profile(context.deps, user.id)
    check = await check_sectors(context.deps, chosen, base)
    if check is not None and not check.ok:  # say it now, not four steps later at Build
        await query.answer(texts.SECTORS_TOO_FEW_SHORT)
        await reply_html(update, context, texts.sectors_too_few(check))
        return None
    await query.answer()
    _prefetch_levels(context, draft, base)
    hint = f" (last time {money(draft.capital)})" if draft.capital else ""
    answer = f"Sectors: {escape(texts.sectors_line(draft.sectors))}"
    state = await _ask_in_place(
        update, context, press, f"{answer}\n\n{texts.CAPITAL_PROMPT}{hint}", None, State.CAPITAL
    )
    draft.message_id = None  # the amount is typed: no button is live
    draft.save(context.user_data)
    return state


# --------------------------------------------------------------------------- capital
async def on_capital_text(update: Update, context: BotContext) -> State | int | None:
    """Parse the amount strictly; re-ask on a bad one."""
    draft = Draft.load(context.user_data)
    if draft is None:
        await reply_html(update, context, texts.SESSION_EXPIRED)
        return END
    assert update.message is not None
    try:
        capital = parse_capital(update.message.text or "")
    except InvalidCapitalError as exc:
        await reply_html(update, context, texts.capital_reask(exc.user_message()))
        return None
    draft.capital = capital
    draft.horizon = draft.reaction = None
    draft.risk_text = await _risk_text(update, context, draft)
    return await _ask(update, context, draft, draft.risk_text, risk_keyboard(), State.RISK)


async def _risk_text(update: Update, context: BotContext, draft: Draft) -> str:
    """The risk question with each level in money for these sectors and this capital."""
    assert update.effective_user is not None
    try:
        profile = draft.to_profile(context.deps.users().get_profile(update.effective_user.id))
    except InputError:
        return texts.risk_prompt(None)
    if not level_choices_ready(context.deps, profile):  # usually ready: started with the sectors
        await show_action(context, chat_id_of(update), ChatAction.TYPING)
    choices = await level_choices(context.deps, profile)
    return texts.risk_prompt(choices.comparison, choices.note)


def _prefetch_levels(context: BotContext, draft: Draft, base: Profile | None) -> None:
    """Start the risk question's level table while the amount is typed."""
    try:
        profile = replace(draft, capital=1.0).to_profile(base)
    except InputError:
        return
    prefetch_level_choices(context.deps, profile)


async def on_capital_not_text(update: Update, context: BotContext) -> None:
    """A sticker, photo, voice… where the amount is expected: re-ask."""
    await reply_html(update, context, texts.CAPITAL_NOT_TEXT)


# --------------------------------------------------------------------------- risk, strategy
async def on_risk_button(update: Update, context: BotContext) -> State | int | None:
    """Store the risk level and ask for the strategy."""
    press = await _press(update, context, "risk", parse_risk)
    if not isinstance(press, _Press):
        return press
    query, draft, level = press.query, press.draft, press.value
    await query.answer()
    draft.risk = int(level)
    answer = escape(f"Risk: {level.value} · {level.label}")
    question = f"{answer}\n\n{texts.STRATEGY_PROMPT}"
    return await _ask_in_place(
        update, context, press, question, strategy_keyboard(), State.STRATEGY
    )


async def on_quiz_button(update: Update, context: BotContext) -> State | int | None:
    """Help me choose: ask the horizon, then the reaction to a fall, then suggest a level."""
    press = await _press(update, context, "quiz", parse_quiz)
    if not isinstance(press, _Press):
        return press
    query, draft, (kind, answer) = press.query, press.draft, press.value
    await query.answer()
    if kind == "help":
        await edit_keyboard_later(context, query, None, "quiz start")
        return await _ask(
            update, context, draft, texts.HORIZON_PROMPT, horizon_keyboard(), State.RISK
        )
    if kind == "h":
        draft.horizon = answer
        await edit_keyboard_later(context, query, None, "horizon answer")
        return await _ask(
            update, context, draft, texts.REACTION_PROMPT, reaction_keyboard(), State.RISK
        )
    draft.reaction = answer
    await edit_keyboard_later(context, query, None, "reaction answer")
    if draft.horizon is None:
        return await _ask(
            update, context, draft, texts.HORIZON_PROMPT, horizon_keyboard(), State.RISK
        )
    suggested = suggest_level(Horizon(draft.horizon), DrawdownReaction(draft.reaction))
    question = (draft.risk_text or texts.RISK_PROMPT).split(texts.HELP_HINT)[0]
    question += texts.suggestion(suggested)
    return await _ask(update, context, draft, question, risk_keyboard(suggested), State.RISK)


async def on_strategy_button(update: Update, context: BotContext) -> State | int | None:
    """Store the strategy and show the confirmation summary."""
    press = await _press(update, context, "strategy", parse_strategy)
    if not isinstance(press, _Press):
        return press
    query, draft, strategy = press.query, press.draft, press.value
    await query.answer()
    draft.strategy = strategy.value
    summary = _summary(update, context, draft)
    return await _ask_in_place(update, context, press, summary, confirm_keyboard(), State.CONFIRM)


def _summary(update: Update, context: BotContext, draft: Draft) -> str:
    assert update.effective_user is not None
    return texts.summary(draft, saved_profile(context.deps, update.effective_user.id))


async def _confirm(update: Update, context: BotContext, draft: Draft) -> State:
    summary = _summary(update, context, draft)
    return await _ask(update, context, draft, summary, confirm_keyboard(), State.CONFIRM)


async def on_buttons_expected(update: Update, context: BotContext) -> None:
    """Text (or anything) where a button is expected: point at the buttons."""
    await reply_html(update, context, texts.USE_BUTTONS)


async def on_confirm_text(update: Update, context: BotContext) -> State | int | None:
    """Anything typed at the confirmation: show the summary and its buttons again."""
    draft = Draft.load(context.user_data)
    if draft is None:
        await reply_html(update, context, texts.SESSION_EXPIRED)
        return END
    return await _confirm(update, context, draft)


# --------------------------------------------------------------------------- confirm, build
async def on_confirm_button(update: Update, context: BotContext) -> State | int | None:
    """Build, edit the answers, or cancel."""
    press = await _press(update, context, "confirm", _confirm_action)
    if not isinstance(press, _Press):
        return press
    query, draft, action = press.query, press.draft, press.value
    if action == "cancel":
        await query.answer()
        Draft.clear(context.user_data)
        if not await best_effort(query.edit_message_text(texts.CANCELLED), "cancel"):
            await reply_html(update, context, texts.CANCELLED)
        return END
    if action == "edit":
        await query.answer()
        question, keyboard = await _sectors_question(context, draft, texts.SECTORS_PROMPT)
        return await _ask_in_place(update, context, press, question, keyboard, State.SECTORS)
    return await _build(update, context, draft)


async def _build(update: Update, context: BotContext, draft: Draft) -> State | int | None:
    """One build per user at a time; on an engine error the buttons stay for another try."""
    query = update.callback_query
    assert query is not None
    user = _user_info(update)
    lock = context.deps.locks.get(user.id)
    if lock.locked():
        await query.answer(texts.BUSY)
        return None
    async with lock:
        confirmation = _confirmation(update, draft)
        stored = confirmed_build(context.deps, user.id, confirmation)
        await query.answer(texts.RESENDING if stored else texts.BUILDING)
        chat_id = chat_id_of(update)
        await show_action(context, chat_id, ChatAction.TYPING)
        if stored is not None:  # this summary was built already: send that result again
            outcome = await stored_build(context.deps, stored)
        else:
            base = saved_profile(context.deps, user.id)
            profile = draft.to_profile(base)
            outcome = await build_and_store(
                context.deps, user, profile, confirmation=confirmation
            )
        Draft.clear(context.user_data)
        await _send_result(context, chat_id, outcome)
        await edit_keyboard_later(context, query, None, "remove confirm buttons")
    return END


async def _send_result(context: BotContext, chat_id: int, outcome: BuildOutcome) -> None:
    """The stored build and its charts; after a network error, point to /portfolio."""
    try:
        await send_portfolio(
            context, chat_id, portfolio_view(outcome.record), outcome.portfolio_id,
            today=context.deps.today(),
        )
        # the numbers are out; the pictures are drawn now, after every queued build's text
        try:
            charts = await result_charts(context.deps, outcome)
        except SmallQError as exc:
            _LOG.warning("charts of portfolio %s not drawn: %s", outcome.portfolio_id, exc)
            return
        await send_charts(context, chat_id, charts, outcome.record.as_of)
    except BadRequest:  # a subclass of NetworkError, but a bug on our side
        raise
    except NetworkError as exc:  # TimedOut included: part of it may have arrived
        _LOG.warning("result of portfolio %s not delivered: %s", outcome.portfolio_id, exc)
        try:
            await send_html(context, chat_id, texts.RESULT_NOT_DELIVERED)
        except TelegramError:
            _LOG.info("could not point chat %s to /portfolio either", chat_id)


# --------------------------------------------------------------------------- leaving
async def cancel_command(update: Update, context: BotContext) -> int:
    """Drop the draft and leave the conversation."""
    Draft.clear(context.user_data)
    await reply_html(update, context, texts.CANCELLED)
    return END


async def on_delete_button(update: Update, context: BotContext) -> int | None:
    """/delete confirmed during the questions: erase, and leave the conversation."""
    return END if await confirm_delete(update, context) else None


async def on_stale_button(update: Update, context: BotContext) -> State | int | None:
    """A conversation button of another step: say so and ask the current question again.

    Forged data, or a button that claims to sit on the live question's message (which only
    has buttons of the current step), is only answered.
    """
    query = update.callback_query
    assert query is not None
    draft = Draft.load(context.user_data)
    on_live = (
        draft is not None
        and query.message is not None
        and query.message.message_id == draft.message_id
    )
    if on_live or not _valid_button(query.data):
        await query.answer(texts.STALE_BUTTON)
        return None
    return await _stale(update, context)


def _valid_button(data: str | None) -> bool:
    """Whether conversation callback data is one the bot could have sent."""
    parsers: dict[str, Callable[[str | None], Any]] = {
        "sector": parse_sector_code, "risk": parse_risk, "strategy": parse_strategy,
        "confirm": _confirm_action,
    }  # fmt: skip
    prefix = (data or "").partition(":")[0]
    parse = parsers.get(prefix)
    return parse is not None and parse(callback_value(data, prefix)) is not None


async def save_answers(update: Update, context: BotContext) -> None:
    """Save the user's draft and conversation state now (runs after the conversation).

    The application's own flush runs every ``SMALLQ_PERSISTENCE_INTERVAL_S``; an answer must
    survive a crash right after it was given.
    """
    user, data = update.effective_user, context.user_data
    application = context.application
    if user is None or data is None or application.persistence is None:
        return
    if DRAFT_KEY in data or data.pop(ENDED_KEY, None):
        application.mark_data_for_update_persistence(user_ids=user.id)
        await application.update_persistence()


def build_conversation() -> ConversationHandler[BotContext]:
    """The persistent /start conversation handler."""
    buttons_expected = MessageHandler(ANY_MESSAGE, on_buttons_expected)
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        State.SECTORS: [
            CallbackQueryHandler(on_sector_button, pattern=r"^sector:"),
            buttons_expected,
        ],
        State.CAPITAL: [
            MessageHandler(TEXT_ANSWER, on_capital_text),
            MessageHandler(OTHER_MESSAGE, on_capital_not_text),
        ],
        State.RISK: [
            CallbackQueryHandler(on_risk_button, pattern=r"^risk:"),
            CallbackQueryHandler(on_quiz_button, pattern=r"^quiz:"),
            buttons_expected,
        ],
        State.STRATEGY: [
            CallbackQueryHandler(on_strategy_button, pattern=r"^strategy:"),
            buttons_expected,
        ],
        State.CONFIRM: [
            CallbackQueryHandler(on_confirm_button, pattern=r"^confirm:"),
            MessageHandler(ANY_MESSAGE, on_confirm_text),
        ],
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("start", start_command, filters=NEW_MESSAGE),
            CallbackQueryHandler(on_profile_edit_button, pattern=r"^profile:edit(@[0-9]+)?$"),
        ],
        states=states,
        fallbacks=[
            CommandHandler("cancel", cancel_command, filters=NEW_MESSAGE),
            CallbackQueryHandler(on_delete_button, pattern=r"^delete:"),
            CallbackQueryHandler(on_stale_button, pattern=CONVERSATION_BUTTONS),
        ],
        allow_reentry=True,
        name=CONVERSATION_NAME,
        persistent=True,
    )


def save_answers_handler() -> TypeHandler[Update, BotContext, None]:
    """:func:`save_answers` for every update; register it in a group after the conversation."""
    return TypeHandler(Update, save_answers)


def _confirm_action(value: str | None) -> str | None:
    """The confirmation button's action, or None for anything else."""
    return value if value in ("build", "edit", "cancel") else None
