"""Deps (bot.deps): one SQLite connection per thread; writes leave the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.deps import ConnectionFactory, LevelTables
from tests.bot.fakes import USER, FakeEngine, Harness, make_config, make_deps

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


RESULT = "<b>Your portfolio"


def harness(tmp_path: Path, engine: FakeEngine | None = None, **config: object) -> Harness:
    cfg = make_config(tmp_path, **config)
    return Harness(cfg, make_deps(cfg, engine))


async def to_confirm(h: Harness, capital: str = "10000", user: int = USER) -> None:
    await h.text("/start", user)
    await h.press("sector:IT", user)
    await h.press("sector:done", user)
    await h.text(capital, user)
    await h.press("risk:3", user)
    await h.press("strategy:momentum", user)


def results(h: Harness) -> list[str]:
    return [t for t in h.texts() if t.startswith(RESULT)]


async def test_locked_database_does_not_freeze_the_event_loop(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        other = sqlite3.connect(str(tmp_path / "bot.db"), check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # e.g. a backup, the CLI, a second process
        threading.Timer(1.5, other.commit).start()
        gaps: list[float] = []
        done = asyncio.Event()

        async def heartbeat() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.02)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        await h.press("confirm:build")
        done.set()
        await beat
        other.close()
        assert h.deps.portfolios().count(USER) == 1
        assert max(gaps) < 0.5, f"event loop blocked for {max(gaps):.2f} s"


def test_connection_factory_gives_each_thread_its_own_connection(tmp_path: Path) -> None:
    factory = ConnectionFactory(tmp_path / "f.db")
    here = factory()
    assert factory() is here  # the same thread keeps its connection
    seen: dict[str, object] = {}

    def in_thread(name: str) -> None:
        db = factory()
        seen[name] = db
        db.execute("SELECT 1").fetchone()  # usable on the thread that opened it

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(here), id(seen["a"]), id(seen["b"])}) == 3
    with pytest.raises(sqlite3.ProgrammingError):  # a connection never crosses threads
        seen["a"].execute("SELECT 1")  # type: ignore[attr-defined]
    factory.close_all()


async def test_locked_database_past_timeout_tells_user_and_writes_nothing(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        other = sqlite3.connect(str(tmp_path / "bot.db"), timeout=0.1)
        other.execute("BEGIN IMMEDIATE")
        try:
            await h.press("confirm:build")  # waits the 5 s busy timeout
        finally:
            other.rollback()
            other.close()
        assert "save or load your data" in h.texts()[-1]
        assert not results(h) and h.deps.portfolios().count() == 0
        assert h.deps.users().get(USER) is None
        await h.press("confirm:build")  # the buttons stayed live
        assert len(results(h)) == 1


async def test_a_level_table_is_ready_once_computed_and_not_after_a_failure() -> None:
    tables = LevelTables(ttl=60.0)
    gate = asyncio.Event()

    async def compute() -> Any:
        await gate.wait()
        return "table"

    waiting = asyncio.create_task(tables.get("k", compute, now=0.0))
    await asyncio.sleep(0)
    assert not tables.ready("k", now=0.0)  # being computed: "typing…" is due
    gate.set()
    assert await waiting == "table"
    assert tables.ready("k", now=1.0)
    assert not tables.ready("k", now=61.0)  # stale: it will be computed again

    async def fail() -> Any:
        raise RuntimeError("no table")

    with pytest.raises(RuntimeError):
        await tables.get("bad", fail, now=0.0)
    assert not tables.ready("bad", now=0.0)


async def test_background_work_is_kept_until_done_and_its_error_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path)
    deps = make_deps(cfg, None)

    async def fail() -> None:
        raise RuntimeError("boom")

    deps.start_background(fail(), "level table")
    assert len(deps.background) == 1
    await asyncio.gather(*deps.background, return_exceptions=True)
    await asyncio.sleep(0)
    assert not deps.background
    assert "level table failed" in caplog.text
