"""Review of issues 4 and 6: bot handlers and the dispatcher under faults (in-process, fast).

The tests under "bugs" reproduced defects the review found and are kept as regression tests
(with a few more for the same fixes); the others pin down behaviour the review checked and
found right.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import InvalidToken, TimedOut

from bot import texts
from bot.deps import ConnectionFactory
from bot.dispatch import DIGEST, Dispatcher
from bot.redaction import configure_logging, log_uncaught
from smallq.errors import DatabaseLockedError
from storage.db import connect
from storage.deliveries import DeliveryRepository
from storage.portfolios import PortfolioRepository
from storage.subscriptions import ChatRepository, ScheduleRepository
from tests.bot.fakes import CHAT, TOKEN, USER, FakeEngine, Harness, make_config, make_deps
from tests.bot.test_channels import ADMIN, bot, chat, chat_command  # noqa: F401  (fixture)
from tests.bot.test_dispatch import (  # noqa: F401  (fixture)
    MONDAY_9,
    FakeClock,
    FakeSender,
    builder,
    env,
    subscribe,
    weekly_9,
)
from tests.e2e.fake_methods import ApiError

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

RESULT = "<b>Your portfolio"
GROUP, NEW_GROUP, GROUP_ADMIN = -100111, -100999, 3003


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


# --------------------------------------------------------------------------- bugs
async def test_delete_mid_conversation_erases_the_conversation_row(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")  # state CAPITAL, not flushed yet (interval 60 s)
        await h.text("/delete")
        await h.press("delete:yes")
        await h.app.update_persistence()  # the periodic flush
        rows = (
            h.deps.db()
            .execute("SELECT key, state FROM bot_conversations WHERE user_id = ?", (USER,))
            .fetchall()
        )
        assert rows == []  # "erases everything stored about you"


async def test_network_error_on_removing_buttons_still_delivers_the_result(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        h.api.inject("editMessageReplyMarkup", "500")  # PTB raises NetworkError, like TimedOut
        await h.press("confirm:build")
        assert h.deps.portfolios().count(USER) == 1  # stored...
        assert len(results(h)) == 1  # ...and sent
        assert len(h.api.photos_to(CHAT)) == 3


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


async def test_failed_build_store_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(self: PortfolioRepository, *args: object, **kw: object) -> int:
        raise DatabaseLockedError("database is locked")

    async with harness(tmp_path) as h:
        await to_confirm(h)
        monkeypatch.setattr(PortfolioRepository, "add", locked)
        await h.press("confirm:build")
        assert "save or load your data" in h.texts()[-1]  # the user is told
        assert h.deps.users().get_profile(USER) is None  # and nothing half-written


async def test_link_in_a_group_that_just_migrated_follows_it(bot: Harness) -> None:  # noqa: F811
    bot.api.chat_members[(GROUP, GROUP_ADMIN)] = "administrator"
    send = bot.api.handlers["sendMessage"]

    async def upgraded(api, call):  # type: ignore[no-untyped-def]
        if call.chat_id == GROUP:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": NEW_GROUP},
            )
        return await send(api, call)

    bot.api.handlers["sendMessage"] = upgraded
    await chat_command(bot, GROUP, "/link", user=GROUP_ADMIN)
    assert not any("Sorry" in c.text for c in bot.api.calls_of("sendMessage"))
    link = ChatRepository(bot.deps.db()).get(NEW_GROUP)
    assert link is not None and link.active
    assert any(t.startswith("Linked") for t in bot.texts(NEW_GROUP))


async def test_unsubscribed_users_pending_delivery_is_not_sent(env) -> None:  # noqa: F811
    db, clock, sender, make, _ = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    assert (await make().tick()).released == 1  # due, retried later
    ScheduleRepository(db).deactivate(1, DIGEST)  # the user sends /unsubscribe
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").status == "skipped"


# --------------------------------------------------------------------------- same fixes, more cases
class Heartbeat:
    """Measures the longest gap between event-loop turns while a block runs."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._done = asyncio.Event()

    async def _beat(self) -> None:
        last = time.monotonic()
        while not self._done.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        await self._task


