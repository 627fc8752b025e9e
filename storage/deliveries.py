"""The delivery ledger: every scheduled or broadcast send, under UNIQUE (chat, kind, period).

Life of a delivery::

    due ──acquire (lease)──▶ sending ──all parts sent──▶ sent
     ▲                        │  │
     └──release (backoff)─────┘  └──403 / bad request / attempts used up──▶ failed
    (missed beyond the grace window, nothing to say, chat gone) ─────────▶ skipped

* **Claim.** :meth:`DeliveryRepository.record_due` inserts one row per occurrence with
  ``INSERT OR IGNORE`` on the unique key and advances the schedule's ``next_due_at`` in the
  same transaction, so two tickers (or a restarted process) can never create two rows for one
  (chat, kind, period).
* **Lease.** :meth:`acquire` moves a row to ``sending`` with a random ``owner`` and
  ``lease_until``; a dispatcher that dies leaves the lease to expire, and the next acquire
  takes the row again (``attempts + 1``; after ``max_attempts`` it is ``failed``).
* **Outbox.** The message parts are stored (``delivery_parts``) before the first send, and each
  part is marked sent right after Telegram accepts it; a retry resends only unsent parts of the
  same stored content. Writes by an owner whose lease was taken over are ignored.

Semantics: exactly once per key *except* one window: a crash after Telegram accepted a part
and before its ``sent_at`` commit resends that part once on recovery. At-least-once delivery
(send, then record) would repeat whole digests after every crash; at-most-once (record, then
send) would lose them. A lease makes the gap one part wide and retries bounded.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from storage.db import transaction

_INSERT_PART = "INSERT INTO delivery_parts (delivery_id, seq, body, photo) VALUES (?, ?, ?, ?)"
_COLUMNS = (
    "id, chat_id, kind, period, schedule_id, user_id, due_at, status, attempts, owner, "
    "lease_until, reason, sent_at"
)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One row of the ledger."""

    id: int
    chat_id: int
    kind: str
    period: str
    schedule_id: int | None
    user_id: int | None
    due_at: str
    status: str
    attempts: int
    owner: str | None
    lease_until: str | None
    reason: str | None
    sent_at: str | None


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One stored message of a delivery: ``body`` holds text, caption, parse mode, buttons."""

    delivery_id: int
    seq: int
    body: dict[str, Any]
    photo: bytes | None
    sent_at: str | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class NewOccurrence:
    """A row :meth:`DeliveryRepository.record_due` inserts: ``status`` "due" or "skipped"."""

    chat_id: int
    kind: str
    period: str
    due_at: str
    user_id: int | None = None
    status: str = "due"
    reason: str | None = None


def create_delivery_tables(db: sqlite_utils.Database) -> None:
    """Migration 0202: ``deliveries`` and ``delivery_parts``."""
    db.execute(
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
            kind TEXT NOT NULL, period TEXT NOT NULL,
            schedule_id INTEGER REFERENCES schedules(id) ON DELETE SET NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            due_at TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('due', 'sending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until TEXT,
            not_before TEXT, reason TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            sent_at TEXT, UNIQUE (chat_id, kind, period))"""
    )
    db.execute("CREATE INDEX deliveries_work ON deliveries(status, not_before, lease_until)")
    db.execute(
        """CREATE TABLE delivery_parts (
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, body TEXT NOT NULL, photo BLOB, sent_at TEXT,
            message_id INTEGER, PRIMARY KEY (delivery_id, seq))"""
    )


