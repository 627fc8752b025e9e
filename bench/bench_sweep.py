"""The weekly sweep users get (the scheduler's tick) against the per-user path, in one run.

Setup: a temporary SQLite database (WAL, migrations applied) with ``--users`` synthetic users
(``tests/bot/scheduler/sweep_population.py``: profiles over nine universe keys, paper accounts
of 2-10 sample tickers, some threshold overrides, weekly and monthly checks due now) and the
offline sample data. The sample is loaded before timing (a running bot has it loaded).

* **sweep**: one :meth:`bot.scheduler.dispatch.Dispatcher.tick` with the production
  :class:`bot.scheduler.digest.DigestBuilder` (plan every due check, lease, build in batches
  on the lean path with shared prices and targets, store, send to a fake Telegram that
  accepts at once, record). Executor: in-process (a worker thread).
* **contender**: the per-user path the bot had before, the same tick with the builder's
  one-user ``__call__`` (a full ``build_portfolio`` per user), on ``--contender-users``
  users of the same population, in the same run.

Prints users/s for both and their ratio; ``--json`` prints
``{"users", "seconds", "users_per_s", "contender": {...}, "speedup"}``. Nothing is asserted.

Run: ``.venv/bin/python bench/bench_sweep.py [--users 10000] [--contender-users 20] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import BotConfig
from bot.deps import ConnectionFactory, Deps
from bot.scheduler.digest import DigestBuilder
from bot.scheduler.dispatch import (
    DeliveryTarget,
    Dispatcher,
    DispatchSettings,
    OutgoingMessage,
)
from bot.scheduler.jobs import BATCH_SIZE
from smallq.data.sample import SampleSource
from smallq.pipeline import build_portfolio
from storage.db import connect
from storage.deliveries import DeliveryRepository
from tests.bot.scheduler.sweep_population import SAMPLE_TICKERS, T0, populate

NOW = T0 + timedelta(minutes=1)


class AcceptingSender:
    """A Telegram that accepts every message at once (the bench times our side only)."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, chat_id: int, message: OutgoingMessage) -> int:
        self.sent += 1
        return self.sent


class PerUser:
    """The per-user path: the digest builder without its batch method."""

    def __init__(self, builder: DigestBuilder) -> None:
        self.builder = builder

    async def __call__(self, target: DeliveryTarget) -> Sequence[OutgoingMessage]:
        return await self.builder(target)


def render_nothing(report: Any, names: tuple[str, ...]) -> dict[str, bytes]:
    return {}


async def timed_tick(path: Path, n_users: int, source: SampleSource, *, batch: bool) -> float:
    db = connect(path)
    populate(db, n_users)
    config = BotConfig(db_path=path)
    deps = Deps(
        config=config, db=ConnectionFactory(path), source=lambda: source,
        build_portfolio=build_portfolio, render_charts=render_nothing,
        executor=ThreadPoolExecutor(1), clock=lambda: NOW,
    )  # fmt: skip
    builder = DigestBuilder(deps)
    sender = AcceptingSender()
    dispatcher = Dispatcher(
        connect(path), sender, builder if batch else PerUser(builder), clock=lambda: NOW,
        settings=DispatchSettings(batch_size=BATCH_SIZE),  # as bot.scheduler.jobs wires it
    )  # fmt: skip
    start = time.perf_counter()
    stats = await dispatcher.tick()
    seconds = time.perf_counter() - start
    records = DeliveryRepository(db).records()
    if stats.sent != n_users or any(r.status != "sent" for r in records):
        raise SystemExit(f"sweep incomplete: {stats}")
    deps.executor.shutdown()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--contender-users", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = SampleSource()
    source.fetch_prices(list(SAMPLE_TICKERS), T0.date() - timedelta(days=30), T0.date())
    source.fetch_companies()
    with tempfile.TemporaryDirectory() as tmp:
        sweep_s = asyncio.run(timed_tick(Path(tmp) / "sweep.db", args.users, source, batch=True))
        per_user_s = asyncio.run(
            timed_tick(Path(tmp) / "per_user.db", args.contender_users, source, batch=False)
        )
    result = {
        "users": args.users,
        "seconds": round(sweep_s, 3),
        "users_per_s": round(args.users / sweep_s, 1),
        "contender": {
            "path": "per-user check (full build_portfolio per user), the same tick",
            "users": args.contender_users,
            "seconds": round(per_user_s, 3),
            "users_per_s": round(args.contender_users / per_user_s, 2),
        },
    }
    result["speedup"] = round(result["users_per_s"] / result["contender"]["users_per_s"], 1)
    if args.json:
        print(json.dumps(result))
        return
    contender = result["contender"]
    print(f"sweep     {args.users:>6} users {sweep_s:8.2f} s {result['users_per_s']:>9} users/s")
    print(f"per-user  {args.contender_users:>6} users {per_user_s:8.2f} s "
          f"{contender['users_per_s']:>9} users/s")  # fmt: skip
    print(f"speed-up  {result['speedup']}x (users/s)")


if __name__ == "__main__":
    main()