def hold_write_lock(path: Path, seconds: float) -> None:
    """Another connection takes the write lock and releases it after ``seconds``."""
    other = sqlite3.connect(str(path), check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(seconds, lambda: (other.commit(), other.close())).start()


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


async def test_locked_database_does_not_freeze_persistence_flush(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        hold_write_lock(tmp_path / "bot.db", 1.0)
        async with Heartbeat() as beat:
            await h.app.update_persistence()
        assert max(beat.gaps) < 0.5, f"event loop blocked for {max(beat.gaps):.2f} s"
        assert h.deps.bot_state().conversations("build")  # written once the lock went


async def test_dispatcher_waits_for_a_lock_without_freezing_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    clock = FakeClock(MONDAY_9 - timedelta(hours=1))
    subscribe(connect(path), 1, weekly_9(), clock())
    clock.now, sender = MONDAY_9, FakeSender(clock)
    dispatcher = Dispatcher(connect(path, busy_timeout_s=0.05), sender, builder, clock=clock)
    hold_write_lock(path, 0.6)
    async with Heartbeat() as beat:
        stats = await dispatcher.tick()
    assert (stats.planned, stats.sent) == (1, 1)
    assert max(beat.gaps) < 0.3, f"event loop blocked for {max(beat.gaps):.2f} s"


async def test_network_error_on_the_result_points_to_portfolio(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        h.api.inject(
            "sendMessage", "500", when=lambda c: c.params.get("text", "").startswith(RESULT)
        )
        await h.press("confirm:build")
        assert h.deps.portfolios().count(USER) == 1
        assert h.texts()[-1] == texts.RESULT_NOT_DELIVERED
        assert "Sorry" not in " ".join(h.texts())
        await h.text("/portfolio")
        assert h.texts()[-1].startswith("<b>Your portfolio of")


async def test_timeouts_on_question_edits_do_not_stop_the_questions(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.api.inject("editMessageText", "500", times=3)
        await to_confirm(h)
        await h.press("confirm:build")
        assert len(results(h)) == 1


async def test_delete_no_mid_conversation_keeps_the_questions(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")
        await h.text("/delete")
        await h.press("delete:no")
        await h.text("10000")  # still the capital question
        assert h.texts()[-1] == texts.risk_prompt(None)


async def test_403_during_a_reply_marks_the_chat_unreachable(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.api.inject("sendMessage", "403")
        await h.text("/help")
        assert not ChatRepository(h.deps.db()).is_reachable(CHAT)
        await h.text("/help")  # the user writes again: reachable
        assert ChatRepository(h.deps.db()).is_reachable(CHAT)


async def test_accept_of_a_missing_portfolio_does_not_say_recording(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        h.api.press(USER, "accept:999", message_id=h.api.find_button_message(CHAT, "sector:IT"))
        await h.run()
        assert h.last_answer()["text"] == texts.STALE_BUTTON
        assert not any("Recording" in a.get("text", "") for a in h.api.answers())


async def test_unlink_skips_the_chats_pending_digest(env) -> None:  # noqa: F811
    db, clock, sender, make, _ = env
    subscribe(db, GROUP, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    await make().tick()
    ChatRepository(db).unlink(GROUP)
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(GROUP, DIGEST, "2026-W10").reason == "unlinked"


async def test_unsubscribe_keeps_a_delivery_that_already_sent_a_part(env) -> None:  # noqa: F811
    db, clock, sender, make, _ = env

    async def two_parts(target):  # type: ignore[no-untyped-def]
        from bot.dispatch import OutgoingMessage

        return [OutgoingMessage("one"), OutgoingMessage("two")]

    subscribe(db, 1, weekly_9(), clock())
    sender.script[2] = TimedOut()  # the second part fails
    clock.now = MONDAY_9
    await make(builder=two_parts).tick()
    ScheduleRepository(db).deactivate(1, DIGEST)
    clock.advance(minutes=5)
    await make(builder=two_parts).tick()
    assert [text for _, text, _ in sender.delivered] == ["one", "two"]  # never half a digest


async def test_dispatcher_skips_a_delivery_of_a_stopped_schedule(env) -> None:  # noqa: F811
    db, clock, sender, make, _ = env
    subscribe(db, 1, weekly_9(), clock())
    sender.script[1] = TimedOut()
    clock.now = MONDAY_9
    await make().tick()
    db.execute("UPDATE schedules SET active = 0")  # stopped without the repository's cleanup
    clock.advance(minutes=5)
    await make().tick()
    assert sender.delivered == []
    assert DeliveryRepository(db).get(1, DIGEST, "2026-W10").reason == "unsubscribed"


async def test_migration_service_message_moves_links_and_schedules(bot: Harness) -> None:  # noqa: F811
    bot.api.chat_members[(GROUP, GROUP_ADMIN)] = "administrator"
    await chat_command(bot, GROUP, "/link", user=GROUP_ADMIN)
    bot.api.push_update({"message": {
        "message_id": 9000, "date": int(time.time()), "chat": chat(GROUP, "group"),
        "from": {"id": GROUP_ADMIN, "is_bot": False, "first_name": "A"},
        "migrate_to_chat_id": NEW_GROUP,
    }})  # fmt: skip
    await bot.run()
    chats = ChatRepository(bot.deps.db())
    assert chats.get(NEW_GROUP) is not None and chats.get(GROUP) is None
    assert chats.resolve(GROUP) == NEW_GROUP
    assert ScheduleRepository(bot.deps.db()).get(NEW_GROUP, DIGEST) is not None
    assert not any("Sorry" in c.text for c in bot.api.calls_of("sendMessage"))


async def test_broadcast_leading_number_is_text_and_long_text_is_refused(
    bot: Harness,  # noqa: F811
) -> None:
    bot.api.chat_members[(GROUP, ADMIN)] = "administrator"
    await chat_command(bot, GROUP, "/link", user=ADMIN)
    await bot.text("/broadcast 2024 was a good year", ADMIN)
    assert bot.texts(ADMIN)[-1] == "Queued for 1 chat(s)."
    queued = DeliveryRepository(bot.deps.db()).records(kind="broadcast")
    parts = DeliveryRepository(bot.deps.db()).parts(queued[-1].id)
    assert parts[0].body["text"] == "📣 2024 was a good year"
    await bot.text("/broadcast " + "&" * 1000, ADMIN)  # 5000 characters once escaped
    assert bot.texts(ADMIN)[-1].startswith("Too long")
    assert len(DeliveryRepository(bot.deps.db()).records(kind="broadcast")) == 1


def test_uncaught_exceptions_and_rejected_tokens_are_logged_redacted() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", TOKEN, stream=stream)
    try:
        try:
            raise RuntimeError(f"boom with {TOKEN}")
        except RuntimeError as exc:
            log_uncaught(type(exc), exc, exc.__traceback__)
        try:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
        except InvalidToken:
            logging.getLogger("telegram.ext").exception("Invalid token. Aborting retry loop.")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert TOKEN.split(":")[1] not in output and "boom with" in output
    assert "Invalid token. Aborting retry loop." in output
    assert output.count("Traceback") == 1  # the RuntimeError's; InvalidToken's is dropped


# --------------------------------------------------------------------------- checked, right
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


async def test_buttons_of_a_deleted_user_change_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        summary = h.api.find_button_message(CHAT, "confirm:build")
        await h.press("confirm:build")
        record = h.deps.portfolios().latest(USER)
        assert record is not None
        await h.text("/delete")
        await h.press("delete:yes")
        await h.press(f"accept:{record.id}")
        assert h.texts()[-1] == texts.STALE_BUTTON
        h.api.press(USER, "confirm:build", message_id=summary)
        await h.run()
        assert h.last_answer()["text"] == texts.STALE_BUTTON
        assert h.deps.users().get(USER) is None and h.deps.portfolios().count() == 0
        rows = h.deps.db().execute("SELECT count(*) FROM paper_trades").fetchone()[0]
        assert rows == 0


async def test_callbacks_from_a_user_with_no_state_are_answered(tmp_path: Path) -> None:
    stranger = 4444
    async with harness(tmp_path) as h:
        await to_confirm(h)
        keyboard = h.api.find_button_message(CHAT, "confirm:build")
        for data in ("confirm:build", "risk:3", "accept:1", "rebal:apply:abc", "set:topn:15"):
            h.api.press(stranger, data, chat_id=CHAT, message_id=keyboard)
            await h.run()
        answered = [a.get("text") for a in h.api.answers()[-5:]]
        assert len(answered) == 5 and all(answered)
        assert h.deps.portfolios().count() == 0 and h.deps.users().get(stranger) is None


async def test_huge_texts_get_a_short_reask(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.text("x" * 4096)  # buttons expected
        await h.press("sector:IT")
        await h.press("sector:done")
        for text in ("x" * 4096, "9" * 4096, "$" + "1" * 4095, "1" + " 000" * 1000):
            await h.text(text)
        sends = h.api.calls_of("sendMessage", CHAT)
        assert all(c.status == 200 and len(c.text) < 500 for c in sends)
        assert not any("How much risk" in c.text for c in sends)
