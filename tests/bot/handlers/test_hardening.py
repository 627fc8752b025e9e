"""Issue #13: each defect found by hostile use, through the real Application on the fake API.

Every test here fails on the code before the fix (the comment names what broke).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.error import TimedOut

from bot.handlers.conversation import CONVERSATION_NAME, State
from bot.scheduler.digest import DigestBuilder
from bot.scheduler.dispatch import BROADCAST, BROADCAST_TIMED_OUT, DeliveryTarget
from bot.scheduler.jobs import dispatcher_for
from bot.services.portfolio import BacktestOutcome
from bot.views import texts
from bot.views.draft import Draft
from smallq.errors import DatabaseLockedError
from storage.conversations import BotStateRepository
from storage.deliveries import DeliveryRepository
from storage.subscriptions import ChatRepository, ScheduleRepository
from tests.bot.fakes import CHAT, USER, FakeEngine, Harness, make_config, make_deps, tiny_png

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

GROUP = -100777
MEMBER, ADMIN = 3003, 4004
NOW = datetime(2023, 1, 2, 12, 0, tzinfo=UTC)


@dataclass
class FakeBacktest:
    """``run_backtest`` stand-in recording its windows."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, profile: object, source: object, **kw: Any) -> BacktestOutcome:
        self.calls.append(kw)
        return BacktestOutcome("CAGR 7.1%", kw["start"], kw["end"], {"equity": tiny_png()})


def harness(tmp_path: Path, engine: FakeEngine | None = None, **deps_kw: Any) -> Harness:
    cfg = make_config(tmp_path, admin_chat_id=-999)
    return Harness(cfg, make_deps(cfg, engine, **deps_kw))


async def build(h: Harness, user: int = USER) -> None:
    await h.text("/start", user)
    await h.press("sector:IT", user)
    await h.press("sector:done", user)
    await h.text("10000", user)
    await h.press("risk:3", user)
    await h.press("strategy:momentum", user)
    await h.press("confirm:build", user)


async def in_group(h: Harness, user: int, text: str) -> None:
    h.api.send_text(user, text, chat_id=GROUP)
    await h.run()


def no_apology(h: Harness, *chats: int) -> bool:
    return not any(texts.APOLOGY in t for chat in chats for t in h.texts(chat))


# ----------------------------------------------------------------------------------- §1
@pytest.mark.parametrize("zone", ["Europe", "America", "x" * 300, "../etc", "Europe/"])
async def test_subscribe_with_a_bad_zone_is_refused(tmp_path: Path, zone: str) -> None:
    # before: IsADirectoryError / OSError escaped ZoneInfo -> "Sorry, something went wrong"
    async with harness(tmp_path) as h:
        await h.text(f"/subscribe weekly mon 09:00 {zone}")
        assert "Unknown time zone" in h.texts()[-1] and len(h.texts()[-1]) < 300
        assert no_apology(h, CHAT) and ScheduleRepository(h.deps.db()).get(USER, "digest") is None


@pytest.mark.parametrize("arg", ["²", "②", "١٢", "31", "0", "-3", "3 4", "99999999999999999999"])
async def test_backtest_years_are_ascii_1_to_30(tmp_path: Path, arg: str) -> None:
    # before: "²".isdigit() then int("²") -> ValueError; "31" silently ran 5 years
    backtest = FakeBacktest()
    async with harness(tmp_path, run_backtest=backtest) as h:
        await build(h)
        await h.text(f"/backtest {arg}")
        assert h.texts()[-1] == texts.BACKTEST_USAGE and backtest.calls == []
        await h.text("/backtest 30")
        assert (backtest.calls[0]["end"] - backtest.calls[0]["start"]).days == 10958


@pytest.mark.parametrize("arg", ["²", "②①", "99999999999999999999", "1 2", "-1", "1e3"])
async def test_link_argument_is_ascii_digits(tmp_path: Path, arg: str) -> None:
    # before: ValueError for "²", "②①"; OverflowError in SQLite for 20 digits
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, ADMIN)] = "administrator"
        await in_group(h, ADMIN, f"/link {arg}")
        assert "/link &lt;portfolio id&gt;" in h.texts(GROUP)[-1]
        assert no_apology(h, GROUP) and ChatRepository(h.deps.db()).links() == []


