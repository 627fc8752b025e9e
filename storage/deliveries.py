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
  takes the row again (``attempts + 1``; after ``max_attempts`` it is ``failed``, and a
  broadcast's sender gets a notice: see "Notices").
* **Outbox.** The message parts are stored (``delivery_parts``) before the first send, and each
  part is marked sent right after Telegram accepts it; a retry resends only unsent parts of the
  same stored content. Writes by an owner whose lease was taken over are ignored.
* **Notices.** A delivery whose kind is in ``notify_kinds`` (broadcasts) and that ends
  ``failed`` or ``skipped`` (by :meth:`~DeliveryRepository.finish`, or because
  :meth:`~DeliveryRepository.acquire` gave up on it) queues, *in the same transaction*, a
  notice to its user: a delivery of kind :data:`NOTICE` to the user's private chat, period =
  the failed delivery's id. A failure is therefore recorded with its notice or not at all,
  and UNIQUE (chat, kind, period) makes it one notice per failure. A notice is never followed
  by another notice. The dispatcher writes the notice's text when it sends it.

Semantics: exactly once per key *except* one window: a crash after Telegram accepted a part
and before its ``sent_at`` commit resends that part once on recovery. At-least-once delivery
(send, then record) would repeat whole digests after every crash; at-most-once (record, then
send) would lose them. A lease makes the gap one part wide and retries bounded.

**Batches.** A sweep over thousands of users uses the ``*_many`` methods: one transaction
each for planning (:meth:`DeliveryRepository.record_due_many`), storing content
(:meth:`~DeliveryRepository.save_parts_many`), marking parts sent
(:meth:`~DeliveryRepository.mark_parts_sent_many`) and ending deliveries
(:meth:`~DeliveryRepository.finish_many`), with the same per-row checks as the single-row
methods. Leasing is already one transaction for ``limit`` rows (:meth:`acquire`).

Tables: migrations ``0202_delivery_ledger`` and ``0203_delivery_period_index`` in
:mod:`storage.migrations`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from smallq.errors import StorageError
from storage.db import Row, query_all, query_one, transaction

_INSERT_PART = "INSERT INTO delivery_parts (delivery_id, seq, body, photo) VALUES (?, ?, ?, ?)"
_COLUMNS = (
    "id, chat_id, kind, period, schedule_id, user_id, due_at, status, attempts, owner, "
    "lease_until, reason, sent_at"
)
_PART_COLUMNS = "delivery_id, seq, body, photo, sent_at, message_id"
_CHUNK = 500
#: the kind of the delivery that tells a user their broadcast failed (see "Notices")
NOTICE = "notice"
#: the rows :meth:`DeliveryRepository.acquire` may lease (due, or leased by a dead owner)
_WORK = (
    "((status = 'due' AND coalesce(not_before, '') <= ?) "
    "OR (status = 'sending' AND lease_until <= ?))"
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


@dataclass(frozen=True, slots=True)
class DuePlan:
    """One schedule's share of :meth:`DeliveryRepository.record_due_many`."""

    schedule_id: int
    expected_next_due: str
    occurrences: tuple[NewOccurrence, ...]
    next_due_at: str


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one leased delivery ends (:meth:`DeliveryRepository.finish_many`)."""

    delivery_id: int
    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """What one :meth:`DeliveryRepository.lease` did: the rows leased, and the rows it failed
    instead because they had used ``max_attempts`` (``given_up``, their ids)."""

    records: tuple[DeliveryRecord, ...]
    given_up: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SentPart:
    """A part Telegram accepted (:meth:`DeliveryRepository.mark_parts_sent_many`)."""

    delivery_id: int
    seq: int
    message_id: int | None


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
            row = query_one(
                self.db, "SELECT next_due_at FROM schedules WHERE id = ?", (schedule_id,)
            )
            if row is None or row["next_due_at"] != expected_next_due:
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
            row = query_one(self.db, "SELECT last_insert_rowid() AS id")
            delivery_id = int(row["id"]) if row else 0
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
        self,
        *,
        now: str,
        lease_until: str,
        max_attempts: int,
        limit: int = 50,
        notify_kinds: Collection[str] = (),
    ) -> list[DeliveryRecord]:
        """The rows :meth:`lease` leases (without the count of rows it gave up on)."""
        leased = self.lease(
            now=now, lease_until=lease_until, max_attempts=max_attempts, limit=limit,
            notify_kinds=notify_kinds,
        )  # fmt: skip
        return list(leased.records)

    def lease(
        self,
        *,
        now: str,
        lease_until: str,
        max_attempts: int,
        limit: int = 50,
        notify_kinds: Collection[str] = (),
    ) -> Lease:
        """Lease due rows (and rows whose lease expired) to a new owner, oldest first.

        Rows that already used ``max_attempts`` become ``failed`` instead ("gave up after N
        attempts": their earlier attempts died, or found the database locked) and are
        returned as ``given_up``, so the caller counts them; those of a kind in
        ``notify_kinds`` queue their notice in the same transaction (see "Notices"), which
        this call may lease along with the others.
        """
        owner = secrets.token_hex(8)
        with transaction(self.db):
            given_up = self._give_up(
                now=now, max_attempts=max_attempts, notify_kinds=notify_kinds
            )
            ids = [
                int(r["id"])
                for r in query_all(
                    self.db,
                    f"SELECT id FROM deliveries WHERE {_WORK} ORDER BY due_at, id LIMIT ?",
                    (now, now, limit),
                )
            ]
            self.db.conn.executemany(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, owner = ?, "
                "lease_until = ?, updated_at = ? WHERE id = ?",
                [(owner, lease_until, now, i) for i in ids],
            )
        if not ids:
            return Lease((), given_up)
        rows: list[Row] = []
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows += query_all(
                self.db,
                f"SELECT {_COLUMNS} FROM deliveries WHERE id IN ({marks}) "
                "AND status = 'sending' AND owner = ?",
                (*chunk, owner),
            )
        rows.sort(key=lambda r: (r["due_at"], r["id"]))
        return Lease(tuple(DeliveryRecord(**r) for r in rows), given_up)

    def _give_up(
        self, *, now: str, max_attempts: int, notify_kinds: Collection[str]
    ) -> tuple[int, ...]:
        """Fail the leasable rows that used ``max_attempts``; queue their notices; their ids."""
        ids = [
            int(r["id"])
            for r in query_all(
                self.db,
                f"SELECT id FROM deliveries WHERE {_WORK} AND attempts >= ?",
                (now, now, max_attempts),
            )
        ]
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', reason = 'gave up after ' || attempts "
                f"|| ' attempts', lease_until = NULL, updated_at = ? WHERE id IN ({marks})",
                (now, *chunk),
            )
        self._queue_notices(ids, notify_kinds, now)
        return tuple(ids)

    def _queue_notices(
        self, delivery_ids: Sequence[int], notify_kinds: Collection[str], now: str
    ) -> int:
        """Queue one notice per ended delivery of a kind in ``notify_kinds`` with a user."""
        kinds = sorted(set(notify_kinds) - {NOTICE})
        if not kinds:
            return 0
        queued = 0
        for chunk in _chunks(delivery_ids):
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO deliveries (chat_id, kind, period, schedule_id, user_id, "
                "due_at, status, created_at, updated_at) SELECT user_id, ?, CAST(id AS TEXT), "
                "NULL, user_id, ?, 'due', ?, ? FROM deliveries "
                f"WHERE id IN ({','.join('?' * len(chunk))}) AND user_id IS NOT NULL "
                f"AND status IN ('failed', 'skipped') AND kind IN ({','.join('?' * len(kinds))})",
                (NOTICE, now, now, now, *chunk, *kinds),
            )
            queued += max(int(cursor.rowcount), 0)
        return queued

    def parts(self, delivery_id: int) -> list[PartRecord]:
        """The stored parts of a delivery, in order."""
        rows = query_all(
            self.db,
            f"SELECT {_PART_COLUMNS} FROM delivery_parts WHERE delivery_id = ? ORDER BY seq",
            (delivery_id,),
        )
        return [_part(r) for r in rows]

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
        self,
        delivery_id: int,
        owner: str,
        status: str,
        *,
        now: str,
        reason: str | None = None,
        notify_kinds: Collection[str] = (),
    ) -> bool:
        """End a delivery as ``sent``, ``failed`` or ``skipped``; False if the lease was lost.

        A ``failed`` or ``skipped`` delivery of a kind in ``notify_kinds`` queues its notice
        in the same transaction (see "Notices"); a lost lease ends and queues nothing.
        """
        with transaction(self.db):
            cursor = self.db.execute(
                "UPDATE deliveries SET status = ?, reason = ?, lease_until = NULL, "
                "updated_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
                "WHERE id = ? AND owner = ? AND status = 'sending'",
                (status, reason, now, status, now, delivery_id, owner),
            )
            ended = cursor.rowcount > 0
            if ended:
                self._queue_notices([delivery_id], notify_kinds, now)
            return ended

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

    # ------------------------------------------------------------------ batches (a sweep)
    def record_due_many(self, plans: Sequence[DuePlan], *, now: str) -> dict[int, int]:
        """:meth:`record_due` for many schedules in ONE transaction.

        Each plan is checked on its own: a schedule whose ``next_due_at`` is no longer the
        plan's ``expected_next_due`` (another ticker handled it) is left alone and maps to -1;
        the others get their occurrences inserted under UNIQUE (chat, kind, period) with
        ``INSERT OR IGNORE`` and are advanced. Returns schedule id → rows inserted (or -1).
        """
        result: dict[int, int] = {}
        with transaction(self.db):
            current: dict[int, str] = {}
            for chunk in _chunks([p.schedule_id for p in plans]):
                marks = ",".join("?" * len(chunk))
                current |= {
                    int(r["id"]): r["next_due_at"]
                    for r in query_all(
                        self.db,
                        f"SELECT id, next_due_at FROM schedules WHERE id IN ({marks})",
                        chunk,
                    )
                }
            advance: list[tuple[str, int]] = []
            for plan in plans:
                if current.get(plan.schedule_id) != plan.expected_next_due:
                    result[plan.schedule_id] = -1
                    continue
                result[plan.schedule_id] = sum(
                    self._insert(o, plan.schedule_id, now) for o in plan.occurrences
                )
                advance.append((plan.next_due_at, plan.schedule_id))
                current[plan.schedule_id] = plan.next_due_at  # a repeated plan is now stale
            self.db.conn.executemany("UPDATE schedules SET next_due_at = ? WHERE id = ?", advance)
        return result

    def parts_many(self, delivery_ids: Sequence[int]) -> dict[int, list[PartRecord]]:
        """The stored parts of many deliveries (in order); deliveries without parts map to []."""
        found: dict[int, list[PartRecord]] = {int(i): [] for i in delivery_ids}
        for chunk in _chunks(list(found)):
            marks = ",".join("?" * len(chunk))
            for row in query_all(
                self.db,
                f"SELECT {_PART_COLUMNS} FROM delivery_parts WHERE delivery_id IN ({marks}) "
                "ORDER BY delivery_id, seq",
                chunk,
            ):
                found[int(row["delivery_id"])].append(_part(row))
        return found

    def save_parts_many(
        self,
        owner: str,
        contents: Mapping[int, Sequence[tuple[dict[str, Any], bytes | None]]],
    ) -> dict[int, list[PartRecord]]:
        """:meth:`save_parts` for many deliveries leased by ``owner``, in ONE transaction.

        Content is stored once: a delivery that already has parts, or whose lease ``owner``
        lost, keeps what it has. Returns the stored parts of every delivery in ``contents``.
        """
        with transaction(self.db):
            ids = list(contents)
            owned = self._owned_many(ids, owner)
            stored = self.parts_many(ids)
            self.db.conn.executemany(
                _INSERT_PART,
                [
                    (delivery_id, seq, json.dumps(body), photo)
                    for delivery_id in ids
                    if delivery_id in owned and not stored[delivery_id]
                    for seq, (body, photo) in enumerate(contents[delivery_id])
                ],
            )
        return self.parts_many(list(contents))

    def mark_parts_sent_many(
        self, owner: str, parts: Sequence[SentPart], *, now: str, lease_until: str
    ) -> int:
        """:meth:`mark_part_sent` for many parts in ONE transaction; return parts marked.

        Parts of deliveries whose lease ``owner`` lost are ignored. Marking a batch after
        sending it widens the "resent once after a crash" window from one part to the
        batch, so call it as soon as Telegram accepted the parts.
        """
        with transaction(self.db):
            owned = self._owned_many([p.delivery_id for p in parts], owner)
            mine = [p for p in parts if p.delivery_id in owned]
            cursor = self.db.conn.executemany(
                "UPDATE delivery_parts SET sent_at = ?, message_id = ? WHERE delivery_id = ? "
                "AND seq = ?",
                [(now, p.message_id, p.delivery_id, p.seq) for p in mine],
            )
            self.db.conn.executemany(
                "UPDATE deliveries SET lease_until = ?, updated_at = ? WHERE id = ?",
                [(lease_until, now, i) for i in sorted({p.delivery_id for p in mine})],
            )
            return max(int(cursor.rowcount), 0)

    def finish_many(self, owner: str, outcomes: Sequence[DeliveryOutcome], *, now: str) -> int:
        """:meth:`finish` for many deliveries in ONE transaction; return how many ended.

        Only rows still ``sending`` under ``owner`` change (a lost lease is ignored), so a
        (chat, kind, period) is recorded ``sent`` at most once.
        """
        with transaction(self.db):
            cursor = self.db.conn.executemany(
                "UPDATE deliveries SET status = ?, reason = ?, lease_until = NULL, "
                "updated_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
                "WHERE id = ? AND owner = ? AND status = 'sending'",
                [(o.status, o.reason, now, o.status, now, o.delivery_id, owner) for o in outcomes],
            )
            return max(int(cursor.rowcount), 0)

    def current_chat(self, delivery_id: int) -> int:
        """The delivery's chat id now (it changes when a group migrates)."""
        row = query_one(self.db, "SELECT chat_id FROM deliveries WHERE id = ?", (delivery_id,))
        if row is None:
            raise StorageError(f"no delivery {delivery_id}")
        return int(row["chat_id"])

    def by_id(self, delivery_id: int) -> DeliveryRecord | None:
        """The ledger row with this id."""
        row = query_one(self.db, f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,))
        return DeliveryRecord(**row) if row else None

    def get(self, chat_id: int, kind: str, period: str) -> DeliveryRecord | None:
        """The ledger row of one key."""
        row = query_one(
            self.db,
            f"SELECT {_COLUMNS} FROM deliveries WHERE chat_id = ? AND kind = ? AND period = ?",
            (chat_id, kind, period),
        )
        return DeliveryRecord(**row) if row else None

    def records(
        self, *, status: str | None = None, kind: str | None = None
    ) -> list[DeliveryRecord]:
        """Ledger rows, optionally filtered (for tests and admin views)."""
        sql, args = f"SELECT {_COLUMNS} FROM deliveries WHERE 1 = 1", list[str]()
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        return [DeliveryRecord(**r) for r in query_all(self.db, sql + " ORDER BY id", args)]

    def _owned(self, delivery_id: int, owner: str) -> bool:
        row = query_one(
            self.db,
            "SELECT id FROM deliveries WHERE id = ? AND owner = ? AND status = 'sending'",
            (delivery_id, owner),
        )
        return row is not None

    def _owned_many(self, delivery_ids: Sequence[int], owner: str) -> set[int]:
        owned: set[int] = set()
        for chunk in _chunks(sorted(set(delivery_ids))):
            marks = ",".join("?" * len(chunk))
            owned |= {
                int(r["id"])
                for r in query_all(
                    self.db,
                    f"SELECT id FROM deliveries WHERE id IN ({marks}) AND owner = ? "
                    "AND status = 'sending'",
                    (*chunk, owner),
                )
            }
        return owned


def _part(row: Row) -> PartRecord:
    return PartRecord(**(row | {"body": json.loads(row["body"])}))


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for offset in range(0, len(ids), _CHUNK):
        yield ids[offset : offset + _CHUNK]
