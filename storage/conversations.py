"""The bot's persisted conversation states and per-user scratch data.

* ``bot_conversations``: (conversation name, key) -> state, where ``key`` is the JSON list
  of the conversation key (``[chat_id, user_id]`` for per-chat, per-user conversations) and
  ``user_id`` is its last element, kept separately so a user's rows can be erased.
* ``bot_user_data``: user id -> JSON object (the bot's ``context.user_data``: the draft
  answers of a conversation in progress). Values must be JSON-serialisable.

These rows let a user who is halfway through the questions continue after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from storage.codec import dumps, loads
from storage.db import transaction, utc_now_iso

ConversationKey = tuple[int | str, ...]


def create_bot_state_tables(db: sqlite_utils.Database) -> None:
    """Migration 0102: ``bot_conversations`` and ``bot_user_data``."""
    db.execute(
        """CREATE TABLE bot_conversations (
            name TEXT NOT NULL,
            key TEXT NOT NULL,
            user_id INTEGER,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (name, key)
        )"""
    )
    db.execute("CREATE INDEX bot_conversations_user ON bot_conversations(user_id)")
    db.execute(
        """CREATE TABLE bot_user_data (
            user_id INTEGER PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )


class BotStateRepository:
    """Conversation states and user data on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ conversations
    def conversations(self, name: str) -> dict[ConversationKey, object]:
        """Every stored state of conversation ``name`` by key."""
        rows = self.db.execute(
            "SELECT key, state FROM bot_conversations WHERE name = ?", (name,)
        ).fetchall()
        return {tuple(json.loads(key)): loads(state) for key, state in rows}

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
        rows = self.db.execute("SELECT user_id, data FROM bot_user_data").fetchall()
        return {int(uid): loads(data, {}) for uid, data in rows}

    def user_data(self, user_id: int) -> dict[str, Any]:
        """One user's stored data (empty when none)."""
        row = self.db.execute(
            "SELECT data FROM bot_user_data WHERE user_id = ?", (user_id,)
        ).fetchone()
        return loads(row[0], {}) if row else {}

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