class DeliveryRepository:
    """The delivery ledger on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def record_due(
        self,
        schedule_id: int,
        expected_next_due: str,
        occurrences: list[NewOccurrence],
        next_due_at: str,
        *,
        now: str,
    ) -> int:
        """Insert a schedule's occurrences and advance it, atomically; return rows inserted.

        Does nothing (returns -1) when the schedule's ``next_due_at`` is no longer
        ``expected_next_due``: another ticker handled it first.
        """
        with transaction(self.db):
            row = self.db.execute(
                "SELECT next_due_at FROM schedules WHERE id = ?", (schedule_id,)
            ).fetchone()
            if row is None or row[0] != expected_next_due:
                return -1
            inserted = sum(self._insert(o, schedule_id, now) for o in occurrences)
            self.db.execute(
                "UPDATE schedules SET next_due_at = ? WHERE id = ?", (next_due_at, schedule_id)
            )
        return inserted

    def enqueue(
        self,
        occurrence: NewOccurrence,
        *,
        now: str,
        parts: list[tuple[dict[str, Any], bytes | None]] | None = None,
    ) -> int | None:
        """Insert one unscheduled delivery (a broadcast) with its content, if given.

        Returns the new id, or ``None`` when the (chat, kind, period) key already exists.
        """
        with transaction(self.db):
            if not self._insert(occurrence, None, now):
                return None
            delivery_id = int(self.db.execute("SELECT last_insert_rowid()").fetchone()[0])
            self.db.conn.executemany(
                _INSERT_PART,
                [(delivery_id, i, json.dumps(b), p) for i, (b, p) in enumerate(parts or [])],
            )
            return delivery_id

    def _insert(self, o: NewOccurrence, schedule_id: int | None, now: str) -> int:
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO deliveries (chat_id, kind, period, schedule_id, user_id, "
            "due_at, status, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                o.chat_id,
                o.kind,
                o.period,
                schedule_id,
                o.user_id,
                o.due_at,
                o.status,
                o.reason,
                now,
                now,
            ),
        )
        return int(cursor.rowcount)

    def acquire(
        self, *, now: str, lease_until: str, max_attempts: int, limit: int = 50
    ) -> list[DeliveryRecord]:
        """Lease due rows (and rows whose lease expired) to a new owner, oldest first.

        Rows that already used ``max_attempts`` become ``failed`` instead.
        """
        owner = secrets.token_hex(8)
        with transaction(self.db):
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM deliveries WHERE (status = 'due' AND "
                    "coalesce(not_before, '') <= ?) OR (status = 'sending' AND lease_until <= ?) "
                    "ORDER BY due_at, id LIMIT ?",
                    (now, now, limit),
                ).fetchall()
            ]
            for delivery_id in ids:
                self.db.execute(
                    "UPDATE deliveries SET status = CASE WHEN attempts >= ? THEN 'failed' "
                    "ELSE 'sending' END, reason = CASE WHEN attempts >= ? THEN "
                    "'gave up after ' || attempts || ' attempts' ELSE reason END, "
                    "attempts = attempts + (attempts < ?), owner = ?, lease_until = ?, "
                    "updated_at = ? WHERE id = ?",
                    (
                        max_attempts,
                        max_attempts,
                        max_attempts,
                        owner,
                        lease_until,
                        now,
                        delivery_id,
                    ),
                )
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id IN ({marks}) AND status = 'sending' "
            "AND owner = ? ORDER BY due_at, id",
            (*ids, owner),
        ).fetchall()
        return [DeliveryRecord(*r) for r in rows]

    def parts(self, delivery_id: int) -> list[PartRecord]:
        """The stored parts of a delivery, in order."""
        rows = self.db.execute(
            "SELECT delivery_id, seq, body, photo, sent_at, message_id FROM delivery_parts "
            "WHERE delivery_id = ? ORDER BY seq",
            (delivery_id,),
        ).fetchall()
        return [PartRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def save_parts(
        self, delivery_id: int, owner: str, parts: list[tuple[dict[str, Any], bytes | None]]
    ) -> list[PartRecord]:
        """Store the content once (the owner must hold the lease); return the stored parts."""
        with transaction(self.db):
            if self._owned(delivery_id, owner) and not self.parts(delivery_id):
                self.db.conn.executemany(
                    _INSERT_PART,
                    [(delivery_id, i, json.dumps(b), p) for i, (b, p) in enumerate(parts)],
                )
        return self.parts(delivery_id)

    def mark_part_sent(
        self,
        delivery_id: int,
        seq: int,
        owner: str,
        *,
        message_id: int | None,
        now: str,
        lease_until: str,
    ) -> bool:
        """Record that Telegram accepted one part and renew the lease; False if lease lost."""
        with transaction(self.db):
            if not self._owned(delivery_id, owner):
                return False
            self.db.execute(
                "UPDATE delivery_parts SET sent_at = ?, message_id = ? WHERE delivery_id = ? "
                "AND seq = ?",
                (now, message_id, delivery_id, seq),
            )
            self.db.execute(
                "UPDATE deliveries SET lease_until = ?, updated_at = ? WHERE id = ?",
                (lease_until, now, delivery_id),
            )
        return True

    def finish(
        self, delivery_id: int, owner: str, status: str, *, now: str, reason: str | None = None
    ) -> bool:
        """End a delivery as ``sent``, ``failed`` or ``skipped``; False if the lease was lost."""
        with transaction(self.db):
            cursor = self.db.execute(
                "UPDATE deliveries SET status = ?, reason = ?, lease_until = NULL, "
                "updated_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
                "WHERE id = ? AND owner = ? AND status = 'sending'",
                (status, reason, now, status, now, delivery_id, owner),
            )
            return cursor.rowcount > 0

    def release(
        self, delivery_id: int, owner: str, *, not_before: str, now: str, reason: str
    ) -> bool:
        """Give a delivery back for a later retry (transient error, long flood wait)."""
        with transaction(self.db):
            cursor = self.db.execute(
                "UPDATE deliveries SET status = 'due', not_before = ?, reason = ?, "
                "lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ? "
                "AND status = 'sending'",
                (not_before, reason, now, delivery_id, owner),
            )
            return cursor.rowcount > 0

    def current_chat(self, delivery_id: int) -> int:
        """The delivery's chat id now (it changes when a group migrates)."""
        return int(
            self.db.execute(
                "SELECT chat_id FROM deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()[0]
        )

    def get(self, chat_id: int, kind: str, period: str) -> DeliveryRecord | None:
        """The ledger row of one key."""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE chat_id = ? AND kind = ? AND period = ?",
            (chat_id, kind, period),
        ).fetchone()
        return DeliveryRecord(*row) if row else None

    def records(
        self, *, status: str | None = None, kind: str | None = None
    ) -> list[DeliveryRecord]:
        """Ledger rows, optionally filtered (for tests and admin views)."""
        sql, args = f"SELECT {_COLUMNS} FROM deliveries WHERE 1 = 1", list[str]()
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        return [DeliveryRecord(*r) for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]

    def _owned(self, delivery_id: int, owner: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM deliveries WHERE id = ? AND owner = ? AND status = 'sending'",
            (delivery_id, owner),
        ).fetchone()
        return row is not None
