"""SQLite-backed persistence for python-telegram-bot: conversations and user data.

Only ``user_data`` (the draft answers) and the states of persistent conversations are
stored (``storage.conversations``); ``bot_data`` holds the live :class:`~bot.deps.Deps`
and is never persisted, nor are chat data or callback data.

The Application writes changed entries every ``update_interval`` seconds and once more on
shutdown, so a restart loses at most one interval of answers after a crash and nothing after
a clean stop. Reads (at startup) use the event-loop thread's connection; writes run in
``executor`` when one is given (each of its threads has its own connection), so a locked
database never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import sqlite_utils
from telegram.ext import BasePersistence, PersistenceInput

from storage.conversations import BotStateRepository

_LOG = logging.getLogger(__name__)
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]


class SqlitePersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Persist user data and conversation states in the bot's SQLite database."""

    def __init__(
        self,
        db: Callable[[], sqlite_utils.Database],
        *,
        update_interval: float = 5.0,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self._db = db
        self._executor = executor

    def _repo(self) -> BotStateRepository:
        return BotStateRepository(self._db())

    async def _write(self, func: Callable[[BotStateRepository], None]) -> None:
        """Run a write in the executor (on that thread's connection), or here without one."""
        if self._executor is None:
            func(self._repo())
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, lambda: func(self._repo()))

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return self._repo().all_user_data()

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        try:
            json.dumps(data)
        except (TypeError, ValueError):
            _LOG.warning("user_data of %s is not JSON-serialisable; not persisted", user_id)
            return
        await self._write(lambda repo: repo.set_user_data(user_id, data))

    async def drop_user_data(self, user_id: int) -> None:
        await self._write(lambda repo: repo.drop_user_data(user_id))

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        """Nothing to refresh: this process is the only writer."""

    async def get_conversations(self, name: str) -> ConversationDict:
        return dict(self._repo().conversations(name))

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        await self._write(lambda repo: repo.set_conversation(name, key, new_state))

    # ------------------------------------------------------------------ not stored
    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        """Chat data is not persisted."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Chat data is not persisted."""

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        """Chat data is not persisted."""

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        """Bot data holds live objects and is not persisted."""

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        """Bot data is not persisted."""

    async def get_callback_data(self) -> None:
        return None

    async def update_callback_data(self, data: Any) -> None:
        """Callback data is not persisted."""

    async def flush(self) -> None:
        """Every write is committed immediately; nothing to flush."""
