"""Schedules, alert thresholds, linked chats and chat reachability.

* ``schedules``: one row per (chat, kind): frequency, day, local time and zone, the
  rebalance rule and drift threshold, ``active``, and ``next_due_at`` (UTC ISO) — the
  database's answer to "what is due?" (:meth:`ScheduleRepository.due`).
* ``alert_thresholds``: per-user overrides of the risk-level limits (field name → value).
* ``chat_links``: groups and channels that follow a model portfolio, who linked them.
* ``chat_state``: chats the bot cannot reach (blocked, 403) or that moved (group →
  supergroup, ``migrated_to``). Schedules of inactive chats are not due.

Stopping a schedule (/unsubscribe, /unlink) also skips its pending deliveries that have not
sent anything yet, in the same transaction (:func:`skip_pending_deliveries`).

Tables: migration ``0201_schedules_thresholds_chats`` in :mod:`storage.migrations`.
Times are UTC ISO 8601 strings with seconds (``2026-11-16T08:00:00+00:00``), so text order is
time order. Schedule arithmetic lives in ``bot.scheduling``; this module only stores results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from storage.db import Row, query_all, query_one, transaction, utc_now_iso

_SCHEDULE_COLUMNS = (
    "id, chat_id, user_id, kind, frequency, day, local_time, timezone, rule, drift_threshold, "
    "active, next_due_at, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A stored schedule; ``frequency`` is "weekly"/"monthly", ``local_time`` "HH:MM"."""

    id: int
    chat_id: int
    user_id: int | None
    kind: str
    frequency: str
    day: int
    local_time: str
    timezone: str
    rule: str
    drift_threshold: float
    active: bool
    next_due_at: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class ChatLink:
    """A group or channel following a model portfolio."""

    chat_id: int
    chat_type: str
    title: str | None
    linked_by: int | None
    portfolio_id: int | None
    active: bool
    created_at: str


class ScheduleRepository:
    """Schedules on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def upsert(
        self,
        chat_id: int,
        kind: str,
        *,
        frequency: str,
        day: int,
        local_time: str,
        timezone: str,
        next_due_at: str,
        user_id: int | None = None,
        rule: str = "drift",
        drift_threshold: float = 0.05,
        now: str | None = None,
    ) -> ScheduleRecord:
        """Create or replace the chat's schedule of ``kind`` and make it active."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            self.db.execute(
                """INSERT INTO schedules (chat_id, user_id, kind, frequency, day, local_time,
                       timezone, rule, drift_threshold, active, next_due_at, created_at,
                       updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                   ON CONFLICT(chat_id, kind) DO UPDATE SET user_id = excluded.user_id,
                     frequency = excluded.frequency, day = excluded.day,
                     local_time = excluded.local_time, timezone = excluded.timezone,
                     rule = excluded.rule, drift_threshold = excluded.drift_threshold,
                     active = 1, next_due_at = excluded.next_due_at,
                     updated_at = excluded.updated_at""",
                (
                    chat_id,
                    user_id,
                    kind,
                    frequency,
                    day,
                    local_time,
                    timezone,
                    rule,
                    drift_threshold,
                    next_due_at,
                    stamp,
                    stamp,
                ),
            )
        record = self.get(chat_id, kind)
        assert record is not None
        return record

    def get(self, chat_id: int, kind: str) -> ScheduleRecord | None:
        """The chat's schedule of ``kind`` (active or not)."""
        row = query_one(
            self.db,
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE chat_id = ? AND kind = ?",
            (chat_id, kind),
        )
        return schedule_from_row(row) if row else None

    def by_id(self, schedule_id: int) -> ScheduleRecord | None:
        """One schedule by id."""
        row = query_one(
            self.db, f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)
        )
        return schedule_from_row(row) if row else None

    def for_chat(self, chat_id: int) -> list[ScheduleRecord]:
        """Every schedule of one chat."""
        rows = query_all(
            self.db,
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE chat_id = ? ORDER BY kind",
            (chat_id,),
        )
        return [schedule_from_row(r) for r in rows]

    def deactivate(
        self,
        chat_id: int,
        kind: str | None = None,
        *,
        now: str | None = None,
        reason: str = "unsubscribed",
    ) -> int:
        """Stop the chat's schedules (of one kind or all); return how many were active.

        In the same transaction their pending deliveries (due, waiting for a retry, or leased)
        that have not sent a part yet become ``skipped`` with ``reason``.
        """
        stamp = now or utc_now_iso()
        where = "chat_id = ?" if kind is None else "chat_id = ? AND kind = ?"
        args: tuple[object, ...] = (chat_id,) if kind is None else (chat_id, kind)
        with transaction(self.db):
            cursor = self.db.execute(
                f"UPDATE schedules SET active = 0, updated_at = ? WHERE {where} AND active = 1",
                (stamp, *args),
            )
            skip_pending_deliveries(self.db, where, args, reason, stamp)
            return int(cursor.rowcount)

    def due(self, now: str, limit: int | None = 500) -> list[ScheduleRecord]:
        """Active schedules with ``next_due_at <= now`` whose chat is reachable, in one query.

        ``limit=None`` returns every due schedule (a sweep plans them all in one batch, see
        :meth:`storage.deliveries.DeliveryRepository.record_due_many`).
        """
        rows = query_all(
            self.db,
            f"""SELECT {", ".join("s." + c.strip() for c in _SCHEDULE_COLUMNS.split(","))}
                FROM schedules s LEFT JOIN chat_state c ON c.chat_id = s.chat_id
                WHERE s.active = 1 AND s.next_due_at <= ? AND coalesce(c.active, 1) = 1
                ORDER BY s.next_due_at, s.id LIMIT ?""",
            (now, -1 if limit is None else limit),
        )
        return [schedule_from_row(r) for r in rows]

    def count_active(self) -> int:
        """Number of active schedules."""
        row = query_one(self.db, "SELECT count(*) AS n FROM schedules WHERE active = 1")
        return int(row["n"]) if row else 0


