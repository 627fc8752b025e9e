"""The one error handler (bot.handlers.errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.subscriptions import ChatRepository
from tests.bot.fakes import CHAT, FakeEngine, Harness, make_config, make_deps

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def harness(tmp_path: Path, engine: FakeEngine | None = None, **config: object) -> Harness:
    cfg = make_config(tmp_path, **config)
    return Harness(cfg, make_deps(cfg, engine))


async def test_403_during_a_reply_marks_the_chat_unreachable(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.api.inject("sendMessage", "403")
        await h.text("/help")
        assert not ChatRepository(h.deps.db()).is_reachable(CHAT)
        await h.text("/help")  # the user writes again: reachable
        assert ChatRepository(h.deps.db()).is_reachable(CHAT)
