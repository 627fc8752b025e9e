"""The pipeline end to end on the embedded sample and on small in-memory sources."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier

from smallq.data.memory import FrameSource
from smallq.data.sample import SampleSource
from smallq.errors import (
    AllocationError,
    InfeasibleConstraintsError,
    InsufficientHistoryError,
    TooFewCandidatesError,
    UnknownSectorError,
)
from smallq.measures import annual_volatility
from smallq.models import NoteKind
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.pipeline.stages import decide, decision_data
from smallq.profile import make_profile
from smallq.report import report_to_dict
from smallq.risk import portfolio_returns
from smallq.simulation import REPORT_MONTE_CARLO
from smallq.stress import run_stress_tests
from smallq.types import Objective, RiskLevel

TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=2_000)


@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


@pytest.fixture(scope="module")
def moderate_report(sample: SampleSource):
    profile = make_profile(sectors="Information Technology,Health Care", capital=10_000.0)
    return build_portfolio(profile, sample, today=TODAY, params=FAST)


def test_report_invariants(moderate_report) -> None:
    report = moderate_report
    weights = report.weights
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert (weights >= -1e-12).all()
    cap = min(report.settings.max_weight, 1 / report.settings.min_holdings)
    assert weights.max() <= cap + 1e-6
    alloc = report.allocation
    assert (alloc.shares * alloc.prices.reindex(alloc.shares.index)).sum() <= 10_000.0 + 1e-9
    assert alloc.cash_left >= 0
    assert alloc.cash_left == pytest.approx(10_000.0 - alloc.amounts.sum(), abs=1e-6)
    for estimate in report.metrics.var:
        assert estimate.cvar >= estimate.var - 1e-12
    assert report.as_of == date(2022, 12, 28)  # the sample's last day: today is later
    assert report.metrics.risk_contributions.sum() == pytest.approx(1.0, abs=1e-9)


def test_moderate_weights_match_pypfopt_efficient_risk_called_directly(moderate_report) -> None:
    report = moderate_report
    assert report.optimization.objective_used is Objective.EFFICIENT_RISK
    cap = min(report.settings.max_weight, 1 / report.settings.min_holdings)
    low = EfficientFrontier(report.mu, report.cov, weight_bounds=(0, cap))
    low.min_volatility()
    placement = report.risk_placement
    assert placement is not None and placement.level == 3
    assert placement.min_volatility == pytest.approx(low.portfolio_performance()[1], abs=1e-6)
    frontier = report.optimization.placement
    assert frontier is not None and frontier.requested_fraction == 0.5 <= frontier.fraction
    assert report.settings.target_volatility == pytest.approx(
        placement.min_volatility
        + frontier.fraction * (placement.max_volatility - placement.min_volatility)
    )
    assert report.optimization.volatility == pytest.approx(placement.volatility)
    ef = EfficientFrontier(report.mu, report.cov, weight_bounds=(0, cap))
    direct = pd.Series(ef.efficient_risk(report.settings.target_volatility))
    diff = (direct.reindex(report.weights.index).fillna(0) - report.weights).abs().max()
    assert diff < 1e-4


def test_historical_var_matches_hand_computation(moderate_report, sample) -> None:
    report = moderate_report
    held = report.allocation.amounts / report.allocation.capital  # as bought; cash earns 0
    prices = sample.fetch_prices(list(held.index), date(2019, 1, 1), report.as_of).close
    window = prices.iloc[-(report.profile.lookback_days + 1) :]
    daily = (window.pct_change().iloc[1:] * held).sum(axis=1).to_numpy()
    losses = np.sort(-daily)
    k = int(np.ceil(len(losses) * 0.95))  # k-th smallest loss, no interpolation
    var95 = losses[k - 1]
    cvar95 = losses[losses >= var95].mean()
    estimate = report.metrics.var_at(0.95, 1)
    assert estimate.var == pytest.approx(var95, rel=1e-9)
    assert estimate.cvar == pytest.approx(cvar95, rel=1e-9)



def test_stress_tests_share_the_daily_returns_of_the_risk_figures(moderate_report, sample) -> None:
    """A build computes the portfolio's daily returns once: the stress tests equal their own."""
    report = moderate_report
    universe, market, _ = decision_data(report.profile, sample, today=TODAY, params=FAST)
    _, decision = decide(report.profile, universe, market, FAST, fast=True)
    bought = report.allocation.achieved_weights[report.allocation.achieved_weights > 0]
    held = [t for t in decision.window.columns if t in bought.index]
    alone = run_stress_tests(
        bought[held], decision.window[held], market.benchmark.loc[decision.window.index],
        market.companies.loc[held, "sector"], index_history=None, params=FAST,
        returns=decision.returns, methods=REPORT_MONTE_CARLO,
    )  # fmt: skip
    pd.testing.assert_series_equal(report.stress.daily_returns, alone.daily_returns)
    (built,), (own,) = report.stress.monte_carlo, alone.monte_carlo
    assert built.percentiles == own.percentiles
    pd.testing.assert_frame_equal(built.fan, own.fan)
    daily = portfolio_returns(decision.returns, bought)
    assert report.metrics.realized_volatility == annual_volatility(daily, 252)

