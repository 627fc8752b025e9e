"""Chat admin checks through ``getChatMember`` (used at /link, /broadcast and digest time)."""

from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

_LOG = logging.getLogger(__name__)
ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})


async def is_chat_admin(bot: Any, chat_id: int, user_id: int) -> bool | None:
    """Whether the user administers the chat now; ``None`` when Telegram could not say."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        _LOG.info("getChatMember(%s, %s) failed: %s", chat_id, user_id, exc)
        return None
    return member.status in ADMIN_STATUSES
