"""Conversation state in SQLite (bot.ptb.persistence)."""

from __future__ import annotations

from pathlib import Path

from bot.deps import ConnectionFactory
from bot.ptb.persistence import SqlitePersistence
from tests.bot.fakes import USER, Harness, Heartbeat, hold_write_lock, make_config, make_deps


async def test_persistence_round_trip(tmp_path: Path) -> None:
    factory = ConnectionFactory(tmp_path / "p.db")
    persistence = SqlitePersistence(factory)
    await persistence.update_conversation("build", (5, 5), 3)
    await persistence.update_user_data(5, {"draft": {"sectors": ["IT"], "capital": 10.0}})
    await persistence.update_user_data(6, {"bad": object()})  # not JSON: skipped, logged
    again = SqlitePersistence(ConnectionFactory(tmp_path / "p.db"))
    assert await again.get_conversations("build") == {(5, 5): 3}
    assert await again.get_user_data() == {5: {"draft": {"sectors": ["IT"], "capital": 10.0}}}
    await again.update_conversation("build", (5, 5), None)
    await again.drop_user_data(5)
    assert await again.get_conversations("build") == {}
    assert await again.get_user_data() == {}
    assert await again.get_bot_data() == {} and await again.get_chat_data() == {}


async def test_bot_data_is_not_persisted(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with Harness(cfg, make_deps(cfg)) as h:
        await h.text("/start")
        await h.app.update_persistence()
        rows = h.deps.db().execute("SELECT user_id FROM bot_user_data").fetchall()
        assert rows == [(USER,)]
        assert h.app.bot_data["deps"] is h.deps


async def test_locked_database_does_not_freeze_persistence_flush(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with Harness(cfg, make_deps(cfg)) as h:
        await h.text("/start")
        await h.press("sector:IT")
        hold_write_lock(tmp_path / "bot.db", 1.0)
        async with Heartbeat() as beat:
            await h.app.update_persistence()
        assert max(beat.gaps) < 0.5, f"event loop blocked for {max(beat.gaps):.2f} s"
        assert h.deps.bot_state().conversations("build")  # written once the lock went
