"""The /start conversation under faults: network errors, timeouts, failed stores, deletes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.handlers import replies
from bot.views import texts
from smallq.errors import DatabaseLockedError
from storage.portfolios import PortfolioRepository
from tests.bot.fakes import CHAT, USER, FakeEngine, Harness, make_config, make_deps

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


async def test_delete_mid_conversation_erases_the_conversation_row(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")  # state CAPITAL, not flushed yet (interval 60 s)
        await h.text("/delete")
        await h.press(f"delete:yes@{USER}")
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


async def test_a_5xx_on_the_result_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies, "RETRY_DELAY_S", 0.0)
    async with harness(tmp_path) as h:
        await to_confirm(h)
        h.api.inject(
            "sendMessage", "500", when=lambda c: c.params.get("text", "").startswith(RESULT)
        )
        await h.press("confirm:build")
        assert h.texts()[-1].startswith(RESULT)  # the second attempt arrived
        assert h.texts()[-1] != texts.RESULT_NOT_DELIVERED


async def test_network_error_on_the_result_points_to_portfolio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies, "RETRY_DELAY_S", 0.0)
    async with harness(tmp_path) as h:
        await to_confirm(h)
        h.api.inject(
            "sendMessage", "500", times=replies.SEND_ATTEMPTS,
            when=lambda c: c.params.get("text", "").startswith(RESULT),
        )  # fmt: skip
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
        await h.press(f"delete:no@{USER}")
        await h.text("10000")  # still the capital question
        assert h.texts()[-1] == texts.risk_prompt(None)


async def test_buttons_of_a_deleted_user_change_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        summary = h.api.find_button_message(CHAT, "confirm:build")
        await h.press("confirm:build")
        record = h.deps.portfolios().latest(USER)
        assert record is not None
        await h.text("/delete")
        await h.press(f"delete:yes@{USER}")
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
