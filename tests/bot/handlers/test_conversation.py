"""The /start conversation through the real Application on an in-process fake Bot API.

The engine is a fake returning a canned report (handler flow only; see tests/e2e for the
real pipeline).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telegram import Update

from bot.views import texts
from bot.views.draft import Draft
from smallq.errors import InfeasibleConstraintsError
from smallq.types import RiskLevel, Sector, Strategy
from tests.bot.fakes import CHAT, TOKEN, USER, FakeEngine, Harness, make_config, make_deps
from tests.e2e.fake_telegram import check_html

STALE = texts.STALE_BUTTON


def harness(tmp_path: Path, engine: FakeEngine | None = None, **config: object) -> Harness:
    cfg = make_config(tmp_path, **config)
    return Harness(cfg, make_deps(cfg, engine))


async def to_capital(h: Harness, sectors: tuple[str, ...] = ("IT", "HC")) -> None:
    await h.text("/start")
    for code in sectors:
        await h.press(f"sector:{code}")
    await h.press("sector:done")


async def to_confirm(h: Harness, capital: str = "10000") -> None:
    await to_capital(h)
    await h.text(capital)
    await h.press("risk:4")
    await h.press("strategy:low_vol")


def draft(h: Harness, user: int = USER) -> Draft | None:
    return Draft.load(h.app.user_data.get(user))


async def test_whole_conversation_builds_stores_and_replies(tmp_path: Path) -> None:
    engine = FakeEngine()
    async with harness(tmp_path, engine) as h:
        await to_confirm(h, "10 000")
        assert "Please check" in h.texts()[-1] and "$10,000.00" in h.texts()[-1]
        await h.press("confirm:build")
        (profile,) = engine.calls
        assert profile.sectors == (Sector.INFORMATION_TECHNOLOGY, Sector.HEALTH_CARE)
        assert profile.capital == 10_000 and profile.risk_level is RiskLevel.GROWTH
        assert profile.strategy is Strategy.LOW_VOL
        result = [t for t in h.texts() if t.startswith("<b>Your portfolio")]
        assert len(result) == 1 and "AAPL" in result[0]
        assert len(h.api.photos_to(CHAT)) == 3
        stored = h.deps.portfolios().latest(USER)
        assert stored is not None and h.deps.users().get_profile(USER) == profile
        last = h.api.calls_of("sendMessage", CHAT)[-1]
        assert last.json("reply_markup")["inline_keyboard"][0][0]["callback_data"] == (
            f"accept:{stored.id}"
        )
        assert draft(h) is None  # the draft is gone once the build is stored
        for text in h.texts():
            check_html(text)


async def test_sector_toggle_marks_and_unmarks(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:FIN")
        await h.press("sector:IT")
        d = draft(h)
        assert d is not None and d.sectors == ["FIN"]
        markup = h.api.calls_of("editMessageReplyMarkup")[-1].json("reply_markup")
        labels = [b["text"] for row in markup["inline_keyboard"] for b in row]
        assert "✓ Financials" in labels and "Information Technology" in labels


async def test_done_without_sectors_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:done")
        assert h.last_answer()["text"] == texts.SECTORS_EMPTY
        await h.text("5000")  # still choosing sectors: text points at the buttons
        assert h.texts()[-1] == texts.USE_BUTTONS
        assert draft(h).capital is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("10,000", 10_000.0), ("10 000", 10_000.0), ("$5000", 5000.0), ("5000 USD", 5000.0)],
)
async def test_capital_accepted(tmp_path: Path, typed: str, expected: float) -> None:
    async with harness(tmp_path) as h:
        await to_capital(h)
        await h.text(typed)
        assert draft(h).capital == expected  # type: ignore[union-attr]
        assert h.texts()[-1] == texts.risk_prompt(None)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("-5000", "positive"),
        ("0", "greater than zero"),
        ("nan", "plain digits"),
        ("inf", "plain digits"),
        ("1e6", "plain digits"),
        ("1_000", "underscores"),
        ("9" * 400, "too long"),
        ("five thousand", "not an amount"),
        ("5000 EUR", "USD"),
    ],
)
async def test_capital_rejected_with_reask(tmp_path: Path, typed: str, reason: str) -> None:
    async with harness(tmp_path) as h:
        await to_capital(h)
        await h.text(typed)
        reply = h.texts()[-1]
        assert reason in reply and texts.CAPITAL_PROMPT in reply
        assert len(reply) < 400  # the 400-digit number is not echoed back
        assert draft(h).capital is None  # type: ignore[union-attr]
        await h.text("2500")  # still at the capital step
        assert draft(h).capital == 2500.0  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice"])
async def test_non_text_at_capital_reasks_and_stores_nothing(tmp_path: Path, kind: str) -> None:
    async with harness(tmp_path) as h:
        await to_capital(h)
        before = dict(h.app.user_data[USER]["draft"])
        h.api.send_other(USER, kind)
        await h.run()
        assert h.texts()[-1] == texts.CAPITAL_NOT_TEXT
        assert h.app.user_data[USER]["draft"] == before


async def test_forged_callback_data_changes_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        keyboard = h.api.find_button_message(CHAT, "sector:IT")
        for forged in ("sector:XX", "sector:", "sector:IT:extra", "risk:9", "confirm:nuke"):
            h.api.press(USER, forged, message_id=keyboard)
            await h.run()
            assert h.last_answer()["text"] == STALE
        assert draft(h).sectors == []  # type: ignore[union-attr]
        assert not h.api.calls_of("editMessageReplyMarkup")


async def test_old_keyboard_asks_the_current_question_again(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        old = h.api.find_button_message(CHAT, "sector:IT")
        await h.text("/start")  # starts over cleanly
        h.api.press(USER, "sector:IT", message_id=old)
        await h.run()
        assert h.last_answer()["text"] == texts.STALE_REASKED
        assert draft(h).sectors == []  # type: ignore[union-attr]
        live = h.api.find_button_message(CHAT, "sector:IT")
        assert live > old and draft(h).message_id == live  # type: ignore[union-attr]
        await h.press("sector:IT")  # the new keyboard works
        assert draft(h).sectors == ["IT"]  # type: ignore[union-attr]


async def test_start_in_a_group_links_to_the_private_chat(tmp_path: Path) -> None:
    group = -500
    async with harness(tmp_path) as h:
        h.api.send_text(USER, "/start", chat_id=group)
        await h.run()
        (call,) = h.api.calls_of("sendMessage", group)
        (button,) = call.json("reply_markup")["inline_keyboard"][0]
        assert button["url"] == "https://t.me/smallq_test_bot?start=build"
        assert draft(h) is None  # no questions in the group: typed answers never arrive
        await h.text("/start build")  # the deep link's /start in the private chat
        assert draft(h) is not None


async def test_old_button_after_conversation_ended(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        summary = h.api.find_button_message(CHAT, "confirm:build")
        await h.press("confirm:build")
        for data in ("confirm:build", "risk:2", "sector:IT"):  # a late tap on an old message
            h.api.press(USER, data, message_id=summary)
            await h.run()
            assert h.last_answer()["text"] == STALE
        assert h.deps.portfolios().count(USER) == 1


async def test_edited_message_after_accepted_answer_is_ignored(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_capital(h)
        await h.text("5000")
        sent = len(h.api.calls)
        typed = max(mid for (chat, mid), m in h.api.messages.items() if m.get("text") == "5000")
        h.api.edit_text(USER, typed, "9000")
        await h.run()
        assert draft(h).capital == 5000.0  # type: ignore[union-attr]
        assert len(h.api.calls) == sent  # no reply at all
        h.api.edit_text(USER, typed, "/start")  # an edit into a command is ignored too
        await h.run()
        assert len(h.api.calls) == sent


@pytest.mark.parametrize("step", ["sectors", "capital", "risk", "strategy", "confirm"])
async def test_cancel_at_every_step(tmp_path: Path, step: str) -> None:
    engine = FakeEngine()
    async with harness(tmp_path, engine) as h:
        await h.text("/start")
        if step != "sectors":
            await h.press("sector:IT")
            await h.press("sector:done")
        if step in ("risk", "strategy", "confirm"):
            await h.text("5000")
        if step in ("strategy", "confirm"):
            await h.press("risk:3")
        if step == "confirm":
            await h.press("strategy:momentum")
        await h.text("/cancel")
        assert h.texts()[-1] == texts.CANCELLED and draft(h) is None
        await h.text("/cancel")  # outside the conversation now
        assert h.texts()[-1] == texts.NOTHING_TO_CANCEL
        assert not engine.calls


async def test_cancel_button_at_confirmation(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        await h.press("confirm:cancel")
        assert h.api.calls_of("editMessageText")[-1].params["text"] == texts.CANCELLED
        assert draft(h) is None


async def test_edit_returns_to_sectors_with_answers_kept(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        await h.press("confirm:edit")
        d = draft(h)
        assert d is not None and d.sectors == ["IT", "HC"] and d.capital == 10_000
        await h.press("sector:HC")
        await h.press("sector:done")
        assert "last time $10,000.00" in h.texts()[-1]


async def test_text_at_confirmation_shows_summary_again(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await to_confirm(h)
        await h.text("ok?")
        assert "Please check" in h.texts()[-1]
        await h.press("confirm:build")  # the new summary's buttons are the live ones
        assert any(t.startswith("<b>Your portfolio") for t in h.texts())


async def test_double_tap_on_build_gives_one_result(tmp_path: Path) -> None:
    engine = FakeEngine(delay_s=0.3)
    async with harness(tmp_path, engine) as h:
        await to_confirm(h)
        h.api.press(USER, "confirm:build")
        h.api.press(USER, "confirm:build")
        first, second = (Update.de_json(u, h.app.bot) for u in h.api.pop_updates())
        await asyncio.gather(h.app.process_update(first), h.app.process_update(second))
        assert len(engine.calls) == 1
        assert len([t for t in h.texts() if t.startswith("<b>Your portfolio")]) == 1
        assert {a.get("text") for a in h.api.answers()[-2:]} == {texts.BUSY, texts.BUILDING}
        assert h.deps.portfolios().count(USER) == 1


async def test_engine_error_message_keeps_buttons_live(tmp_path: Path) -> None:
    error = InfeasibleConstraintsError(
        "max_weight", "3 stocks at most 25% cover 75%", "Add stocks."
    )
    engine = FakeEngine(error=error)
    async with harness(tmp_path, engine) as h:
        await to_confirm(h)
        await h.press("confirm:build")
        assert h.texts()[-1] == error.user_message()
        assert h.deps.portfolios().count() == 0
        engine.error = None
        await h.press("confirm:build")  # same summary, still live
        assert any(t.startswith("<b>Your portfolio") for t in h.texts())


async def test_unexpected_error_apologises_and_notifies_admin(tmp_path: Path) -> None:
    engine = FakeEngine(error=RuntimeError("boom " + TOKEN))
    async with harness(tmp_path, engine, admin_chat_id=999) as h:
        await to_confirm(h)
        await h.press("confirm:build")
        assert h.texts()[-1] == texts.APOLOGY
        (notice,) = h.api.texts_to(999)
        assert "RuntimeError" in notice and "boom" in notice
        assert "unit_test_token" not in notice  # the token is redacted
