"""Build page under AppTest: widgets in, holdings and risk cards checked against the engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from dashboard import services, views
from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.presentation import figure_text, money, present_portfolio
from smallq.profile import make_profile
from tests.dashboard.conftest import MC_PATHS, app


def engine_report(risk: int, capital: float = 10_000):  # type: ignore[no-untyped-def]
    profile = make_profile(
        sectors="Information Technology,Health Care", capital=capital, risk_level=risk
    )
    params = replace(DEFAULT_PARAMS, mc_paths=MC_PATHS, mc_loss_levels=services.LOSS_LEVELS)
    return build_portfolio(profile, SampleSource(), today=date.today(), params=params)


def test_holdings_sum_to_capital_less_cash_and_cards_match_the_engine() -> None:
    at = app().run()
    assert not at.exception and not at.error
    holdings = at.table[0].value
    report = engine_report(3)
    alloc = report.allocation
    assert holdings["Dollars"].sum() + alloc.cash_left == pytest.approx(10_000)
    assert set(holdings["Ticker"]) == {t for t, n in alloc.shares.items() if n > 0}
    for _, row in holdings.iterrows():
        assert row["Shares"] == alloc.shares[row["Ticker"]]
        assert row["Target"] == pytest.approx(report.weights[row["Ticker"]] * 100)
        assert row["Bought"] == pytest.approx(alloc.achieved_weights[row["Ticker"]] * 100)
    cards = [(m.label, m.value) for m in at.metric]
    view = present_portfolio(report)
    expected = [(view.figure(k).label, figure_text(view.figure(k))) for k in views.CARD_KEYS]
    assert cards == expected
    metrics = report.metrics  # and against the engine's own numbers
    assert cards[0][1] == money(metrics.var_at(0.95).var * 10_000)
    assert cards[1][1] == money(metrics.var_at(0.95).cvar * 10_000)
    assert cards[2][1] == money(metrics.var_at(0.99).var * 10_000)
    captions = [c.value for c in at.caption]
    assert all(view.figure(k).explanation in captions for k in views.CARD_KEYS)
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("at most 25% per stock" in s and "S&P 500" in s for s in specs)  # frontier
    assert any("Correlation of the holdings" in s for s in specs)


def test_moving_the_risk_level_rebuilds_at_the_new_level() -> None:
    at = app().run()
    before = set(at.table[0].value["Ticker"])
    at.select_slider(key="in_risk").set_value(1)
    at.run()
    assert not at.exception and not at.error
    after = at.table[0].value
    assert set(after["Ticker"]) != before
    cards = {m.label: m.value for m in at.metric}
    conservative = present_portfolio(engine_report(1))
    assert cards["Volatility (a year)"] == figure_text(conservative.figure("volatility"))
    assert (
        conservative.figure("volatility").value
        < present_portfolio(engine_report(3)).figure("volatility").value
    )  # risk level 1 sits at the frontier's low-volatility end


@pytest.mark.parametrize(
    "capital,message",
    [("abc", "amount"), ("-5", "amount"), ("1e400", "amount")],
)
def test_bad_capital_shows_an_error_and_no_exception(capital: str, message: str) -> None:
    at = app().run()
    at.text_input(key="in_capital").set_value(capital).run()
    assert not at.exception
    assert at.error and message in at.error[0].value.lower()
    assert not at.table


def test_no_sector_shows_an_error() -> None:
    at = app().run()
    at.multiselect(key="in_sectors").set_value([]).run()
    assert not at.exception
    assert "sector" in at.error[0].value.lower()


def test_capital_below_the_cheapest_share_is_explained() -> None:
    at = app().run()
    at.text_input(key="in_capital").set_value("20").run()
    assert not at.exception
    assert at.error and not at.table
