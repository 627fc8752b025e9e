"""The bot's persisted conversation states and per-user scratch data.

* ``bot_conversations``: (conversation name, key) -> state, where ``key`` is the JSON list
  of the conversation key (``[chat_id, user_id]`` for per-chat, per-user conversations) and
  ``user_id`` is its last element, kept separately so a user's rows can be erased.
* ``bot_user_data``: user id -> JSON object (the bot's ``context.user_data``: the draft
  answers of a conversation in progress). Values must be JSON-serialisable.

Tables: migration ``0102_bot_state`` in :mod:`storage.migrations`. These rows let a user who
is halfway through the questions continue after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from storage.codec import dumps, loads
from storage.db import query_all, query_one, transaction, utc_now_iso

ConversationKey = tuple[int | str, ...]


class BotStateRepository:
    """Conversation states and user data on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ conversations
    def conversations(self, name: str) -> dict[ConversationKey, object]:
        """Every stored state of conversation ``name`` by key."""
        rows = query_all(
            self.db, "SELECT key, state FROM bot_conversations WHERE name = ?", (name,)
        )
        return {tuple(json.loads(row["key"])): loads(row["state"]) for row in rows}

    def set_conversation(self, name: str, key: Sequence[int | str], state: object) -> None:
        """Store a state; ``None`` deletes the row (the conversation ended)."""
        key_text = json.dumps(list(key))
        with transaction(self.db):
            if state is None:
                self.db.execute(
                    "DELETE FROM bot_conversations WHERE name = ? AND key = ?", (name, key_text)
                )
                return
            user_id = key[-1] if key and isinstance(key[-1], int) else None
            self.db.execute(
                "INSERT INTO bot_conversations (name, key, user_id, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name, key) DO UPDATE SET "
                "state = excluded.state, updated_at = excluded.updated_at",
                (name, key_text, user_id, dumps(state), utc_now_iso()),
            )

    # ------------------------------------------------------------------ user data
    def all_user_data(self) -> dict[int, dict[str, Any]]:
        """Every user's stored data."""
        rows = query_all(self.db, "SELECT user_id, data FROM bot_user_data")
        return {int(row["user_id"]): loads(row["data"], {}) for row in rows}

    def user_data(self, user_id: int) -> dict[str, Any]:
        """One user's stored data (empty when none)."""
        row = query_one(self.db, "SELECT data FROM bot_user_data WHERE user_id = ?", (user_id,))
        return loads(row["data"], {}) if row else {}

    def set_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        """Store (replace) one user's data; an empty dict deletes the row."""
        with transaction(self.db):
            if not data:
                self.db.execute("DELETE FROM bot_user_data WHERE user_id = ?", (user_id,))
                return
            self.db.execute(
                "INSERT INTO bot_user_data (user_id, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at",
                (user_id, dumps(data), utc_now_iso()),
            )

    def drop_user_data(self, user_id: int) -> None:
        """Delete one user's data."""
        with transaction(self.db):
            self.db.execute("DELETE FROM bot_user_data WHERE user_id = ?", (user_id,))
