"""The risk question: each level in money, the two "Help me choose" questions, the result line.

The level table comes from a fake ``compare_levels`` with known figures, so the money amounts
are checked by hand; the engine side of the table is tested in tests/smallq/test_levels.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pandas as pd

from bot.views import texts
from smallq.errors import InfeasibleConstraintsError
from smallq.levels import LevelComparison, LevelOutcome
from smallq.models import OutOfSampleRecord, Profile, Report, RiskPlacement
from smallq.presentation import present_portfolio
from smallq.profile import make_profile
from smallq.types import Objective, RiskLevel, Sector
from tests.bot.fakes import CHAT, USER, FakeEngine, Harness, make_config, make_deps, make_report
from tests.e2e.fake_telegram import check_html

#: (1-day VaR, 2008 return) per level
FIGURES = ((0.010, -0.20), (0.013, -0.26), (0.016, -0.33), (0.020, -0.38), (0.024, -0.45))


@dataclass
class FakeLevels:
    """``compare_levels`` stand-in with known figures; records the profiles it saw."""

    error: Exception | None = None
    calls: list[Profile] = field(default_factory=list)

    def __call__(self, profile: Profile, source: object, **_: object) -> LevelComparison:
        self.calls.append(profile)
        if self.error is not None:
            raise self.error
        weights = pd.Series({"AAPL": 0.5, "JNJ": 0.5})
        outcomes = tuple(
            LevelOutcome(
                level=level,
                fraction=(int(level) - 1) / 4,
                weights=weights,
                objective_used=Objective.EFFICIENT_RISK,
                expected_return=0.1,
                volatility=0.12 + 0.04 * (int(level) - 1),
                var_95=var,
                monte_carlo_p5=-0.1,
                crisis_2008=crisis,
                crisis_estimated=False,
                placement=None,
            )
            for level, (var, crisis) in zip(RiskLevel, FIGURES, strict=True)
        )
        return LevelComparison(
            as_of=date(2022, 12, 28),
            capital=profile.capital,
            currency=profile.currency,
            candidates=("AAPL", "JNJ"),
            min_volatility=0.12,
            max_volatility=0.28,
            outcomes=outcomes,
            notes=(),
        )


def harness(tmp_path: Path, levels: FakeLevels, engine: FakeEngine | None = None) -> Harness:
    cfg = make_config(tmp_path)
    return Harness(cfg, make_deps(cfg, engine, compare_levels=levels))


async def to_risk(h: Harness, capital: str = "10000") -> None:
    await h.text("/start")
    await h.press("sector:IT")
    await h.press("sector:done")
    await h.text(capital)


async def test_risk_question_shows_each_level_in_money(tmp_path: Path) -> None:
    levels = FakeLevels()
    async with harness(tmp_path, levels) as h:
        await to_risk(h)
        question = h.texts()[-1]
        check_html(question)
        assert question.startswith(texts.RISK_PROMPT)
        assert "a bad day −$100.00" in question  # 1.0% of $10,000
        assert "could fall to about <b>$8,000.00</b>" in question  # -20%
        assert "a bad day −$240.00" in question and "<b>$5,500.00</b>" in question
        assert "Help me choose" in question
        (profile,) = levels.calls  # once, when the sectors were chosen
        assert profile.sectors == (Sector.INFORMATION_TECHNOLOGY,)


async def test_the_table_starts_when_the_sectors_are_chosen(tmp_path: Path) -> None:
    levels = FakeLevels()
    async with harness(tmp_path, levels) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")
        (profile,) = levels.calls  # before the amount: the capital is not known yet
        assert profile.capital == 1.0 and profile.sectors == (Sector.INFORMATION_TECHNOLOGY,)
        await h.text("25000")
        assert len(levels.calls) == 1  # the risk question used the table started ahead
        assert not h.api.calls_of("sendChatAction")  # ready: no "typing…" before it
        assert "a bad day −$250.00" in h.texts()[-1]  # 1.0% of the user's own $25,000


async def test_users_asking_for_the_same_sectors_share_one_table_in_their_own_money(
    tmp_path: Path,
) -> None:
    levels = FakeLevels()
    async with harness(tmp_path, levels) as h:
        for user, capital in ((USER, "10000"), (USER + 1, "20000")):
            await h.text("/start", user)
            await h.press("sector:IT", user)
            await h.press("sector:done", user)
            await h.text(capital, user)
        first, second = h.shown(USER)[-1], h.shown(USER + 1)[-1]
        assert len(levels.calls) == 1  # computed once, for the first asker
        assert "a bad day −$100.00" in first  # 1.0% of $10,000
        assert "a bad day −$200.00" in second  # 1.0% of $20,000, from the same table
        assert "could fall to about <b>$16,000.00</b>" in second


async def test_a_failed_table_is_computed_again_for_the_next_asker(tmp_path: Path) -> None:
    error = InfeasibleConstraintsError("max_weight", "3 stocks at 25% cover 75%", "Add a sector.")
    levels = FakeLevels(error=error)
    async with harness(tmp_path, levels) as h:
        await to_risk(h)
        levels.error = None
        await h.text("/start", USER + 1)
        await h.press("sector:IT", USER + 1)
        await h.press("sector:done", USER + 1)
        await h.text("10000", USER + 1)
        # the first user's table failed when the sectors were chosen and again for the
        # amount; the next user's is computed afresh (and ahead of the amount)
        assert len(levels.calls) == 3
        assert "a bad day −$100.00" in h.shown(USER + 1)[-1]


async def test_help_me_choose_suggests_a_level_and_any_level_can_still_be_picked(
    tmp_path: Path,
) -> None:
    engine = FakeEngine()
    async with harness(tmp_path, FakeLevels(), engine) as h:
        await to_risk(h)
        await h.press("quiz:help")
        assert h.texts()[-1] == texts.HORIZON_PROMPT
        await h.press("quiz:h:long")
        assert h.texts()[-1] == texts.REACTION_PROMPT
        await h.press("quiz:r:wait")
        question = h.texts()[-1]
        check_html(question)
        assert "Suggested: 4 · growth" in question  # 1 + 2 (over 7 y) + 1 (wait)
        assert "$8,000.00" in question  # the money table is shown again, not recomputed
        assert "Help me choose" not in question
        await h.press("risk:1")  # the user overrides the suggestion
        await h.press("strategy:momentum")
        await h.press("confirm:build")
        (profile,) = engine.calls
        assert profile.risk_level is RiskLevel.CONSERVATIVE


async def test_forged_quiz_answers_change_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path, FakeLevels()) as h:
        await to_risk(h)
        before = h.texts()[-1]
        keyboard = h.api.find_button_message(CHAT, "quiz:help")
        for forged in ("quiz:h:forever", "quiz:r:panic", "quiz:x", "quiz:"):
            h.api.press(USER, forged, message_id=keyboard)
            await h.run()
            assert h.last_answer()["text"] == texts.STALE_BUTTON
            assert h.texts()[-1] == before


async def test_an_engine_error_leaves_the_levels_without_a_table(tmp_path: Path) -> None:
    error = InfeasibleConstraintsError("max_weight", "3 stocks at 25% cover 75%", "Add a sector.")
    async with harness(tmp_path, FakeLevels(error=error)) as h:
        await to_risk(h)
        question = h.texts()[-1]
        assert question.startswith(texts.RISK_PROMPT) and "bad day" not in question
        assert "Add a sector" in question


def test_result_extras_place_the_portfolio_and_show_its_record() -> None:
    report: Report = make_report(make_profile(sectors="tech", capital=10_000.0))
    assert texts.result_extras(present_portfolio(report)) is None
    placed = replace(
        report,
        risk_placement=RiskPlacement(2, 5, 0.141, 0.12, 0.31, 0.1425),
        out_of_sample=OutOfSampleRecord(
            date(2017, 12, 28), date(2022, 12, 28), 5.0, 0.1, 0.2, 0.25, 0.07, 0.21, 0.34
        ),
    )
    extras = texts.result_extras(present_portfolio(placed))
    assert extras is not None
    check_html(extras)
    assert "Risk level 2 of 5: volatility <b>14.1%</b>" in extras
    assert "calmest mix of these stocks has 12.0%, the most aggressive 31.0%" in extras
    assert "10.0% a year vs S&P 500 7.0%" in extras and "25.0% vs 34.0%" in extras
    assert "historical average, not a forecast" in extras
