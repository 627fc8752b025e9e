"""The Accept (paper trade) button on a portfolio that is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.views import texts
from tests.bot.fakes import CHAT, USER, FakeEngine, Harness, make_config, make_deps

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def harness(tmp_path: Path, engine: FakeEngine | None = None, **config: object) -> Harness:
    cfg = make_config(tmp_path, **config)
    return Harness(cfg, make_deps(cfg, engine))


async def test_accept_of_a_missing_portfolio_does_not_say_recording(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        h.api.press(USER, "accept:999", message_id=h.api.find_button_message(CHAT, "sector:IT"))
        await h.run()
        assert h.last_answer()["text"] == texts.STALE_BUTTON
        assert not any("Recording" in a.get("text", "") for a in h.api.answers())