@pytest.mark.parametrize(
    "data", ["accept:²", "accept:" + "9" * 25, "accept:", "unknown:1", "x" * 64, "rebal:"]
)
async def test_every_forged_button_is_answered(tmp_path: Path, data: str) -> None:
    # before: accept:² crashed (spinner left); unknown data matched no handler (never answered)
    async with harness(tmp_path) as h:
        await h.text("/help")
        h.api.press(USER, data, message_id=h.api.calls_of("sendMessage")[-1].result["message_id"])
        await h.run()
        assert h.api._pending_callbacks == set()  # answered
        assert h.last_answer()["text"] == texts.STALE_BUTTON
        assert no_apology(h, CHAT)


# ----------------------------------------------------------------------------------- §2
async def test_error_replies_quote_a_short_excerpt(tmp_path: Path) -> None:
    # before: the whole 4,000-character value was quoted and Telegram refused the reply
    async with harness(tmp_path) as h:
        for command in (
            "/subscribe weekly mon 09:00 " + "Z" * 4000,
            "/subscribe weekly " + "m" * 4000 + " 09:00",
            "/alerts set var " + "9" * 4000,
            "/alerts set " + "v" * 4000 + " 3",
        ):
            await h.text(command)
            call = h.api.calls_of("sendMessage", CHAT)[-1]
            assert call.status == 200 and len(call.text) < 400


async def test_bad_request_gets_an_apology_and_an_admin_notice(tmp_path: Path) -> None:
    # before: BadRequest subclasses NetworkError and was only logged as a network problem
    async with harness(tmp_path) as h:
        h.api.inject("sendMessage", "400", when=lambda c: c.chat_id == CHAT and "/start" in c.text)
        await h.text("/help")
        assert h.texts()[-1] == texts.APOLOGY
        assert "BadRequest" in h.texts(-999)[-1]


async def test_failed_broadcast_tells_its_sender(tmp_path: Path) -> None:
    # before: a refused broadcast was "Queued" and the sender never heard of it again
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, ADMIN)] = "administrator"
        await in_group(h, ADMIN, "/link")
        await h.text("/broadcast hello", ADMIN)
        h.api.inject("sendMessage", "403", when=lambda c: c.chat_id == GROUP)
        dispatcher = dispatcher_for(h.app)
        dispatcher.clock = lambda: NOW
        await dispatcher.tick()
        assert "was not delivered" in h.texts(ADMIN)[-1] and str(GROUP) in h.texts(ADMIN)[-1]


async def test_timed_out_broadcast_is_not_sent_twice(tmp_path: Path) -> None:
    # before: the timed-out part was retried and arrived twice (the README's one window)
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, ADMIN)] = "administrator"
        await in_group(h, ADMIN, "/link")
        await h.text("/broadcast hello", ADMIN)
        dispatcher = dispatcher_for(h.app)
        dispatcher.clock = lambda: NOW

        real = dispatcher.sender.send

        async def accepted_then_timeout(chat_id: int, message: Any) -> int | None:
            if chat_id != GROUP:
                return await real(chat_id, message)
            h.api.store_bot_message(chat_id, text=message.text)  # Telegram accepted it...
            raise TimedOut  # ...and its answer never came

        dispatcher.sender.send = accepted_then_timeout  # type: ignore[method-assign]
        await dispatcher.tick()
        dispatcher.sender.send = real  # type: ignore[method-assign]
        dispatcher.clock = lambda: NOW.replace(hour=13)
        await dispatcher.tick()
        (record,) = DeliveryRepository(h.deps.db()).records(kind=BROADCAST)
        assert record.status == "failed" and record.reason == BROADCAST_TIMED_OUT
        assert not [t for t in h.texts(GROUP) if t.startswith("📣")]  # no second send
        assert "may or may not have arrived" in h.texts(ADMIN)[-1]


