"""Button plumbing shared by the handler modules: who may press, and the catch-all answer.

In a group anyone can tap any button. Buttons that act for a person carry their user id
(``@<owner>``, see :mod:`bot.views.keyboards`); :func:`pressed_by_owner` answers everybody
else with "not yours". :func:`on_unknown_button` is registered last: a forged, unknown or
stale callback query is still answered, so no spinner is left turning.
"""

from __future__ import annotations

from telegram import Chat, Update

from bot.context import BotContext
from bot.views import texts


def presser_id(update: Update) -> int:
    """The id of the user who pressed the button."""
    assert update.effective_user is not None
    return update.effective_user.id


async def pressed_by_owner(update: Update, owner: int | None) -> bool:
    """Whether the button may act; if not, the query is answered with "not yours".

    A button without an owner (made before owners were encoded) acts only in a private chat,
    where only its owner can see it.
    """
    query = update.callback_query
    assert query is not None
    chat = update.effective_chat
    if owner is None:
        allowed = chat is not None and chat.type == Chat.PRIVATE
    else:
        allowed = owner == presser_id(update)
    if not allowed:
        await query.answer(texts.NOT_YOURS)
    return allowed


async def on_unknown_button(update: Update, context: BotContext) -> None:
    """Answer any button nobody else handled (forged, unknown or stale)."""
    query = update.callback_query
    if query is not None:
        await query.answer(texts.STALE_BUTTON)
