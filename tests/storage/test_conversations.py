"""storage.conversations: persisted conversation state and user data."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from storage.conversations import BotStateRepository
from storage.db import connect


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def test_bot_state_round_trip(db: sqlite_utils.Database) -> None:
    state = BotStateRepository(db)
    state.set_conversation("build", (7, 7), 2)
    state.set_conversation("build", (8, 8), 3)
    state.set_conversation("build", (8, 8), None)
    assert state.conversations("build") == {(7, 7): 2}
    state.set_user_data(7, {"draft": {"sectors": ["IT"], "capital": None}})
    assert state.user_data(7) == {"draft": {"sectors": ["IT"], "capital": None}}
    assert state.all_user_data() == {7: {"draft": {"sectors": ["IT"], "capital": None}}}
    state.set_user_data(7, {})
    assert state.user_data(7) == {}
