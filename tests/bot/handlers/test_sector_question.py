"""The sector question: stock counts from the data, hidden empty sectors, Done refusing at once.

The source is a small in-memory one: Energy 2 stocks, Health Care 8, Financials 4, nothing
else. The most careful risk level (max 15% per stock) needs 7 stocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bot.views import texts
from bot.views.draft import Draft
from smallq.data.memory import FrameSource
from smallq.profile import make_profile
from tests.bot.fakes import CHAT, USER, Harness, make_config, make_deps
from tests.e2e.fake_telegram import check_html

SECTORS = {"Energy": 2, "Health Care": 8, "Financials": 4}


class CountingSource(FrameSource):
    """A FrameSource that counts how often its company table is read."""

    def __init__(self) -> None:
        tickers = [f"{s[:2].upper()}{i}" for s, n in SECTORS.items() for i in range(n)]
        sectors = [s for s, n in SECTORS.items() for _ in range(n)]
        dates = pd.bdate_range("2022-01-03", periods=30)
        prices = pd.DataFrame(
            np.linspace(10, 11, 30)[:, None].repeat(len(tickers), 1), dates, tickers
        )
        companies = pd.DataFrame({"ticker": tickers, "name": tickers, "sector": sectors})
        super().__init__(prices, prices.mean(axis=1), companies, name="counting")


def harness(tmp_path: Path, source: CountingSource) -> Harness:
    cfg = make_config(tmp_path)
    return Harness(cfg, make_deps(cfg, source=lambda: source))


def labels(markup: dict[str, Any]) -> list[str]:
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


async def test_the_keyboard_shows_counts_and_hides_empty_sectors(tmp_path: Path) -> None:
    source = CountingSource()
    async with harness(tmp_path, source) as h:
        await h.text("/start")
        shown = labels(h.api.calls_of("sendMessage", CHAT)[-1].json("reply_markup"))
        assert shown[:3] == ["Health Care (8)", "Financials (4)", "Energy (2)"]
        assert not any("Utilities" in b or "Information Technology" in b for b in shown)
        assert texts.SECTORS_COUNTS_HINT in h.texts()[-1]
        await h.press("sector:EN")
        edited = labels(h.api.calls_of("editMessageReplyMarkup")[-1].json("reply_markup"))
        assert "✓ Energy (2)" in edited
    assert source.calls["companies"] == 1  # asked once, then cached


async def test_done_refuses_at_once_and_says_what_to_add(tmp_path: Path) -> None:
    async with harness(tmp_path, CountingSource()) as h:
        # a saved 15% max weight: without it the risk levels raise their cap to 1/n and any
        # choice with a stock can be built
        saved = make_profile(sectors="Energy", capital=10_000.0, max_weight=0.15)
        h.deps.users().save_profile(USER, saved)
        await h.text("/start")
        await h.press("sector:EN")
        await h.press("sector:FIN")
        await h.press("sector:done")
        assert h.last_answer()["text"] == texts.SECTORS_TOO_FEW_SHORT
        refusal = h.texts()[-1]
        check_html(refusal)
        assert "6 stocks in the data" in refusal  # Energy 2 + Financials 4
        assert "risk levels 1, 2, 3, 4, 5 need at least 7" in refusal  # one cap for all
        assert "at least 1 more stock, for example Health Care (8 stocks)" in refusal
        draft = Draft.load(h.app.user_data.get(USER))
        assert draft is not None and draft.capital is None  # still on the sector question
        await h.press("sector:HC")  # the keyboard is still live
        await h.press("sector:done")
        assert h.texts()[-1].startswith(texts.CAPITAL_PROMPT)


async def test_a_source_without_companies_shows_every_sector(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with Harness(cfg, make_deps(cfg)) as h:  # FakeSource lists no companies
        await h.text("/start")
        shown = labels(h.api.calls_of("sendMessage", CHAT)[-1].json("reply_markup"))
        assert "Utilities" in shown and "Information Technology" in shown
        await h.press("sector:EN")
        await h.press("sector:done")
        assert h.texts()[-1].startswith(texts.CAPITAL_PROMPT)