async def test_broadcast_given_up_while_the_database_stays_locked_tells_its_sender(
    tmp_path: Path,
) -> None:
    # before: each attempt got a 5xx and then found the database locked, so nothing was
    # recorded; the fourth lease gave up on the broadcast and its sender never heard of it
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, ADMIN)] = "administrator"
        await in_group(h, ADMIN, "/link")
        await h.text("/broadcast hello", ADMIN)
        h.api.inject("sendMessage", "500", times=3, when=lambda c: c.chat_id == GROUP)
        dispatcher = dispatcher_for(h.app)
        dispatcher.settings = replace(dispatcher.settings, lock_wait_s=0.1)
        real, holders = dispatcher.sender.send, list[sqlite3.Connection]()

        async def then_locked(chat_id: int, message: Any) -> int | None:
            try:
                return await real(chat_id, message)
            finally:  # another process takes the write lock before the answer is recorded
                if chat_id == GROUP:
                    holders.append(sqlite3.connect(str(h.deps.config.db_path)))
                    holders[-1].execute("BEGIN IMMEDIATE")

        dispatcher.sender.send = then_locked  # type: ignore[method-assign]
        for hour in (13, 14, 15, 16):
            dispatcher.clock = lambda hour=hour: NOW.replace(hour=hour)
            if hour < 16:
                with pytest.raises(DatabaseLockedError):
                    await dispatcher.tick()
                holders.pop().close()
            else:
                await dispatcher.tick()
        told = [t for t in h.texts(ADMIN) if "was not delivered" in t]
        assert len(told) == 1 and "gave up after 3 attempts" in told[0] and str(GROUP) in told[0]
        assert not [t for t in h.texts(GROUP) if t.startswith("📣")]
        (record,) = DeliveryRepository(h.deps.db()).records(kind=BROADCAST)
        assert record.status == "failed"
        dispatcher.clock = lambda: NOW.replace(hour=17)
        await dispatcher.tick()
        assert len([t for t in h.texts(ADMIN) if "was not delivered" in t]) == 1


# ----------------------------------------------------------------------------------- §3
async def test_group_delete_acts_only_for_who_asked(tmp_path: Path) -> None:
    # before: admin A's "Yes" erased A's data and told M that M's data was gone
    async with harness(tmp_path) as h:
        await build(h, MEMBER)
        await build(h, ADMIN)
        await in_group(h, MEMBER, "/delete")
        keyboard = h.api.find_button_message(GROUP, f"delete:yes@{MEMBER}")
        h.api.press(ADMIN, f"delete:yes@{MEMBER}", chat_id=GROUP, message_id=keyboard)
        await h.run()
        assert h.last_answer()["text"] == texts.NOT_YOURS
        assert h.deps.users().get(ADMIN) is not None and h.deps.users().get(MEMBER) is not None
        h.api.press(MEMBER, f"delete:yes@{MEMBER}", chat_id=GROUP, message_id=keyboard)
        await h.run()
        assert h.deps.users().get(MEMBER) is None and h.deps.users().get(ADMIN) is not None


async def test_group_settings_buttons_act_only_for_who_asked(tmp_path: Path) -> None:
    # before: another user's tap changed the presser's own profile
    async with harness(tmp_path) as h:
        await build(h, MEMBER)
        await build(h, ADMIN)
        before = h.deps.users().get_profile(ADMIN)
        await in_group(h, MEMBER, "/settings")
        data = f"set:topn:15@{MEMBER}"
        keyboard = h.api.find_button_message(GROUP, data)
        h.api.press(ADMIN, data, chat_id=GROUP, message_id=keyboard)
        await h.run()
        assert h.last_answer()["text"] == texts.NOT_YOURS
        assert h.deps.users().get_profile(ADMIN) == before
        h.api.press(ADMIN, "set:topn:15", chat_id=GROUP, message_id=keyboard)  # owner stripped
        await h.run()
        assert h.last_answer()["text"] == texts.NOT_YOURS
        assert h.deps.users().get_profile(ADMIN) == before


