"""Storage side of a weekly sweep (issue 10, §5): batch reads and writes for N users.

Setup: a temporary file database (WAL, migrations applied) with ``--users`` synthetic users
(default 10,000), each with a profile, one portfolio build of 10 holdings, a paper account
of 8 positions, 2 alert-threshold overrides and a weekly schedule due now.

Each round (one week) runs the storage calls a batched scheduler makes, and times them:

* **plan**: ``ScheduleRepository.due(now, limit=None)`` + ``DeliveryRepository.record_due_many``
  (every due schedule's occurrence inserted under UNIQUE (chat, kind, period) and every
  schedule advanced, in one transaction);
* **lease**: ``DeliveryRepository.acquire(limit=N)`` (one transaction);
* **read**: ``SweepRepository.user_checks`` (every user's schedule, profile, latest build
  with target weights, paper account with positions and thresholds, in one query);
* **record**: ``save_parts_many`` + ``mark_parts_sent_many`` + ``finish_many`` (one
  transaction each).

Contenders, in the same run on a copy of the same database: the per-user calls the
scheduler makes today (``record_due`` per schedule; per user ``by_id``, ``get_profile``,
``account``, ``overrides`` and ``latest``; ``save_parts``/``mark_part_sent``/``finish`` per
delivery). Medians over ``--rounds``; nothing here is asserted.

Run: ``.venv/bin/python bench/bench_storage_sweep.py [--users 10000] [--rounds 3] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from smallq.profile import make_profile
from storage.codec import dumps, profile_to_dict
from storage.db import connect, transaction
from storage.deliveries import (
    DeliveryOutcome,
    DeliveryRepository,
    DuePlan,
    NewOccurrence,
    SentPart,
)
from storage.ledger import LedgerRepository
from storage.portfolios import PortfolioRepository
from storage.subscriptions import ScheduleRepository, ThresholdRepository
from storage.sweep import SweepRepository
from storage.users import UserRepository

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
TICKERS = [f"T{i:03d}" for i in range(60)]
KIND = "check"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def populate(db: sqlite_utils.Database, n_users: int, seed: int = 7) -> None:
    """Write ``n_users`` synthetic users with everything a check reads, in one transaction."""
    rng = random.Random(seed)
    stamp = iso(T0 - timedelta(days=7))
    profile = dumps(profile_to_dict(make_profile(sectors="IT", capital=10_000)))
    users = range(1, n_users + 1)
    with transaction(db):
        conn = db.conn
        conn.executemany(
            "INSERT INTO users (id, created_at, last_seen_at) VALUES (?, ?, ?)",
            [(u, stamp, stamp) for u in users],
        )
        conn.executemany(
            "INSERT INTO profiles (user_id, params, updated_at) VALUES (?, ?, ?)",
            [(u, profile, stamp) for u in users],
        )
        conn.executemany(
            "INSERT INTO portfolios (id, user_id, created_at, as_of, source, profile, settings, "
            "capital, currency, cash_left, fractional, objective_requested, objective_used, "
            "fallbacks, solver, metrics, var, risk_contributions, stress, notes) VALUES "
            "(?, ?, ?, '2026-02-27', 'sample', ?, '{}', 10000, 'USD', 12.5, 0, 'max_sharpe', "
            "'max_sharpe', '[]', 'CLARABEL', '{}', '[]', '[]', '{}', '[]')",
            [(u, u, stamp, profile) for u in users],
        )
        holdings, positions = [], []
        for u in users:
            picked = rng.sample(TICKERS, 10)
            holdings += [(u, t, 0.1, 0.1, 5.0, 20.0, 100.0) for t in picked]
            positions += [(u, t, rng.randint(1, 40)) for t in picked[:8]]
        conn.executemany(
            "INSERT INTO holdings (portfolio_id, ticker, target_weight, weight, shares, price, "
            "amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
            holdings,
        )
        conn.executemany(
            "INSERT INTO paper_accounts (user_id, cash, currency, version, portfolio_id, "
            "updated_at) VALUES (?, 250.0, 'USD', 1, ?, ?)",
            [(u, u, stamp) for u in users],
        )
        conn.executemany(
            "INSERT INTO paper_positions (user_id, ticker, shares) VALUES (?, ?, ?)", positions
        )
        conn.executemany(
            "INSERT INTO alert_thresholds (user_id, name, value, updated_at) VALUES (?, ?, ?, ?)",
            [
                (u, name, value, stamp)
                for u in users
                for name, value in (("var", 0.03), ("drift", 0.04))
            ],
        )
        conn.executemany(
            "INSERT INTO schedules (chat_id, user_id, kind, frequency, day, local_time, timezone, "
            "next_due_at, created_at, updated_at) VALUES (?, ?, ?, 'weekly', 0, '09:00', 'UTC', "
            "?, ?, ?)",
            [(u, u, KIND, iso(T0), stamp, stamp) for u in users],
        )


def messages(delivery_id: int) -> list[tuple[dict[str, Any], bytes | None]]:
    return [({"text": f"Your weekly check ({delivery_id})", "parse_mode": "HTML"}, None)]


def batched_round(db: sqlite_utils.Database, week: int) -> dict[str, float]:
    """One week through the batch APIs; seconds per stage."""
    now, after = T0 + timedelta(weeks=week), T0 + timedelta(weeks=week + 1)
    ledger, times = DeliveryRepository(db), {}
    start = time.perf_counter()
    due = ScheduleRepository(db).due(iso(now), limit=None)
    plans = [
        DuePlan(
            s.id,
            s.next_due_at,
            (NewOccurrence(s.chat_id, KIND, f"2026-W{10 + week}", iso(now), s.user_id),),
            iso(after),
        )
        for s in due
    ]
    ledger.record_due_many(plans, now=iso(now))
    times["plan"] = time.perf_counter() - start
    start = time.perf_counter()
    leased = ledger.acquire(
        now=iso(now), lease_until=iso(now + timedelta(minutes=10)), max_attempts=3,
        limit=len(plans),
    )  # fmt: skip
    times["lease"] = time.perf_counter() - start
    start = time.perf_counter()
    checks = SweepRepository(db).user_checks([r.id for r in leased])
    times["read"] = time.perf_counter() - start
    assert len(checks) == len(plans), (len(checks), len(plans))
    owner = leased[0].owner or ""
    start = time.perf_counter()
    ledger.save_parts_many(owner, {r.id: messages(r.id) for r in leased})
    sent = [SentPart(r.id, 0, r.id) for r in leased]
    ledger.mark_parts_sent_many(owner, sent, now=iso(now), lease_until=iso(after))
    ended = ledger.finish_many(owner, [DeliveryOutcome(r.id, "sent") for r in leased], now=iso(now))
    times["record"] = time.perf_counter() - start
    assert ended == len(plans)
    return times


def per_user_round(db: sqlite_utils.Database, week: int) -> dict[str, float]:
    """The same week through today's per-user calls; seconds per stage."""
    now, after = T0 + timedelta(weeks=week), T0 + timedelta(weeks=week + 1)
    ledger, schedules, times = DeliveryRepository(db), ScheduleRepository(db), {}
    start = time.perf_counter()
    due = schedules.due(iso(now), limit=None)
    for s in due:
        occurrence = NewOccurrence(s.chat_id, KIND, f"2026-W{10 + week}", iso(now), s.user_id)
        ledger.record_due(s.id, s.next_due_at, [occurrence], iso(after), now=iso(now))
    times["plan"] = time.perf_counter() - start
    leased = ledger.acquire(
        now=iso(now), lease_until=iso(now + timedelta(minutes=10)), max_attempts=3,
        limit=len(due),
    )  # fmt: skip
    start = time.perf_counter()
    users, accounts = UserRepository(db), LedgerRepository(db)
    thresholds, portfolios = ThresholdRepository(db), PortfolioRepository(db)
    for r in leased:
        assert r.user_id is not None and r.schedule_id is not None
        schedules.by_id(r.schedule_id)
        users.get_profile(r.user_id)
        accounts.account(r.user_id)
        thresholds.overrides(r.user_id)
        portfolios.latest(r.user_id)
    times["read"] = time.perf_counter() - start
    start = time.perf_counter()
    for r in leased:
        owner = r.owner or ""
        ledger.save_parts(r.id, owner, messages(r.id))
        ledger.mark_part_sent(r.id, 0, owner, message_id=r.id, now=iso(now), lease_until=iso(after))
        ledger.finish(r.id, owner, "sent", now=iso(now))
    times["record"] = time.perf_counter() - start
    return times


