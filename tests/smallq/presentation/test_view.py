"""The portfolio view: figures equal the engine's, money on the capital, one formatter."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from smallq.data.sample import SampleSource
from smallq.models import NoteKind, OutOfSampleRecord, Report
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.presentation import (
    Base,
    Figure,
    PortfolioView,
    Unit,
    figure_text,
    money,
    num,
    pct,
    points,
    present_portfolio,
    signed_pct,
)
from smallq.profile import make_profile
from smallq.report import format_report, report_to_dict
from smallq.types import VarMethod

TODAY = date(2024, 1, 2)
FAST = replace(DEFAULT_PARAMS, mc_paths=1_000, frontier_points=5)
CAPITAL = 10_000.0


@pytest.fixture(scope="module")
def report() -> Report:
    profile = make_profile(sectors="Information Technology,Health Care", capital=CAPITAL)
    return build_portfolio(profile, SampleSource(), today=TODAY, params=FAST)


@pytest.fixture(scope="module")
def view(report: Report) -> PortfolioView:
    return present_portfolio(report)


# --------------------------------------------------------------------------- figures
def test_figures_equal_the_engine_numbers(report: Report, view: PortfolioView) -> None:
    m = report.metrics
    for key in ("expected_return", "volatility", "sharpe", "beta", "max_drawdown",
                "realized_return", "realized_volatility", "effective_holdings"):  # fmt: skip
        assert view.figure(key).value == getattr(m, key), key
    for level, confidence in ((95, 0.95), (99, 0.99)):
        estimate = m.var_at(confidence, 1)
        assert view.figure(f"var_{level}").value == estimate.var
        assert view.figure(f"cvar_{level}").value == estimate.cvar
        amount = view.figure(f"var_{level}_amount")
        assert amount.unit is Unit.MONEY and amount.base is Base.CAPITAL
        assert amount.value == pytest.approx(estimate.var * CAPITAL, rel=1e-12)
        cvar = view.figure(f"cvar_{level}_amount").value
        assert cvar == pytest.approx(estimate.cvar * CAPITAL, rel=1e-12)
    assert len(view.var_table) == len(m.var)
    for row in view.var_table:
        estimate = m.var_at(row.confidence, row.horizon_days, VarMethod(row.method))
        assert (row.var, row.cvar) == (estimate.var, estimate.cvar)
        assert row.var_amount == pytest.approx(estimate.var * CAPITAL, rel=1e-12)
        assert row.cvar_amount == pytest.approx(estimate.cvar * CAPITAL, rel=1e-12)
        assert row.method_label != "cornish_fisher"
    for shown, scenario in zip(view.scenarios, report.stress.scenarios, strict=True):
        assert shown.portfolio_return == scenario.portfolio_return
        assert shown.amount == pytest.approx(scenario.portfolio_return * CAPITAL, rel=1e-12)


def test_historical_var_in_money_matches_a_hand_computation(
    report: Report, view: PortfolioView
) -> None:
    """VaR 95% from the sample's prices by hand: the 95% order statistic of daily losses of
    the shares bought (amount / capital) with the cash left earning nothing."""
    window = SampleSource().fetch_prices(report.candidates, date(2018, 1, 1), report.as_of).close
    window = window[list(report.candidates)].iloc[-(report.profile.lookback_days + 1) :]
    bought = (report.allocation.amounts / CAPITAL).reindex(window.columns, fill_value=0.0)
    assert bought.sum() < 1.0  # some cash is left: the figures include it
    losses = -(window.pct_change().iloc[1:] @ bought)
    by_hand = float(np.quantile(losses.to_numpy(), 0.95, method="inverted_cdf")) * CAPITAL
    assert view.figure("var_95_amount").value == pytest.approx(by_hand, rel=1e-9)


def test_holdings_show_target_and_achieved_weights(report: Report, view: PortfolioView) -> None:
    alloc = report.allocation
    assert view.invested + view.cash == pytest.approx(CAPITAL, abs=1e-9)
    assert view.cash == alloc.cash_left
    held = report.weights[report.weights > 0]
    bought = alloc.achieved_weights.reindex(held.index)
    order = sorted(held.index, key=lambda t: (-bought[t], -held[t], t))
    assert [h.ticker for h in view.holdings] == order  # largest bought first
    for h in view.holdings:
        assert h.target_weight == report.weights[h.ticker]
        assert h.amount == pytest.approx(h.shares * h.price, rel=1e-12)
        assert h.achieved_weight == pytest.approx(h.amount / CAPITAL, rel=1e-12)
        assert h.sector in ("Information Technology", "Health Care")
    assert sum(h.achieved_weight for h in view.holdings) == pytest.approx(
        1 - alloc.cash_left / CAPITAL, abs=1e-12
    )


def test_every_figure_has_a_label_and_a_one_line_explanation(view: PortfolioView) -> None:
    for figure in view.figures:
        assert figure.label and figure.explanation and "\n" not in figure.explanation
        assert (figure.base is None) == (figure.unit in (Unit.RATIO, Unit.COUNT)), figure.key
    assert view.figure("var_95_amount").explanation == (
        "On one day in twenty, expect to lose at least this much."
    )
    assert "a hundred" in view.figure("var_99").explanation


# --------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (1234.5, "USD", "$1,234.50"),
        (-1234.5, "USD", "-$1,234.50"),
        (-0.004, "USD", "$0.00"),  # no "-$0.00"
        (0.005, "USD", "$0.01"),
        (1_000_000, "USD", "$1,000,000.00"),
        (10, "EUR", "10.00 EUR"),
        (-10, "EUR", "-10.00 EUR"),
        (math.nan, "USD", "n/a"),
        (math.inf, "USD", "n/a"),
        (None, "USD", "n/a"),
    ],
)
def test_money(value: float | None, currency: str, text: str) -> None:
    assert money(value, currency) == text


def test_percentages_and_numbers() -> None:
    assert pct(0.1234) == "12.3%" and pct(0.1234, 2) == "12.34%" and pct(-0.05) == "-5.0%"
    assert pct(1.0, 0) == "100%" and pct(None) == "n/a" and pct(math.nan) == "n/a"
    assert signed_pct(0.034) == "+3.4%" and signed_pct(-0.034) == "-3.4%"
    assert points(0.012) == "+1.2 points" and points(-0.2) == "-20.0 points"
    assert num(1.234) == "1.23" and num(4.44, 1) == "4.4" and num(math.nan) == "n/a"


def test_a_figure_is_formatted_by_its_unit() -> None:
    def figure(value: float, unit: Unit) -> Figure:
        return Figure("k", "K", value, unit, None, "")

    assert figure_text(figure(0.2061, Unit.FRACTION)) == "20.6%"
    assert figure_text(figure(205.761, Unit.MONEY)) == "$205.76"
    assert figure_text(figure(205.761, Unit.MONEY), "EUR") == "205.76 EUR"
    assert figure_text(figure(1.019, Unit.RATIO)) == "1.02"
    assert figure_text(figure(4.44, Unit.COUNT)) == "4.4"


# --------------------------------------------------------------------------- notes, renders
def test_notes_are_structured_from_the_engine(report: Report) -> None:
    kinds = {n.kind for n in report.notes}
    assert NoteKind.FRESHNESS in kinds
    fresh = next(n for n in report.notes if n.kind is NoteKind.FRESHNESS)
    assert fresh.get("source") == "sample" and fresh.get("as_of") == "2022-12-28"


def test_the_view_round_trips_through_json(view: PortfolioView) -> None:
    document = json.loads(json.dumps(view.to_dict()))
    restored = PortfolioView.from_dict(document)
    assert restored == view
    assert restored.notes == view.notes and restored.figure("var_95_amount") == view.figure(
        "var_95_amount"
    )
    with pytest.raises(ValueError, match="schema"):
        PortfolioView.from_dict({"schema": "something/1"})


def test_the_placement_and_the_record_are_part_of_the_stored_view(
    report: Report, view: PortfolioView
) -> None:
    # before: neither was in the view, so a stored build (/portfolio after a restart) lost them
    assert report.risk_placement is not None and view.placement == report.risk_placement
    record = OutOfSampleRecord(
        date(2017, 12, 28), date(2022, 12, 28), 5.0, 0.1, 0.2, 0.25, 0.07, 0.21, 0.34,
        note="Shorter than asked: prices start in 2017.",
    )  # fmt: skip
    recorded = present_portfolio(replace(report, out_of_sample=record))
    restored = PortfolioView.from_dict(json.loads(json.dumps(recorded.to_dict())))
    assert restored.placement == report.risk_placement
    assert restored.out_of_sample == record and restored == recorded


def test_a_view_stored_before_the_placement_and_record_still_loads(view: PortfolioView) -> None:
    document = json.loads(json.dumps(view.to_dict()))
    del document["placement"], document["out_of_sample"]
    restored = PortfolioView.from_dict(document)
    assert restored.placement is None and restored.out_of_sample is None
    assert restored == replace(view, placement=None, out_of_sample=None)


def test_cli_text_and_json_show_the_views_var_money(report: Report, view: PortfolioView) -> None:
    expected = report.metrics.var_at(0.95).var * CAPITAL  # the one base: the capital
    invested_based = report.metrics.var_at(0.95).var * view.invested
    assert money(expected) != money(invested_based)  # the test can tell the two bases apart
    text = format_report(report)
    assert "VaR 95%, 1 day" in text and money(expected) in text
    assert "on the capital of $10,000.00" in text and money(invested_based) not in text
    document = report_to_dict(report)
    figures = {f["key"]: f for f in document["figures"]}
    assert figures["var_95_amount"]["value"] == pytest.approx(expected, rel=1e-12)
    assert figures["var_95_amount"]["base"] == "capital" and document["var_base"] == "capital"
    key = ("historical", 0.95, 1)
    rows = document["metrics"]["var_table"]
    row = next(r for r in rows if (r["method"], r["confidence"], r["horizon_days"]) == key)
    assert row["var_amount"] == pytest.approx(expected, rel=1e-12)
    assert document["metrics"]["var_95"] == report.metrics.var_at(0.95).var
    assert document["notes"] == [n.text for n in report.notes]
    assert [n["kind"] for n in document["note_details"]] == [n.kind.value for n in report.notes]


def test_cli_text_names_methods_in_plain_words_unless_verbose(
    report: Report, view: PortfolioView
) -> None:
    from smallq.report import format_view

    text = format_view(view)
    for word in ("max_sharpe", "min_volatility", "cornish_fisher", "student_t",
                 view.optimizer.solver, view.optimizer.objective_used):  # fmt: skip
        assert word not in text, word
    labels = ("best return for its risk", "lowest volatility", "highest return at a set volatility")
    assert any(label in text for label in labels)  # risk levels are placed by efficient risk
    shown = [
        f
        for f in view.figures
        if not (f.unit is Unit.FRACTION and f.key.startswith(("var_", "cvar_")))
    ]
    for figure in shown:  # every figure printed is explained in one line
        assert f"  {figure.label}: {figure.explanation}" in text, figure.key
    verbose = format_view(view, verbose=True)
    assert f"solver {view.optimizer.solver}" in verbose
    assert f"objective {view.optimizer.objective_used}" in verbose


def test_build_notes_carry_their_kind_and_fields() -> None:
    from datetime import datetime

    from smallq.presentation.notes import backtest_fallback_notes, freshness_note

    note = freshness_note("sample", datetime(2024, 1, 2, 3, 4), date(2022, 12, 28))
    assert note.kind is NoteKind.FRESHNESS
    assert note.text == "Prices from sample up to 2022-12-28, fetched 2024-01-02 03:04 UTC."
    assert note.get("fetched_at") == "2024-01-02T03:04:00"
    assert freshness_note("csv", None, date(2022, 12, 28)).get("fetched_at") is None
    assert backtest_fallback_notes([], 12, "max_sharpe") == []
    (text,) = backtest_fallback_notes([(date(2020, 3, 31), "min_volatility")], 12, "max_sharpe")
    assert text.startswith("1 of 12 rebalances used a fallback objective instead of max_sharpe")
