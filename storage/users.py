"""Users and their saved profiles.

Tables (migration ``0100_users_profiles`` in :mod:`storage.migrations`):

* ``users``: one row per Telegram user id (the primary key), with name fields and times.
* ``profiles``: the user's current :class:`~smallq.models.Profile` as JSON (one per user).

Every per-user table references ``users(id) ON DELETE CASCADE``, so :func:`erase_user`
deleting the user row erases everything the user owns in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from smallq.models import Profile
from storage.codec import dumps, loads, profile_from_dict, profile_to_dict
from storage.db import query_one, transaction, utc_now_iso


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored Telegram user."""

    id: int
    username: str | None
    first_name: str | None
    language_code: str | None
    created_at: str
    last_seen_at: str


class UserRepository:
    """Users and profiles on one connection (use it on the thread that opened it)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def touch(
        self,
        user_id: int,
        *,
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = None,
        now: str | None = None,
    ) -> None:
        """Insert the user or refresh its name fields and ``last_seen_at``."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            self.db.execute(
                """INSERT INTO users (id, username, first_name, language_code,
                                      created_at, last_seen_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET
                     username = excluded.username, first_name = excluded.first_name,
                     language_code = excluded.language_code,
                     last_seen_at = excluded.last_seen_at""",
                (user_id, username, first_name, language_code, stamp, stamp),
            )

    def get(self, user_id: int) -> UserRecord | None:
        """The stored user, or ``None``."""
        row = query_one(
            self.db,
            "SELECT id, username, first_name, language_code, created_at, last_seen_at "
            "FROM users WHERE id = ?",
            (user_id,),
        )
        return UserRecord(**row) if row else None

    def save_profile(self, user_id: int, profile: Profile, *, now: str | None = None) -> None:
        """Store the user's current profile (the user row is created if missing)."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO users (id, created_at, last_seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING",
                (user_id, stamp, stamp),
            )
            self.db.execute(
                "INSERT INTO profiles (user_id, params, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET params = excluded.params, "
                "updated_at = excluded.updated_at",
                (user_id, dumps(profile_to_dict(profile)), stamp),
            )

    def get_profile(self, user_id: int) -> Profile | None:
        """The user's current profile, or ``None``."""
        row = query_one(self.db, "SELECT params FROM profiles WHERE user_id = ?", (user_id,))
        return profile_from_dict(loads(row["params"])) if row else None

    def count(self) -> int:
        """Number of stored users."""
        row = query_one(self.db, "SELECT count(*) AS n FROM users")
        return int(row["n"]) if row else 0


def erase_user(db: sqlite_utils.Database, user_id: int) -> bool:
    """Delete everything stored about ``user_id``; return whether a user row existed.

    The user row goes (its profile, portfolios and holdings cascade), and so do the bot's
    persisted conversation state and user data for that id.
    """
    with transaction(db):
        existed = query_one(db, "SELECT id FROM users WHERE id = ?", (user_id,))
        db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        tables = set(db.table_names())
        if "bot_user_data" in tables:
            db.execute("DELETE FROM bot_user_data WHERE user_id = ?", (user_id,))
        if "bot_conversations" in tables:
            db.execute("DELETE FROM bot_conversations WHERE user_id = ?", (user_id,))
    return existed is not None