async def test_broadcast_rechecks_admin_rights(tmp_path: Path) -> None:
    # before: rights were checked once, at /link; a demoted linker could still broadcast
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, MEMBER)] = "administrator"
        await in_group(h, MEMBER, "/link")
        h.api.chat_members[(GROUP, MEMBER)] = "member"  # demoted
        await h.text("/broadcast still here?", MEMBER)
        assert "No linked chat" in h.texts(MEMBER)[-1]
        assert DeliveryRepository(h.deps.db()).records(kind=BROADCAST) == []


async def test_digest_rechecks_the_linkers_rights(tmp_path: Path) -> None:
    # before: the digest kept going out on the authority of a banned linker
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, MEMBER)] = "administrator"
        await in_group(h, MEMBER, "/link")
        asked: list[tuple[int, int]] = []

        async def banned(chat_id: int, user_id: int) -> bool:
            asked.append((chat_id, user_id))
            return False

        builder = DigestBuilder(h.deps, banned)
        target = DeliveryTarget(1, GROUP, "digest", "2023-W01", NOW, None, None)
        assert await builder(target) == []
        assert asked == [(GROUP, MEMBER)] and ChatRepository(h.deps.db()).links() == []


async def test_delete_erases_the_users_chat_links(tmp_path: Path) -> None:
    # before: the erased user's id stayed in chat_links and they could still broadcast
    async with harness(tmp_path) as h:
        await build(h, MEMBER)
        h.api.chat_members[(GROUP, MEMBER)] = "administrator"
        await in_group(h, MEMBER, "/link")
        await h.text("/delete", MEMBER)
        await h.press(f"delete:yes@{MEMBER}", MEMBER)
        rows = h.deps.db().execute("SELECT count(*) FROM chat_links WHERE linked_by = ?",
                                   (MEMBER,)).fetchone()[0]  # fmt: skip
        assert rows == 0 and ChatRepository(h.deps.db()).links() == []
        await h.text("/broadcast hi", MEMBER)
        assert "No linked chat" in h.texts(MEMBER)[-1]


# ----------------------------------------------------------------------------------- §4
async def test_a_second_build_tap_after_a_crash_resends_the_stored_build(tmp_path: Path) -> None:
    # before: the draft and state survived the crash, so the same Build built twice
    engine = FakeEngine()
    async with harness(tmp_path, engine) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")
        await h.text("10000")
        await h.press("risk:3")
        await h.press("strategy:momentum")
        summary = h.api.find_button_message(CHAT, "confirm:build")
        saved = dict(h.app.user_data[USER])
        await h.press("confirm:build")
        # a SIGKILL mid-send: the stored draft and state are those from before the build
        h.app.user_data[USER].update(saved)
        conversation = h.app.handlers[0][0]
        conversation._conversations[(CHAT, USER)] = State.CONFIRM  # type: ignore[attr-defined]
        h.api.press(USER, "confirm:build", message_id=summary)
        await h.run()
        assert h.last_answer()["text"] == texts.RESENDING
        assert h.deps.portfolios().count(USER) == 1 and len(engine.calls) == 1
        results = [t for t in h.texts() if t.startswith("<b>Your portfolio</b>")]
        assert len(results) == 2 and len(h.api.photos_to(CHAT)) == 6  # result and charts again


async def test_each_answer_is_saved_when_given(tmp_path: Path) -> None:
    # before: answers reached SQLite only on the 5 s flush (60 s in these tests)
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")
        await h.text("10000")
        state = BotStateRepository(h.deps.db())
        stored = Draft.load(state.all_user_data()[USER])
        assert stored is not None and stored.capital == 10_000 and stored.sectors == ["IT"]
        assert state.conversations(CONVERSATION_NAME)[(CHAT, USER)] == State.RISK


async def test_throttle_answers_dropped_presses_and_asks_to_resend_text(tmp_path: Path) -> None:
    # before: the 12th quick tap kept spinning and a dropped "10000" was lost silently
    cfg = make_config(tmp_path, throttle_burst=1, throttle_rate=0.001)
    async with Harness(cfg, make_deps(cfg)) as h:
        processor = h.app.update_processor

        async def feed() -> None:
            for payload in h.api.pop_updates():
                update = Update.de_json(payload, h.app.bot)
                await processor.process_update(update, h.app.process_update(update))

        h.api.send_text(USER, "/start")
        await feed()
        h.api.press(USER, "sector:IT")
        h.api.send_text(USER, "10000")
        h.api.send_text(USER, "10000")
        await feed()
        assert h.last_answer()["text"].startswith("Slow down")
        resend = [t for t in h.texts() if "send it again" in t]
        assert len(resend) == 1  # once, not for every dropped message