def run(
    path: Path, rounds: int, one_round: Callable[[sqlite_utils.Database, int], dict[str, float]]
) -> dict[str, float]:
    db = connect(path)
    results = [one_round(db, week) for week in range(rounds)]
    db.conn.close()
    return {stage: statistics.median(r[stage] for r in results) for stage in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        batched, per_user = Path(folder) / "batched.db", Path(folder) / "per_user.db"
        start = time.perf_counter()
        db = connect(batched)
        populate(db, args.users)
        setup = time.perf_counter() - start
        with sqlite3.connect(per_user) as copy:
            db.conn.backup(copy)
        db.conn.close()
        fast = run(batched, args.rounds, batched_round)
        slow = run(per_user, args.rounds, per_user_round)
    if args.json:
        print(json.dumps({"users": args.users, "rounds": args.rounds, "setup_s": setup,
                          "batched_s": fast, "per_user_s": slow}))  # fmt: skip
        return
    print(
        f"storage sweep: {args.users} users, median of {args.rounds} rounds (setup {setup:.2f} s)"
    )
    print("| stage | batched (s) | per-user calls (s) | per-user / batched |")
    print("|---|---:|---:|---:|")
    for stage in fast:
        slow_s = slow.get(stage)
        ratio = f"{slow_s / fast[stage]:.1f}x" if slow_s else "—"
        slow_text = f"{slow_s:.3f}" if slow_s is not None else "—"
        print(f"| {stage} | {fast[stage]:.3f} | {slow_text} | {ratio} |")
    both, both_slow = fast["read"] + fast["record"], slow["read"] + slow["record"]
    print(f"| read + record | {both:.3f} | {both_slow:.3f} | {both_slow / both:.1f}x |")


if __name__ == "__main__":
    main()
