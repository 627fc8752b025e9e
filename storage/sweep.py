"""What a scheduled sweep reads: every user's check inputs in one query.

A weekly sweep for 10,000 users cannot afford five round trips per user (profile, account,
positions, thresholds, schedule). :class:`SweepRepository` answers for a whole batch of
deliveries at once: each row of the delivery ledger (private chats only: ``user_id`` set)
joined with its schedule, the user's profile, the latest portfolio build with its target
weights, the paper account with its positions, and the user's alert-threshold overrides.

* :meth:`SweepRepository.user_checks` reads the deliveries a dispatcher has just leased
  (by id);
* :meth:`SweepRepository.due_user_checks` reads one (kind, period) of the ledger, e.g. every
  pending ``("check", "2026-W10")``, using the ``deliveries_period`` index (migration 0203).

Writing goes through the batch methods of :class:`storage.deliveries.DeliveryRepository`
(``record_due_many``, ``save_parts_many``, ``mark_parts_sent_many``, ``finish_many``), which
keep the UNIQUE (chat, kind, period) exactly-once key. This module only reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlite_utils

from smallq.models import Profile
from storage.codec import loads, profile_from_dict
from storage.db import Row, query_all
from storage.ledger import PaperAccount, account_from_row


@dataclass(frozen=True, slots=True)
class LatestBuild:
    """The user's most recent portfolio build: id, data date and target weights (fractions)."""

    id: int
    as_of: date
    created_at: str
    target_weights: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class UserCheck:
    """Everything storage knows that one user's scheduled check needs.

    ``frequency``, ``rule`` and ``drift_threshold`` come from the delivery's schedule (``None``
    when the schedule was deleted); ``profile``, ``account`` and ``latest_build`` are ``None``
    when the user has none; ``thresholds`` holds the user's overrides (name → value).
    """

    delivery_id: int
    chat_id: int
    user_id: int
    kind: str
    period: str
    due_at: str
    status: str
    schedule_id: int | None
    frequency: str | None
    rule: str | None
    drift_threshold: float | None
    profile: Profile | None
    account: PaperAccount | None
    latest_build: LatestBuild | None
    thresholds: dict[str, float] = field(default_factory=dict)


_SELECT = """
SELECT d.id AS delivery_id, d.chat_id, d.user_id, d.kind, d.period, d.due_at, d.status,
       d.schedule_id, s.frequency, s.rule, s.drift_threshold,
       pr.params AS profile,
       a.user_id AS account_user_id, a.cash, a.currency, a.version,
       a.portfolio_id AS account_portfolio_id, a.updated_at AS account_updated_at,
       (SELECT json_group_array(json_array(pp.ticker, pp.shares))
          FROM paper_positions pp WHERE pp.user_id = d.user_id) AS positions,
       (SELECT json_group_object(t.name, t.value)
          FROM alert_thresholds t WHERE t.user_id = d.user_id) AS thresholds,
       lp.id AS build_id, lp.as_of AS build_as_of, lp.created_at AS build_created_at,
       (SELECT json_group_array(json_array(h.ticker, h.target_weight))
          FROM holdings h WHERE h.portfolio_id = lp.id) AS build_targets
FROM deliveries d
LEFT JOIN schedules s ON s.id = d.schedule_id
LEFT JOIN profiles pr ON pr.user_id = d.user_id
LEFT JOIN paper_accounts a ON a.user_id = d.user_id
LEFT JOIN portfolios lp
       ON lp.id = (SELECT max(p.id) FROM portfolios p WHERE p.user_id = d.user_id)
WHERE d.user_id IS NOT NULL AND {where}
ORDER BY d.due_at, d.id
"""
_BY_IDS = "d.id IN (SELECT value FROM json_each(?))"
_PERIOD_WHERE = "d.kind = ? AND d.period = ? AND d.status IN (SELECT value FROM json_each(?))"


class SweepRepository:
    """Batch reads for the scheduler on one connection (use it on the thread that opened it)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def user_checks(self, delivery_ids: Sequence[int]) -> list[UserCheck]:
        """The check inputs of the given deliveries (one query, any number of ids).

        Deliveries to groups and channels (no ``user_id``) and unknown ids are left out;
        the result is ordered by due time, then id.
        """
        if not delivery_ids:
            return []
        rows = query_all(
            self.db,
            _SELECT.format(where=_BY_IDS),
            (json.dumps([int(i) for i in delivery_ids]),),
        )
        return _checks(rows)

    def due_user_checks(
        self, kind: str, period: str, *, statuses: Sequence[str] = ("due", "sending")
    ) -> list[UserCheck]:
        """The check inputs of every user delivery of ``kind`` in ``period`` with a status in
        ``statuses`` (by default those not finished yet), in one query."""
        rows = query_all(
            self.db,
            _SELECT.format(where=_PERIOD_WHERE),
            (kind, period, json.dumps(list(statuses))),
        )
        return _checks(rows)


def _checks(rows: list[Row]) -> list[UserCheck]:
    # Profiles are frozen values and many users share one: each distinct text is parsed once.
    profiles: dict[str, Profile] = {}
    for row in rows:
        text = row["profile"]
        if text is not None and text not in profiles:
            profiles[text] = profile_from_dict(loads(text))
    return [_check(row, profiles.get(row["profile"] or "")) for row in rows]


def _check(row: Row, profile: Profile | None) -> UserCheck:
    return UserCheck(
        delivery_id=int(row["delivery_id"]),
        chat_id=int(row["chat_id"]),
        user_id=int(row["user_id"]),
        kind=row["kind"],
        period=row["period"],
        due_at=row["due_at"],
        status=row["status"],
        schedule_id=row["schedule_id"],
        frequency=row["frequency"],
        rule=row["rule"],
        drift_threshold=row["drift_threshold"],
        profile=profile,
        account=_account(row),
        latest_build=_latest_build(row),
        thresholds={str(k): float(v) for k, v in loads(row["thresholds"], {}).items()},
    )


def _account(row: Row) -> PaperAccount | None:
    if row["account_user_id"] is None:
        return None
    positions = sorted((str(t), int(n)) for t, n in loads(row["positions"], []))
    fields = {
        "user_id": row["account_user_id"],
        "cash": row["cash"],
        "currency": row["currency"],
        "version": row["version"],
        "portfolio_id": row["account_portfolio_id"],
        "updated_at": row["account_updated_at"],
    }
    return account_from_row(fields, positions)


def _latest_build(row: Row) -> LatestBuild | None:
    if row["build_id"] is None:
        return None
    targets = sorted(
        ((str(t), float(w)) for t, w in loads(row["build_targets"], [])),
        key=lambda item: (-item[1], item[0]),
    )
    return LatestBuild(
        id=int(row["build_id"]),
        as_of=date.fromisoformat(row["build_as_of"]),
        created_at=row["build_created_at"],
        target_weights=tuple(targets),
    )