async def test_alerts_drift_error_names_drift(tmp_path: Path) -> None:
    # before: "var must be between ..." for /alerts set drift 0
    async with harness(tmp_path) as h:
        await h.text("/alerts set drift 0")
        assert h.texts()[-1].startswith("drift must be between")
        await h.text("/alerts set drift 4%")
        assert not h.texts()[-1].startswith("drift must")


@pytest.mark.parametrize("minus", ["\u2212", "\u2013", "\uff0d"])
async def test_broadcast_with_a_unicode_minus_is_a_bad_chat_id(tmp_path: Path, minus: str) -> None:
    # before: "−100 hi" was not a chat id, so it went to every linked chat as text
    async with harness(tmp_path) as h:
        h.api.chat_members[(GROUP, ADMIN)] = "administrator"
        await in_group(h, ADMIN, "/link")
        await h.text(f"/broadcast {minus}100 hi", ADMIN)
        assert h.texts(ADMIN)[-1].startswith("That is not a chat id")
        assert DeliveryRepository(h.deps.db()).records(kind=BROADCAST) == []


# ----------------------------------------------------------------------------------- §5
async def test_subscribe_by_buttons(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/subscribe")
        await h.press("sub:monthly")
        await h.press("sub:monthly:15")
        await h.press("sub:monthly:15:1800")
        schedule = ScheduleRepository(h.deps.db()).get(USER, "digest")
        assert schedule is not None and schedule.active
        assert (schedule.frequency, schedule.day, schedule.local_time) == ("monthly", 15, "18:00")
        edit = h.api.calls_of("editMessageText")[-1]
        assert edit.status == 200 and edit.text.startswith("Subscribed")
        message_id = edit.json("message_id")
        for forged in ("sub:weekly:7", "sub:monthly:0", "sub:weekly:1:2460", "sub:yearly"):
            h.api.press(USER, forged, message_id=message_id)
            await h.run()
            assert h.last_answer()["text"] == texts.STALE_BUTTON


async def test_a_second_tap_on_a_subscribe_step_edits_nothing_and_sends_nothing(
    tmp_path: Path,
) -> None:
    # before: the second "Weekly" tap re-sent the identical "Which day?" edit, Telegram refused
    # it ("message is not modified") and the bot posted the question again as a new message
    async with harness(tmp_path) as h:
        await h.text("/subscribe")
        await h.press("sub:weekly")
        edit = h.api.calls_of("editMessageText")[-1]
        assert edit.status == 200 and edit.text == "Which day?"
        edits = len(h.api.calls_of("editMessageText"))
        sent = len(h.api.calls_of("sendMessage"))
        await h.press("sub:weekly", message_id=edit.json("message_id"))
        assert len(h.api.calls_of("editMessageText")) == edits
        assert len(h.api.calls_of("sendMessage")) == sent
        assert not [c for c in h.api.calls if c.status >= 400]


async def test_the_numbers_go_out_before_the_charts_and_survive_a_chart_failure(
    tmp_path: Path,
) -> None:
    """A build's text is sent first and its charts drawn in a second job; when drawing fails
    the build stays stored and its numbers delivered (no apology for a stored result)."""
    drawn: list[tuple[str, ...]] = []

    def failing_charts(report: object, names: tuple[str, ...]) -> dict[str, bytes]:
        drawn.append(names)
        from smallq.errors import WorkerCrashedError

        raise WorkerCrashedError("charts_job")

    h = harness(tmp_path, render_charts=failing_charts)
    async with h:
        await build(h)
        assert [t for t in h.texts() if t.startswith("<b>Your portfolio")]
        assert drawn == [("allocation", "frontier", "risk_contributions")]
        assert not h.api.photos_to(CHAT)
        assert h.deps.portfolios().latest(USER) is not None
        assert no_apology(h, CHAT)
