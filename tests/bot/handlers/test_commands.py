"""Commands outside the conversation, restart mid-conversation, menu registration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from bot.services.portfolio import BacktestOutcome
from bot.views import texts
from bot.views.draft import Draft
from smallq.models import OutOfSampleRecord, Profile, Report, RiskPlacement
from tests.bot.fakes import CHAT, USER, FakeEngine, Harness, make_config, make_deps, tiny_png

RESULT = "<b>Your portfolio"


def harness(tmp_path: Path, engine: FakeEngine | None = None, **deps_kw: Any) -> Harness:
    cfg = make_config(tmp_path)
    return Harness(cfg, make_deps(cfg, engine, **deps_kw))


async def build(h: Harness, user: int = USER, sectors: tuple[str, ...] = ("IT",)) -> None:
    await h.text("/start", user)
    for code in sectors:
        await h.press(f"sector:{code}", user)
    await h.press("sector:done", user)
    await h.text("10000", user)
    await h.press("risk:3", user)
    await h.press("strategy:momentum", user)
    await h.press("confirm:build", user)


async def test_help_lists_every_command(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/help")
        for name, _ in texts.COMMANDS:
            assert f"/{name}" in h.texts()[-1]


async def test_post_init_registers_the_command_menu(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert h.app.post_init is not None
        await h.app.post_init(h.app)
        assert [c["command"] for c in h.api.commands] == [n for n, _ in texts.COMMANDS]


async def test_dashboard_is_in_the_menu_and_help_when_it_is_set_up(tmp_path: Path) -> None:
    # before: /dashboard worked but was in neither the command menu nor /help
    cfg = make_config(
        tmp_path, dashboard_url="https://dash.example.org/", dashboard_secret="s" * 32
    )
    async with Harness(cfg, make_deps(cfg)) as h:
        assert h.app.post_init is not None
        await h.app.post_init(h.app)
        menu = [c["command"] for c in h.api.commands]
        assert "dashboard" in menu
        assert menu.index("dashboard") == menu.index("performance") + 1
        await h.text("/help")
        assert "/dashboard" in h.texts()[-1]


async def test_dashboard_is_left_out_of_the_menu_and_help_when_not_set_up(
    tmp_path: Path,
) -> None:
    for secret in ("", "too-short"):  # no URL, or a secret the links cannot be signed with
        cfg = make_config(tmp_path, dashboard_url="https://d.example.org/" if secret else "",
                          dashboard_secret=secret)  # fmt: skip
        async with Harness(cfg, make_deps(cfg)) as h:
            assert h.app.post_init is not None
            await h.app.post_init(h.app)
            assert "dashboard" not in [c["command"] for c in h.api.commands]
            await h.text("/help")
            assert "/dashboard" not in h.texts()[-1]


async def test_commands_without_data(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        for command, reply in (
            ("/portfolio", texts.NO_PORTFOLIO), ("/risk", texts.NO_PORTFOLIO),
            ("/stress", texts.NO_PORTFOLIO), ("/profile", texts.NO_PROFILE),
            ("/settings", texts.NO_PROFILE), ("/cancel", texts.NOTHING_TO_CANCEL),
            ("/backtest", texts.BACKTEST_SOON),
        ):  # fmt: skip
            await h.text(command)
            assert h.texts()[-1] == reply, command


async def test_portfolio_and_risk_show_the_stored_build(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await build(h)
        await h.text("/portfolio")
        shown = h.texts()[-1]
        assert shown.startswith("<b>Your portfolio of 20") and "AAPL" in shown
        await h.text("/risk")
        risk = h.texts()[-1]
        # canned historical 1-day VaR 95% is 0.019 of the capital 10,000 (the one VaR base)
        assert "$190.00" in risk and "normal curve" in risk and "Max drawdown 35.0%" in risk


@dataclass
class PlacedEngine(FakeEngine):
    """Builds that carry a risk placement and an out-of-sample record."""

    def __call__(self, profile: Profile, source: object, *, today: date, params: object) -> Report:
        report = super().__call__(profile, source, today=today, params=params)
        record = OutOfSampleRecord(
            date(2017, 12, 28), date(2022, 12, 28), 5.0, 0.1, 0.2, 0.25, 0.07, 0.21, 0.34
        )
        placement = RiskPlacement(3, 5, 0.191, 0.12, 0.31, 0.19)
        return replace(report, risk_placement=placement, out_of_sample=record)


async def test_portfolio_after_a_restart_shows_the_placement_and_the_record(
    tmp_path: Path,
) -> None:
    # before: both lived only in the report in memory; /portfolio (after a restart) lost them
    engine = PlacedEngine()
    async with harness(tmp_path, engine) as h:
        await build(h)
        fresh = h.texts()[-1]
        assert "Risk level 3 of 5: volatility <b>19.1%</b>" in fresh and "Out of sample" in fresh
    async with harness(tmp_path, engine) as h:  # a new process on the same database
        await h.text("/portfolio")
        portfolio, extras = h.texts()[-2:]
        assert portfolio.startswith("<b>Your portfolio of 20")
        assert extras == fresh and len(engine.calls) == 1  # from storage: nothing rebuilt


async def test_stress_uses_recent_report_then_rebuilds_at_stored_date(tmp_path: Path) -> None:
    engine = FakeEngine()
    async with harness(tmp_path, engine) as h:
        await build(h)
        await h.text("/stress")
        assert "2008 crisis" in h.texts()[-1] and "Monte Carlo" in h.texts()[-1]
        captions = h.api.captions_to(CHAT)[-2:]
        assert [c.split(" · ")[0] for c in captions] == ["Monte Carlo: value paths",
                                                         "Stress scenarios"]  # fmt: skip
        assert len(engine.calls) == 1  # the report in memory was reused
        h.deps.recent.drop(USER)  # as after a restart
        await h.text("/stress")
        assert len(engine.calls) == 2 and engine.calls[1].as_of == date(2022, 12, 28)


async def test_profile_edit_reenters_the_questions(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await build(h)
        await h.text("/profile")
        assert "Information Technology" in h.texts()[-1]
        await h.press(f"profile:edit@{USER}")
        draft = Draft.load(h.app.user_data[USER])
        assert draft is not None and draft.sectors == ["IT"] and draft.capital == 10_000
        await h.press("sector:HC")
        await h.press("sector:done")
        await h.text("20000")
        await h.press("risk:5")
        await h.press("strategy:momentum")
        await h.press("confirm:build")
        profile = h.deps.users().get_profile(USER)
        assert profile is not None and profile.capital == 20_000 and len(profile.sectors) == 2


async def test_settings_change_the_saved_profile(tmp_path: Path) -> None:
    engine = FakeEngine()
    async with harness(tmp_path, engine) as h:
        await build(h)
        await h.text("/settings")
        await h.press(f"set:topn:15@{USER}")
        await h.press(f"set:maxw:0.2@{USER}")
        await h.press(f"set:frac:on@{USER}")
        await h.press(f"set:strategy:low_vol@{USER}")
        profile = h.deps.users().get_profile(USER)
        assert profile is not None
        assert (profile.top_n, profile.max_weight, profile.fractional) == (15, 0.2, True)
        assert profile.strategy.value == "low_vol"
        await h.press(f"set:topn:15@{USER}")
        assert h.last_answer()["text"] == "Already set."
        keyboard = h.api.find_button_message(CHAT, f"set:topn:15@{USER}")
        forgeries = ("set:topn:999", "set:maxw:2", "set:bogus:1", "set:topn", f"set:topn@{USER}")
        for forged in forgeries:
            h.api.press(USER, forged, message_id=keyboard)
            await h.run()
            assert h.last_answer()["text"] == texts.STALE_BUTTON
        assert h.deps.users().get_profile(USER) == profile
        await build(h)  # the next build keeps the settings
        assert engine.calls[-1].top_n == 15 and engine.calls[-1].fractional is True


async def test_delete_needs_confirmation_and_erases(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await build(h)
        await build(h, user=2002)
        await h.text("/delete")
        await h.press(f"delete:no@{USER}")
        assert h.deps.portfolios().count(USER) == 1
        await h.text("/delete")
        await h.press(f"delete:yes@{USER}")
        assert h.api.calls_of("editMessageText")[-1].params["text"] == texts.DELETED
        assert h.deps.users().get(USER) is None and h.deps.portfolios().count(USER) == 0
        assert USER not in h.app.user_data or not h.app.user_data[USER]
        assert h.deps.portfolios().count(2002) == 1
        await h.text("/portfolio")
        assert h.texts()[-1] == texts.NO_PORTFOLIO


async def test_delete_mid_conversation_ends_it(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.text("/start")
        await h.press("sector:IT")
        await h.press("sector:done")
        await h.text("/delete")
        await h.press(f"delete:yes@{USER}")
        sent = len(h.texts())
        await h.text("5000")  # the conversation ended with the erase: not an answer any more
        assert len(h.texts()) == sent and texts.RISK_PROMPT not in h.texts()
        assert h.deps.users().get(USER) is None


async def test_restart_mid_conversation_continues(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = Harness(cfg, make_deps(cfg))
    async with first as h:
        await h.text("/start")
        await h.press("sector:HC")
        await h.press("sector:done")
        await h.text("7500")
    engine = FakeEngine()
    second = Harness(cfg, make_deps(cfg, engine), api=first.api)  # same chat history
    async with second as h:
        await h.press("risk:2")
        await h.press("strategy:momentum")
        await h.press("confirm:build")
        assert engine.calls[0].capital == 7500 and engine.calls[0].risk_level.value == 2
        assert any(t.startswith(RESULT) for t in h.texts())


@dataclass
class FakeBacktest:
    """``run_strategy_backtest`` stand-in."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, profile: object, source: object, **kw: Any) -> BacktestOutcome:
        self.calls.append(kw)
        text = "CAGR 7.1%\nMax drawdown 30.2%\n<sharpe> 0.61"
        return BacktestOutcome(text, kw["start"], kw["end"], {"equity": tiny_png()})


async def test_backtest_runs_last_profile(tmp_path: Path) -> None:
    backtest = FakeBacktest()
    async with harness(tmp_path, run_backtest=backtest) as h:
        await h.text("/backtest")
        assert h.texts()[-1] == texts.NO_PROFILE
        await build(h)
        await h.text("/backtest 3")
        (call,) = backtest.calls
        assert (call["end"] - call["start"]).days == 1096 and call["rebalance"] == "monthly"
        assert call["end"] == date(2023, 1, 2)  # the fake source has no last_date: today
        assert "CAGR 7.1%" in h.texts()[-1] and "&lt;sharpe&gt;" in h.texts()[-1]
        assert h.api.calls_of("sendPhoto")[-1].params["caption"].startswith("Equity")
