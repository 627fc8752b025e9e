"""Users, profiles, portfolio builds and bot state on a real temporary SQLite database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from smallq.profile import make_profile
from storage.conversations import BotStateRepository
from storage.db import connect
from storage.portfolios import PortfolioRepository
from storage.users import UserRepository, erase_user
from tests.bot.fakes import make_report
from tests.storage.samples import full_profile, stored_record


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")












def test_touch_inserts_then_updates(db: sqlite_utils.Database) -> None:
    users = UserRepository(db)
    users.touch(7, username="a", first_name="Ann", now="2024-01-01T00:00:00+00:00")
    users.touch(7, username="b", first_name="Ann", now="2024-02-01T00:00:00+00:00")
    user = users.get(7)
    assert user is not None and user.username == "b"
    assert user.created_at.startswith("2024-01-01") and user.last_seen_at.startswith("2024-02-01")
    assert users.count() == 1 and users.get(8) is None


def test_save_profile_replaces(db: sqlite_utils.Database) -> None:
    users = UserRepository(db)
    assert users.get_profile(7) is None
    users.save_profile(7, full_profile())
    changed = replace(full_profile(), top_n=20)
    users.save_profile(7, changed)
    assert users.get_profile(7) == changed
    assert db.execute("SELECT count(*) FROM profiles").fetchone()[0] == 1










def test_erase_user_removes_everything(db: sqlite_utils.Database) -> None:
    users, repo, state = UserRepository(db), PortfolioRepository(db), BotStateRepository(db)
    profile = make_profile(sectors="IT", capital=10_000)
    for uid in (7, 8):
        users.touch(uid)
        users.save_profile(uid, profile)
        repo.add(uid, stored_record(make_report(profile)))
        state.set_conversation("build", (uid, uid), 2)
        state.set_user_data(uid, {"draft": {}})
    assert erase_user(db, 7) is True
    assert users.get(7) is None and users.get_profile(7) is None and repo.latest(7) is None
    assert db.execute("SELECT count(*) FROM holdings h JOIN portfolios p ON "
                      "p.id = h.portfolio_id WHERE p.user_id = 7").fetchone()[0] == 0  # fmt: skip
    assert db.execute("SELECT count(*) FROM holdings").fetchone()[0] == 3  # user 8's
    assert state.conversations("build") == {(8, 8): 2} and state.user_data(7) == {}
    assert users.get(8) is not None and repo.count(8) == 1
    assert erase_user(db, 7) is False