def test_json_document_has_the_documented_keys(moderate_report) -> None:
    document = report_to_dict(moderate_report)
    for key in (
        "as_of",
        "candidates",
        "weights",
        "shares",
        "cash_left",
        "objective_used",
        "fallbacks",
        "metrics",
        "stress",
        "notes",
    ):
        assert key in document
    for key in (
        "expected_return",
        "volatility",
        "sharpe",
        "beta",
        "var_95",
        "cvar_95",
        "var_99",
        "cvar_99",
        "max_drawdown",
    ):
        assert isinstance(document["metrics"][key], float)
    assert all(isinstance(v, int) for v in document["shares"].values())
    assert document["candidates"] == list(moderate_report.candidates)


def test_point_in_time_as_of(sample: SampleSource) -> None:
    profile = make_profile(sectors="tech,health care", capital=10_000.0, as_of=date(2015, 6, 30))
    report = build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert report.as_of == date(2015, 6, 30)
    assert report.ranking.as_of == date(2015, 6, 30)


# --------------------------------------------------------------------------- bad profiles
def test_unknown_sector_is_rejected_before_any_work() -> None:
    with pytest.raises(UnknownSectorError):
        make_profile(sectors="crypto", capital=1000.0)


def test_capital_below_one_share_of_every_candidate(sample: SampleSource) -> None:
    profile = make_profile(sectors="Health Care", capital=5.0, risk_level="aggressive")
    with pytest.raises(AllocationError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert "cheapest" in info.value.user_message()


def test_every_candidate_filtered_out(sample: SampleSource) -> None:
    profile = make_profile(sectors="Utilities", capital=10_000.0)
    with pytest.raises(TooFewCandidatesError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert info.value.filter_name == "sector"


def test_market_cap_band_that_leaves_nothing(sample: SampleSource) -> None:
    profile = make_profile(sectors="tech", capital=10_000.0, min_market_cap=5e12)
    with pytest.raises(TooFewCandidatesError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert info.value.filter_name == "market cap"


def test_max_weight_too_small_to_be_feasible(sample: SampleSource) -> None:
    profile = make_profile(sectors="Information Technology", capital=10_000.0, max_weight=0.2)
    with pytest.raises(InfeasibleConstraintsError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert "max weight" in info.value.user_message().lower()


def _declining_source(n_days: int = 900) -> FrameSource:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2018-01-01", periods=n_days)
    tickers = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
    drift = np.array([-0.0008, -0.0006, -0.0007, -0.0005, -0.0009, -0.0004])
    returns = drift + rng.normal(0, 0.01, size=(n_days, len(tickers)))
    prices = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates, columns=tickers)
    index = pd.Series(1000 * np.cumprod(1 + returns.mean(axis=1)), index=dates)
    companies = pd.DataFrame(
        {"ticker": tickers, "name": tickers, "sector": "Energy", "market_cap": 1e10}
    )
    return FrameSource(prices, index, companies)


def test_every_expected_return_negative_falls_back_and_says_so() -> None:
    source = _declining_source()
    profile = make_profile(
        sectors="Energy",
        capital=10_000.0,
        risk_level=RiskLevel.MODERATE,
        lookback_days=600,
        max_weight=0.4,
        objective="max_sharpe",
    )
    report = build_portfolio(profile, source, today=TODAY, params=FAST)
    assert (report.mu < profile.risk_free_rate).all()
    assert report.optimization.objective_used is Objective.MIN_VOLATILITY
    assert report.optimization.fallbacks[0].objective is Objective.MAX_SHARPE
    assert "risk-free" in report.optimization.fallbacks[0].reason
    fallback_notes = [n for n in report.notes if n.kind is NoteKind.FALLBACK]
    assert fallback_notes[0].get("objective") == "max_sharpe"
    assert fallback_notes[-1].get("objective_used") == "min_volatility"
    assert report_to_dict(report)["fallbacks"][0]["step"] == "max_sharpe"


def test_too_short_history() -> None:
    source = _declining_source(n_days=400)
    profile = make_profile(sectors="Energy", capital=10_000.0, lookback_days=756, max_weight=0.4)
    with pytest.raises(InsufficientHistoryError) as info:
        build_portfolio(profile, source, today=TODAY, params=FAST)
    assert "trading days" in info.value.user_message()


def _count_feasibility_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap check_feasibility wherever an engine module holds it; return the calls' log."""
    import sys

    from smallq import constraints

    original = constraints.check_feasibility
    calls: list[str] = []

    def counted(*args: object, **kwargs: object) -> None:
        calls.append(repr(args[0]))
        original(*args, **kwargs)  # type: ignore[arg-type]

    for name, module in list(sys.modules.items()):
        if name.startswith("smallq") and getattr(module, "check_feasibility", None) is original:
            monkeypatch.setattr(module, "check_feasibility", counted)
    return calls


def test_a_build_checks_feasibility_once(
    sample: SampleSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_feasibility_checks(monkeypatch)
    profile = make_profile(
        sectors="tech,health,staples", capital=10_000.0, sector_caps={"health": 0.5}
    )
    report = build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert len(calls) == 1
    assert report.frontier is not None


def test_an_infeasible_build_fails_before_estimating_with_the_same_message(
    sample: SampleSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smallq import decision  # the build's decision stage estimates the moments

    calls = _count_feasibility_checks(monkeypatch)

    def no_estimates(*args: object, **kwargs: object) -> None:
        raise AssertionError("estimated moments for an infeasible build")

    monkeypatch.setattr(decision, "forecast_moments", no_estimates)
    # an explicit cap: the levels' own 25% would be raised to 1/3 for three stocks
    profile = make_profile(
        sectors="tech", capital=10_000.0, risk_level="moderate", max_weight=0.25
    )
    with pytest.raises(InfeasibleConstraintsError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert len(calls) == 1
    assert info.value.user_message() == (
        "These settings cannot all hold: 3 stocks at most 25.0% each cover only 75.0%. "
        "Raise the max weight to at least 1/3 = 33.3% or add stocks."
    )


def test_sector_caps_that_cannot_reach_full_weight_keep_their_message(
    sample: SampleSource,
) -> None:
    profile = make_profile(
        sectors="tech,health", capital=10_000.0, sector_caps={"tech": 0.1, "health": 0.2}
    )
    with pytest.raises(InfeasibleConstraintsError) as info:
        build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert info.value.user_message() == (
        "These settings cannot all hold: the sector caps (Information Technology ≤ 10%, "
        "Health Care ≤ 20%) with at most 25.0% per stock allow only 30.0% in total. "
        "Raise the sector caps or the max weight, or add stocks from other sectors."
    )


def test_three_stocks_fill_the_portfolio_at_every_level_with_a_note(sample: SampleSource) -> None:
    """The levels' 25% cap is raised to 1/3 when only three stocks are left."""
    profile = make_profile(sectors="tech", capital=10_000.0, risk_level="aggressive")
    report = build_portfolio(profile, sample, today=TODAY, params=FAST)
    assert report.settings.max_weight == pytest.approx(1 / 3)
    assert np.allclose(report.weights.to_numpy(), 1 / 3, atol=1e-6)
    assert any("raised from 25% to 33.3% (1/3)" in n.text for n in report.notes)
