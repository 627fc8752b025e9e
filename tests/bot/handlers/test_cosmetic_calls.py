"""Cosmetic Bot API calls under load: queued behind others, replaced when obsolete, in order.

The application's limiter is swapped for a slow one (one request per 0.3 s) after /start,
so every later request waits its turn, as under load; then a quick user's calls are checked.
"""

from __future__ import annotations

from pathlib import Path

from telegram.constants import ChatAction

from bot.context import BotContext
from bot.handlers.replies import send_html, show_action
from bot.ptb.ratelimit import URGENT, PriorityRateLimiter
from tests.bot.fakes import CHAT, USER, Harness, make_config, make_deps


def slow_limiter(h: Harness) -> PriorityRateLimiter:
    limiter = PriorityRateLimiter(overall_max_rate=1, overall_time_period=0.3)
    h.app.bot._rate_limiter = limiter
    return limiter


async def test_a_tick_still_waiting_is_replaced_by_the_next_question(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Harness(config, make_deps(config)) as h:
        await h.text("/start")
        limiter = slow_limiter(h)
        await h.app.bot.send_message(CHAT + 1, "another user's message")  # bucket empty now
        first = len(h.api.calls)
        for data in ("sector:IT", "sector:HC", "sector:done"):  # handled before any is sent
            h.api.press(USER, data)
        await h.run()
        calls = [c.method for c in h.api.calls[first:] if c.chat_id == CHAT]
    # the HC tick replaced the waiting IT tick, and the amount question replaced the HC tick
    assert calls == ["editMessageText"]
    assert limiter.superseded == 2
    assert "How much" in h.shown()[-1]


async def test_typing_still_waiting_when_its_message_goes_is_dropped(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Harness(config, make_deps(config)) as h:
        slow_limiter(h)
        await h.app.bot.send_message(CHAT + 1, "another user's message")
        context = BotContext(h.app)
        await show_action(context, CHAT, ChatAction.TYPING)
        await send_html(context, CHAT, "the answer", rate=URGENT)
        await h.run()
    assert not h.api.calls_of("sendChatAction", CHAT)
    assert h.texts() == ["the answer"]


async def test_without_load_ticks_and_typing_are_sent(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Harness(config, make_deps(config)) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await show_action(BotContext(h.app), CHAT, ChatAction.TYPING)
        await h.run()
    assert len(h.api.calls_of("editMessageReplyMarkup", CHAT)) == 1
    assert len(h.api.calls_of("sendChatAction", CHAT)) == 1
