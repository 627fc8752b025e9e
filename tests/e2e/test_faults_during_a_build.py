"""Faults while a build runs, over HTTP with a fake engine: timeouts, 403s, /start again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.fakes import make_deps
from tests.e2e.fake_telegram import FakeTelegramServer
from tests.e2e.harness import TOKEN, Chatter, e2e_config, running_bot, settle

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def test_timeout_during_build_still_delivers_the_result(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    api = server.api
    config = e2e_config(tmp_path, server, request_timeout_s=0.5)
    async with running_bot(config, make_deps(config)):
        user = Chatter(api, 5101, timeout=10)
        await user.answer_questions(sectors=("IT",), capital="10000")
        api.inject("editMessageReplyMarkup", "timeout", delay=1.0)  # Build removes the buttons
        await user.tap("confirm:build", wait_answer=False)
        user.timeout = 3.0  # the fake engine answers at once
        try:
            await user.wait_result()
        except AssertionError:
            pass
        await settle(0.3)
    assert api.calls_of("editMessageReplyMarkup", 5101)[-1].fault == "timeout"
    assert len(user.results()) == 1 and len(user.photos()) == 3


async def test_403_during_result_photos_hurts_nobody_else(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    api = server.api
    config = e2e_config(tmp_path, server)
    api.inject("sendMediaGroup", "403", times=10, when=lambda c: c.chat_id == 5201)
    async with running_bot(config, make_deps(config)):
        blocked, other = Chatter(api, 5201, timeout=10), Chatter(api, 5202, timeout=10)
        await asyncio.gather(blocked.answer_questions(), other.answer_questions())
        await blocked.tap("confirm:build", wait_answer=False)
        await other.tap("confirm:build", wait_answer=False)
        await other.wait_result()
        await api.wait_for(lambda: bool(api.calls_of("sendMediaGroup", 5201)), 10)
        await settle(0.3)
        blocked.say("/portfolio")  # unblocked later: the stored build is there
        await api.wait_for(
            lambda: any(t.startswith("<b>Your portfolio of") for t in api.texts_to(5201)), 10
        )
    built = [t for t in blocked.results() if t.startswith("<b>Your portfolio</b>")]
    assert len(built) == 1 and blocked.photos() == []
    assert len(api.calls_of("sendMediaGroup", 5201)) == 1  # gave up after the 403, no retries
    assert not any("Sorry" in t for t in api.texts_to(5201) + api.texts_to(5202))


async def test_start_during_a_running_build_waits_then_starts_over(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    from tests.bot.fakes import FakeEngine

    api = server.api
    config = e2e_config(tmp_path, server)
    engine = FakeEngine(delay_s=1.0)
    async with running_bot(config, make_deps(config, engine)):
        user = Chatter(api, 5301, timeout=10)
        await user.answer_questions()
        await user.tap("confirm:build", wait_answer=False)
        await api.wait_for(lambda: bool(engine.calls), 5)
        user.say("/start")  # while the engine runs
        await user.wait_result()
        await api.wait_for(lambda: api.texts_to(5301)[-1].startswith("Hi"), 5)
        await user.tap("sector:HC")  # the new questions work
    assert len(engine.calls) == 1 and len(user.results()) == 1
    texts = api.texts_to(5301)
    result = next(i for i, t in enumerate(texts) if t.startswith("<b>Your portfolio"))
    assert texts[-1].startswith("Hi") and len(texts) - 1 > result  # welcome after the result
