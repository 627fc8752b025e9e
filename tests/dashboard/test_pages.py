"""Compare, Backtest and Stress pages under AppTest."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard import services
from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.presentation import money
from smallq.simulation import REPORT_FAN_STEP_DAYS, monte_carlo
from smallq.types import MonteCarloMethod
from tests.dashboard.conftest import MC_PATHS, app
from tests.dashboard.test_build import engine_report


def test_compare_shows_four_constructions_with_their_out_of_sample_record() -> None:
    at = app().run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.columns) == ["Max Sharpe", "Min volatility", "HRP", "Equal weight"]
    for row in ("Expected return (a year)", "Volatility (a year)", "VaR 95%, 1 day",
                "CAGR since", "Max drawdown since", "Value now"):  # fmt: skip
        assert row in table.index
    assert table.loc["Construction", "HRP"] == "HRP"
    assert len(set(table.loc["Volatility (a year)"])) == 4  # four different portfolios


def test_compare_risk_parity_hybrid_and_another_profile() -> None:
    at = app().run()
    at.switch_page("pages/compare.py").run()
    at.multiselect[1].set_value(["obj:risk_parity", "obj:hybrid", "risk:1"]).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table.loc["Construction"].tolist() == [
        "Risk parity", "Hybrid (50% max Sharpe + 50% HRP)", "Min volatility",
    ]  # fmt: skip


def test_compare_with_a_build_date_at_the_data_end_has_no_out_of_sample_record() -> None:
    at = app().run()
    at.switch_page("pages/compare.py").run()
    at.date_input[0].set_value(services.data_last_date()).run()
    assert not at.exception
    assert "No out-of-sample record" in at.info[0].value


def test_backtest_tear_sheet_and_exports() -> None:
    at = app().run()
    at.switch_page("pages/backtest.py").run()
    at.date_input(key="bt_start").set_value(date(2019, 1, 1))
    at.date_input(key="bt_end").set_value(date(2021, 12, 31))
    at.button[0].click().run()
    assert not at.exception and not at.error
    metrics, drawdowns, parameters = (frame.value for frame in at.dataframe)
    assert list(metrics.columns) == ["", "Strategy", "S&P 500"]
    assert 1 <= len(drawdowns) <= 5 and list(drawdowns)[:3] == ["Peak", "Trough", "Recovered"]
    assert "2019-01-02 → 2021-12-31" in parameters["Value"].tolist()
    assert len(at.get("download_button")) == 2
    titles = " ".join(c.proto.spec for c in at.get("vega_lite_chart"))
    for title in ("Value of your capital", "Yearly returns", "Rolling 6-month volatility",
                  "Rolling 6-month Sharpe", "Monthly returns"):  # fmt: skip
        assert title in titles


def test_backtest_with_the_end_before_the_start_shows_an_error() -> None:
    at = app().run()
    at.switch_page("pages/backtest.py").run()
    at.date_input(key="bt_start").set_value(date(2021, 1, 1))
    at.date_input(key="bt_end").set_value(date(2020, 1, 1))
    at.button[0].click().run()
    assert not at.exception
    assert "after the start" in at.error[0].value


@pytest.mark.parametrize("loss", [0, 10, 30])
def test_stress_slider_reads_the_engines_loss_probability(loss: int) -> None:
    at = app().run()
    at.switch_page("pages/stress.py").run()
    at.slider(key="mc_loss").set_value(loss).run()
    assert not at.exception and not at.error
    report = engine_report(3)
    bootstrap = next(mc for mc in report.stress.monte_carlo if mc.method.value == "bootstrap")
    expected = bootstrap.loss_probabilities[loss / 100]
    text = next(m.value for m in at.markdown if m.value.startswith("Probability of losing"))
    assert "$" not in text.replace("\\$", "")  # escaped: markdown would read $...$ as LaTeX
    text = text.replace("\\$", "$")
    assert f"more than {loss}% (${loss * 100:,.2f})" in text
    assert f"**{expected * 100:.1f}%**" in text
    scenarios = at.dataframe[0].value
    crisis = next(s for s in report.stress.scenarios if "2008" in s.name)
    row = scenarios[scenarios["Scenario"].str.startswith(crisis.name)].iloc[0]
    assert row["Dollars"] == money(crisis.portfolio_return * 10_000)


@pytest.mark.parametrize("method", ["normal", "student_t"])
def test_stress_page_shows_every_method_the_build_did_not_simulate(method: str) -> None:
    at = app().run()
    at.switch_page("pages/stress.py").run()
    at.radio(key="mc_method").set_value(method).run()
    at.slider(key="mc_loss").set_value(10).run()
    assert not at.exception and not at.error
    report = engine_report(3)
    assert [mc.method.value for mc in report.stress.monte_carlo] == ["bootstrap"]
    # the page's simulation of that method: the one run_stress_tests gives from the same days
    held = report.allocation.amounts / report.allocation.capital
    prices = SampleSource()._load_prices().loc[: pd.Timestamp(report.as_of), list(held.index)]
    window = prices.iloc[-(report.profile.lookback_days + 1) :]
    expected = monte_carlo(
        held, window.pct_change().iloc[1:], method=MonteCarloMethod(method),
        n_paths=MC_PATHS, seed=DEFAULT_PARAMS.seed, fan_step_days=REPORT_FAN_STEP_DAYS,
        loss_levels=services.LOSS_LEVELS,
    )  # fmt: skip
    text = next(m.value for m in at.markdown if m.value.startswith("Probability of losing"))
    assert f"**{expected.loss_probabilities[0.1] * 100:.1f}%**" in text