def skip_pending_deliveries(
    db: sqlite_utils.Database, where: str, args: Sequence[object], reason: str, now: str
) -> int:
    """Skip the unstarted pending deliveries of the schedules matching ``where``.

    "Unstarted": no part was sent yet (a delivery cut short after one part is finished
    instead, so a reader never sees half a digest). A dispatcher holding the lease of a
    skipped row loses it; its later writes are ignored (see ``storage.deliveries``).
    """
    if "deliveries" not in db.table_names():
        return 0
    cursor = db.execute(
        f"""UPDATE deliveries SET status = 'skipped', reason = ?, lease_until = NULL,
                updated_at = ?
            WHERE status IN ('due', 'sending')
              AND schedule_id IN (SELECT id FROM schedules WHERE {where})
              AND NOT EXISTS (SELECT 1 FROM delivery_parts p
                              WHERE p.delivery_id = deliveries.id AND p.sent_at IS NOT NULL)""",
        (reason, now, *args),
    )
    return int(cursor.rowcount)


def schedule_from_row(row: Row) -> ScheduleRecord:
    """A :class:`ScheduleRecord` from a ``schedules`` row read by column name."""
    return ScheduleRecord(**(row | {"active": bool(row["active"])}))


class ThresholdRepository:
    """Per-user alert threshold overrides."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def overrides(self, user_id: int) -> dict[str, float]:
        """Field name → value for one user."""
        rows = query_all(
            self.db,
            "SELECT name, value FROM alert_thresholds WHERE user_id = ? ORDER BY name",
            (user_id,),
        )
        return {str(r["name"]): float(r["value"]) for r in rows}

    def set(self, user_id: int, name: str, value: float, *, now: str | None = None) -> None:
        """Set one override."""
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO alert_thresholds (user_id, name, value, updated_at) VALUES "
                "(?, ?, ?, ?) ON CONFLICT(user_id, name) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (user_id, name, value, now or utc_now_iso()),
            )

    def reset(self, user_id: int) -> int:
        """Drop every override of one user; return how many there were."""
        with transaction(self.db):
            cursor = self.db.execute("DELETE FROM alert_thresholds WHERE user_id = ?", (user_id,))
            return int(cursor.rowcount)


def _link(row: Row) -> ChatLink:
    return ChatLink(**(row | {"active": bool(row["active"])}))


class ChatRepository:
    """Linked chats and reachability on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def link(
        self,
        chat_id: int,
        *,
        chat_type: str,
        title: str | None,
        linked_by: int | None,
        portfolio_id: int | None = None,
        now: str | None = None,
    ) -> ChatLink:
        """Link (or re-link) a chat; the chat is marked reachable again."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            self.db.execute(
                """INSERT INTO chat_links (chat_id, chat_type, title, linked_by, portfolio_id,
                       active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                   ON CONFLICT(chat_id) DO UPDATE SET chat_type = excluded.chat_type,
                     title = excluded.title, linked_by = excluded.linked_by,
                     portfolio_id = excluded.portfolio_id, active = 1,
                     updated_at = excluded.updated_at""",
                (chat_id, chat_type, title, linked_by, portfolio_id, stamp, stamp),
            )
            self.set_reachable(chat_id, now=stamp)
        link = self.get(chat_id)
        assert link is not None
        return link

    def unlink(self, chat_id: int, *, now: str | None = None) -> bool:
        """Deactivate a link and the chat's schedules; return whether it was active."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            cursor = self.db.execute(
                "UPDATE chat_links SET active = 0, updated_at = ? WHERE chat_id = ? AND active = 1",
                (stamp, chat_id),
            )
            self.db.execute(
                "UPDATE schedules SET active = 0, updated_at = ? WHERE chat_id = ?",
                (stamp, chat_id),
            )
            skip_pending_deliveries(self.db, "chat_id = ?", [chat_id], "unlinked", stamp)
            return cursor.rowcount > 0

    def get(self, chat_id: int) -> ChatLink | None:
        """The chat's link (active or not)."""
        row = query_one(
            self.db,
            "SELECT chat_id, chat_type, title, linked_by, portfolio_id, active, created_at "
            "FROM chat_links WHERE chat_id = ?",
            (chat_id,),
        )
        return _link(row) if row else None

    def links(self, *, linked_by: int | None = None) -> list[ChatLink]:
        """Active links of reachable chats (optionally only those one user made)."""
        sql = (
            "SELECT l.chat_id, l.chat_type, l.title, l.linked_by, l.portfolio_id, l.active, "
            "l.created_at FROM chat_links l LEFT JOIN chat_state c ON c.chat_id = l.chat_id "
            "WHERE l.active = 1 AND coalesce(c.active, 1) = 1"
        )
        args: tuple[object, ...] = ()
        if linked_by is not None:
            sql, args = sql + " AND l.linked_by = ?", (linked_by,)
        return [_link(r) for r in query_all(self.db, sql + " ORDER BY l.chat_id", args)]

    def is_reachable(self, chat_id: int) -> bool:
        """False after a 403 (blocked, kicked) until the chat is heard from again."""
        row = query_one(self.db, "SELECT active FROM chat_state WHERE chat_id = ?", (chat_id,))
        return row is None or bool(row["active"])

    def mark_unreachable(self, chat_id: int, reason: str, *, now: str | None = None) -> None:
        """Record that the chat blocked or removed the bot; its schedules stop being due."""
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO chat_state (chat_id, active, reason, updated_at) VALUES (?, 0, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET active = 0, reason = excluded.reason, "
                "updated_at = excluded.updated_at",
                (chat_id, reason, now or utc_now_iso()),
            )

    def set_reachable(self, chat_id: int, *, now: str | None = None) -> bool:
        """Mark the chat reachable again; return whether it had been unreachable."""
        with transaction(self.db):
            cursor = self.db.execute(
                "UPDATE chat_state SET active = 1, reason = NULL, updated_at = ? "
                "WHERE chat_id = ? AND active = 0 AND migrated_to IS NULL",
                (now or utc_now_iso(), chat_id),
            )
            return cursor.rowcount > 0

    def migrate(self, old_id: int, new_id: int, *, now: str | None = None) -> None:
        """Follow a group that became a supergroup: move links, schedules and pending sends."""
        stamp = now or utc_now_iso()
        with transaction(self.db):
            for table in ("chat_links", "schedules"):
                self.db.execute(
                    f"UPDATE OR IGNORE {table} SET chat_id = ?, updated_at = ? WHERE chat_id = ?",
                    (new_id, stamp, old_id),
                )
            if "deliveries" in self.db.table_names():
                self.db.execute(
                    "UPDATE OR IGNORE deliveries SET chat_id = ?, updated_at = ? "
                    "WHERE chat_id = ? AND status IN ('due', 'sending')",
                    (new_id, stamp, old_id),
                )
            self.db.execute(
                "INSERT INTO chat_state (chat_id, active, reason, migrated_to, updated_at) "
                "VALUES (?, 0, 'migrated', ?, ?) ON CONFLICT(chat_id) DO UPDATE SET active = 0, "
                "reason = 'migrated', migrated_to = excluded.migrated_to, "
                "updated_at = excluded.updated_at",
                (old_id, new_id, stamp),
            )

    def resolve(self, chat_id: int) -> int:
        """The chat's current id, following recorded migrations."""
        seen = {chat_id}
        while True:
            row = query_one(
                self.db, "SELECT migrated_to FROM chat_state WHERE chat_id = ?", (chat_id,)
            )
            if row is None or row["migrated_to"] is None or row["migrated_to"] in seen:
                return chat_id
            chat_id = int(row["migrated_to"])
            seen.add(chat_id)
