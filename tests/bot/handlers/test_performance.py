"""/performance: the last stored portfolio since its build date against the S&P 500."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.views import texts
from smallq.data.sample import SampleSource
from smallq.models import Profile, Report
from smallq.pipeline import track_portfolio
from tests.bot.fakes import USER, Harness, make_config, make_deps, make_report
from tests.bot.handlers.test_commands import build

BUILT = date(2022, 6, 30)


def engine_built_on(as_of: date):
    def engine(profile: Profile, source: object, *, today: date, params: object) -> Report:
        return make_report(profile, as_of=as_of)

    return engine


async def test_performance_since_the_build_date(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    deps = make_deps(cfg, engine_built_on(BUILT))
    deps.source = SampleSource
    async with Harness(cfg, deps) as h:
        await build(h, sectors=("IT", "HC"))  # the sample has 3 IT stocks: too few alone
        await h.text("/performance")
        shown = h.texts()[-1]
        assert "since 2022-06-30" in shown and "S&amp;P 500" in shown
        record = deps.portfolios().latest(USER)
        assert record is not None
        shares = {x.ticker: x.shares for x in record.holdings}
        expected = track_portfolio(
            shares, record.cash_left, BUILT, SampleSource(), today=date(2023, 1, 2)
        )
        assert f"portfolio {expected.tracking.total_return:+.1%}" in shown
        assert f"S&amp;P 500 {expected.tracking.benchmark_total_return:+.1%}" in shown
        photo = h.api.calls_of("sendPhoto")[-1]
        assert photo.params["caption"].startswith("Tracking")


async def test_performance_without_later_data_says_so(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    deps = make_deps(cfg, engine_built_on(date(2022, 12, 28)))
    deps.source = SampleSource
    async with Harness(cfg, deps) as h:
        await h.text("/performance")
        assert h.texts()[-1] == texts.NO_PORTFOLIO
        await build(h, sectors=("IT", "HC"))  # the sample has 3 IT stocks: too few alone
        await h.text("/performance")
        assert h.texts()[-1] == texts.no_performance_yet(date(2022, 12, 28))
