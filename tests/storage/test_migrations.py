"""storage.migrations: the schema, and old databases migrating to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils

import storage.migrations
from smallq.models import Order, PriceData
from smallq.profile import make_profile
from smallq.types import Side
from storage.company_cache import SqliteCompanyCache
from storage.conversations import BotStateRepository
from storage.db import connect
from storage.deliveries import DeliveryRepository, NewOccurrence
from storage.ledger import LedgerRepository
from storage.migrations import MIGRATIONS
from storage.portfolios import PortfolioRecord, PortfolioRepository
from storage.price_cache import SqlitePriceCache
from storage.subscriptions import ChatRepository, ScheduleRepository, ThresholdRepository
from storage.users import UserRepository
from tests.bot.fakes import make_report
from tests.storage.samples import T0, add_schedule, full_profile, stored_record


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def test_migrations_create_tables_in_wal_mode(db: sqlite_utils.Database) -> None:
    names = set(db.table_names())
    assert {"users", "profiles", "portfolios", "holdings", "bot_conversations"} <= names
    assert {"bot_user_data", "_migrations"} <= names
    applied = {r["name"] for r in db["_migrations"].rows}
    assert {"0100_users_profiles", "0101_portfolios_holdings", "0102_bot_state"} <= applied
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------- old versions
# Each seeder writes what a database at that version could hold; each checker reads it back,
# by column name, through today's repositories after the remaining migrations ran.
FETCHED = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
DAYS = pd.DatetimeIndex(["2026-02-26", "2026-02-27"])


def _seed_prices(db: sqlite_utils.Database) -> None:
    close = pd.DataFrame({"AAA": [10.0, 11.0]}, index=DAYS)
    SqlitePriceCache(db).save("sample", PriceData(close=close), FETCHED)


def _check_prices(db: sqlite_utils.Database) -> None:
    data, covered = SqlitePriceCache(db).load("sample", ["AAA"], date(2026, 2, 26), DAYS[-1].date())
    assert covered == {"AAA": FETCHED} and data.close["AAA"].tolist() == [10.0, 11.0]


def _companies() -> pd.DataFrame:
    return pd.DataFrame(
        {"name": ["Aaa Inc"], "sector": ["Information Technology"], "market_cap": [1e9],
         "pe": [20.0], "pb": [3.0], "dividend_yield": [0.01]},
        index=pd.Index(["AAA"], name="ticker"),
    )  # fmt: skip


def _seed_companies(db: sqlite_utils.Database) -> None:
    SqliteCompanyCache(db).save("sample", _companies(), FETCHED)


def _check_companies(db: sqlite_utils.Database) -> None:
    loaded = SqliteCompanyCache(db).load("sample")
    assert loaded is not None and loaded[1] == FETCHED
    pd.testing.assert_frame_equal(loaded[0], _companies(), check_names=False)


def _seed_users(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7, username="ann", now=T0)
    UserRepository(db).save_profile(7, full_profile(), now=T0)


def _check_users(db: sqlite_utils.Database) -> None:
    user = UserRepository(db).get(7)
    assert user is not None and (user.username, user.created_at) == ("ann", T0)
    assert UserRepository(db).get_profile(7) == full_profile()


def _record() -> PortfolioRecord:
    return stored_record(make_report(make_profile(sectors="IT", capital=10_000)))


def _seed_portfolios(db: sqlite_utils.Database) -> None:
    PortfolioRepository(db).add(7, _record(), now=T0)


def _check_portfolios(db: sqlite_utils.Database) -> None:
    latest = PortfolioRepository(db).latest(7)
    assert latest is not None and (latest.user_id, latest.created_at) == (7, T0)
    assert replace(latest, id=None, user_id=None, created_at=None) == _record()


def _seed_bot_state(db: sqlite_utils.Database) -> None:
    BotStateRepository(db).set_conversation("build", (7, 7), 2)
    BotStateRepository(db).set_user_data(7, {"draft": {"capital": 5000}})


def _check_bot_state(db: sqlite_utils.Database) -> None:
    assert BotStateRepository(db).conversations("build") == {(7, 7): 2}
    assert BotStateRepository(db).user_data(7) == {"draft": {"capital": 5000}}


def _seed_ledger(db: sqlite_utils.Database) -> None:
    order = Order("AAA", Side.BUY, 10, 100.0, 1000.0, 1.0)
    LedgerRepository(db).record_trades(
        7, [order], trade_date=date(2026, 2, 27), reference="accept:1", opening_cash=2000.0,
        portfolio_id=1, now=T0,
    )  # fmt: skip


def _check_ledger(db: sqlite_utils.Database) -> None:
    account = LedgerRepository(db).account(7)
    assert account is not None and account.positions == (("AAA", 10),)
    assert (account.cash, account.version, account.portfolio_id) == (999.0, 1, 1)
    (trade,) = LedgerRepository(db).trades(7)
    assert (trade.ticker, trade.side, trade.shares, trade.reference) == (
        "AAA", Side.BUY, 10, "accept:1",
    )  # fmt: skip


def _seed_subscriptions(db: sqlite_utils.Database) -> None:
    add_schedule(db, chat_id=7)
    ThresholdRepository(db).set(7, "var_limit", 0.03, now=T0)
    ChatRepository(db).link(-100, chat_type="group", title="Club", linked_by=7, now=T0)


def _check_subscriptions(db: sqlite_utils.Database) -> None:
    schedule = ScheduleRepository(db).get(7, "digest")
    assert schedule is not None and schedule.active and schedule.next_due_at == T0
    assert ThresholdRepository(db).overrides(7) == {"var_limit": 0.03}
    link = ChatRepository(db).get(-100)
    assert link is not None and (link.title, link.linked_by, link.active) == ("Club", 7, True)


def _seed_deliveries(db: sqlite_utils.Database) -> None:
    DeliveryRepository(db).enqueue(
        NewOccurrence(-100, "broadcast", "b1", T0), now=T0, parts=[({"text": "hi"}, b"P")]
    )


def _check_deliveries(db: sqlite_utils.Database) -> None:
    record = DeliveryRepository(db).get(-100, "broadcast", "b1")
    assert record is not None and (record.status, record.due_at) == ("due", T0)
    (part,) = DeliveryRepository(db).parts(record.id)
    assert (part.body, part.photo, part.sent_at) == ({"text": "hi"}, b"P", None)


DATA: dict[str, tuple[Callable[[sqlite_utils.Database], None], ...]] = {
    "0001_price_cache": (_seed_prices, _check_prices),
    "0002_company_cache": (_seed_companies, _check_companies),
    "0100_users_profiles": (_seed_users, _check_users),
    "0101_portfolios_holdings": (_seed_portfolios, _check_portfolios),
    "0102_bot_state": (_seed_bot_state, _check_bot_state),
    "0200_paper_ledger": (_seed_ledger, _check_ledger),
    "0201_schedules_thresholds_chats": (_seed_subscriptions, _check_subscriptions),
    "0202_delivery_ledger": (_seed_deliveries, _check_deliveries),
    "0203_delivery_period_index": (),
}


def _schema(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    rows = db.query("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
    return [(r["name"], r["sql"]) for r in rows]


def test_every_migration_has_sample_data() -> None:
    assert list(DATA) == [m.name for m in MIGRATIONS]


@pytest.mark.parametrize("applied", range(len(MIGRATIONS)), ids=lambda n: f"after_{n}")
def test_an_older_database_migrates_with_its_rows_intact(tmp_path: Path, applied: int) -> None:
    path = tmp_path / "old.db"
    old = connect(path, migrations=MIGRATIONS[:applied])
    for migration in MIGRATIONS[:applied]:
        for seed in DATA[migration.name][:1]:
            seed(old)
    old.conn.close()

    db = connect(path)  # today's code: applies the remaining migrations
    assert [r["name"] for r in db["_migrations"].rows] == [m.name for m in MIGRATIONS]
    assert _schema(db) == _schema(connect(tmp_path / "new.db"))
    for migration in MIGRATIONS[:applied]:
        for check in DATA[migration.name][1:]:
            check(db)


def test_migrations_module_imports_no_other_storage_module() -> None:
    source = Path(storage.migrations.__file__).read_text()
    assert "from storage" not in source and "import storage" not in source
