"""Risk levels placed on the universe's capped frontier (issue #9 item 1).

Numbers are checked against independent computations: PyPortfolioOpt called directly on the
same inputs, scipy's LP for the max-return portfolio, and hand-computed VaR and replays. The
acceptance property runs over at least 50 random universes and dates on the sample and on
../shared/data (through the CSV source; skipped when the folder is absent).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models
from scipy.optimize import linprog

from smallq.constraints import WeightLimits
from smallq.data.csv import CsvSource
from smallq.data.sample import SampleSource
from smallq.data.validation import clean_prices
from smallq.forecast import covariance
from smallq.forecast import expected_returns as smallq_expected_returns
from smallq.levels import CRISIS_2008, bootstrap_percentile, level_outcomes
from smallq.models import Settings
from smallq.optimize import max_return_weights, optimize_weights
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, compare_levels
from smallq.profile import RISK_TABLE, make_profile, resolve_settings
from smallq.risk import portfolio_returns, value_at_risk
from smallq.stress import monte_carlo
from smallq.types import CovModel, MonteCarloMethod, Objective, ReturnsModel, RiskLevel
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

VOL_TOL = 0.005  # 0.5 point of annual volatility
VAR_TOL = 0.001  # 0.1 point of 1-day VaR
LOOKBACK = 756
N_UNIVERSES = 50
TODAY = date(2023, 1, 1)


def _settings(n: int, fraction: float | None = 0.5) -> Settings:
    profile = make_profile(sectors="tech", capital=10_000.0)
    return replace(resolve_settings(profile, n), frontier_fraction=fraction)


def _estimates(window: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    mu = smallq_expected_returns(
        window, ReturnsModel.MEAN, risk_free_rate=0.02, periods_per_year=252
    )
    cov = covariance(window, CovModel.LEDOIT_WOLF, periods_per_year=252)
    return mu, cov, window.pct_change().iloc[1:]


@pytest.fixture(scope="module")
def sample_prices() -> pd.DataFrame:
    source = SampleSource()
    tickers = list(source.fetch_companies().index)
    return clean_prices(source.fetch_prices(tickers, date(1990, 1, 1), TODAY)).close


def _window(prices: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A random 6-14 stock universe over a random 3-year window with complete prices."""
    while True:
        end = int(rng.integers(LOOKBACK + 1, len(prices)))
        frame = prices.iloc[end - LOOKBACK - 1 : end]
        complete = list(frame.columns[frame.notna().all()])
        n = int(rng.integers(6, 15))
        if len(complete) >= n:
            chosen = list(rng.choice(complete, size=n, replace=False))
            return frame[chosen]


# --------------------------------------------------------------------------- max return LP
def test_max_return_weights_equal_an_lp_solution() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(4, 12))
        tickers = [f"T{i}" for i in range(n)]
        mu = pd.Series(rng.normal(0.08, 0.1, n), index=tickers)
        sectors = {t: "AB"[i % 2] for i, t in enumerate(tickers)}
        upper = max(0.25, 1 / n)
        caps = {"A": 0.6}
        limits = WeightLimits.build(tickers, upper, sectors, caps)
        weights = max_return_weights(mu, limits)
        in_a = np.array([1.0 if sectors[t] == "A" else 0.0 for t in tickers])
        lp = linprog(
            -mu.to_numpy(),
            A_ub=in_a[None, :],
            b_ub=[0.6],
            A_eq=np.ones((1, n)),
            b_eq=[1.0],
            bounds=[(0, upper)] * n,
        )
        assert lp.status == 0
        assert float(weights @ mu) == pytest.approx(-lp.fun, abs=1e-9)
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights.max() <= upper + 1e-12
        assert float(weights @ in_a) <= 0.6 + 1e-12


# --------------------------------------------------------------------------- against pypfopt
def test_each_level_equals_pypfopt_efficient_risk_at_its_target(
    sample_prices: pd.DataFrame,
) -> None:
    window = sample_prices[["AAPL", "JNJ", "XOM", "JPM", "KO", "MSFT", "PFE", "WMT"]].loc[
        :"2019-12-31"
    ].iloc[-(LOOKBACK + 1) :]
    mu_ref = expected_returns.mean_historical_return(window, compounding=False)
    cov_ref = risk_models.CovarianceShrinkage(window).ledoit_wolf()
    mu, cov, returns = _estimates(window)
    pd.testing.assert_series_equal(mu, mu_ref, check_names=False, atol=1e-12)
    cap = 0.25
    ef = EfficientFrontier(mu_ref, cov_ref, weight_bounds=(0, cap))
    ef.min_volatility()
    vmin = ef.portfolio_performance()[1]
    lp = linprog(-mu_ref.to_numpy(), A_eq=np.ones((1, 8)), b_eq=[1.0], bounds=[(0, cap)] * 8)
    top = lp.x
    vmax = float(np.sqrt(top @ cov_ref.to_numpy() @ top))
    for level, policy in RISK_TABLE.items():
        result = optimize_weights(
            mu, cov, _settings(8, policy.frontier_fraction), returns=returns
        )
        target = vmin + policy.frontier_fraction * (vmax - vmin)
        assert result.placement is not None
        assert result.placement.fraction == result.placement.requested_fraction  # no guard here
        assert result.placement.min_volatility == pytest.approx(vmin, abs=1e-6)
        assert result.placement.max_volatility == pytest.approx(vmax, abs=1e-9)
        assert result.volatility == pytest.approx(target, abs=1e-5), level
        assert not result.fallbacks
        if policy.frontier_fraction == 0.0:
            assert result.objective_used is Objective.MIN_VOLATILITY
            continue
        ref = EfficientFrontier(mu_ref, cov_ref, weight_bounds=(0, cap))
        ref.efficient_risk(target)
        expected = pd.Series(ref.clean_weights(cutoff=1e-4, rounding=None))
        assert result.objective_used is Objective.EFFICIENT_RISK
        np.testing.assert_allclose(result.weights, expected.reindex(mu.index), atol=2e-4)


def test_explicit_objective_switches_placement_off() -> None:
    profile = make_profile(sectors="tech", capital=1000.0, risk_level=2, objective="max_sharpe")
    settings = resolve_settings(profile, 8)
    assert settings.frontier_fraction is None
    assert settings.objective is Objective.MAX_SHARPE


def test_level_cap_is_one_cap_raised_to_one_over_n() -> None:
    for level in RiskLevel:
        profile = make_profile(sectors="tech", capital=1000.0, risk_level=level)
        assert resolve_settings(profile, 10).max_weight == 0.25
        assert resolve_settings(profile, 3).max_weight == pytest.approx(1 / 3)
        explicit = make_profile(sectors="tech", capital=1000.0, risk_level=level, max_weight=0.4)
        assert resolve_settings(explicit, 3).max_weight == 0.4


def test_var_guard_moves_a_level_whose_var_is_below_a_calmer_one(
    sample_prices: pd.DataFrame,
) -> None:
    """Found by the property test: at 25% of the range this universe's VaR fell 0.16 point."""
    window = sample_prices[["BBY", "LLY", "GE", "JPM", "HD", "PEP"]].loc[:"2011-01-19"]
    window = window.iloc[-(LOOKBACK + 1) :]
    mu, cov, returns = _estimates(window)
    results = [
        optimize_weights(mu, cov, _settings(6, p.frontier_fraction), returns=returns)
        for p in RISK_TABLE.values()
    ]
    var95 = [value_at_risk(portfolio_returns(returns, r.weights), 0.95) for r in results]
    assert var95 == sorted(var95)
    vols = [r.volatility for r in results]
    assert vols == sorted(vols)
    second = results[1].placement
    assert second is not None and second.requested_fraction == 0.25 and second.fraction > 0.25
    # without the guard (no returns given) level 2 sits at 25% and its VaR is below level 1's
    unguarded = optimize_weights(mu, cov, _settings(6, 0.25))
    assert unguarded.placement is not None and unguarded.placement.fraction == 0.25
    unguarded_var = value_at_risk(portfolio_returns(returns, unguarded.weights), 0.95)
    assert unguarded_var < var95[0] - VAR_TOL
    # the guarded level is PyPortfolioOpt's efficient risk at the moved target
    ref = EfficientFrontier(mu, cov, weight_bounds=(0, 0.25))
    ref.efficient_risk(second.target_volatility)
    expected = pd.Series(ref.clean_weights(cutoff=1e-4, rounding=None)).reindex(mu.index)
    np.testing.assert_allclose(results[1].weights, expected, atol=2e-4)


# --------------------------------------------------------------------------- the property
def _check_ordered(window: pd.DataFrame) -> tuple[bool, list[float], list[float]]:
    """Volatility and 1-day 95% VaR of the five levels; False when a level fell back."""
    mu, cov, returns = _estimates(window)
    settings = _settings(window.shape[1])
    vols, vars_ = [], []
    for policy in RISK_TABLE.values():
        result = optimize_weights(
            mu, cov, replace(settings, frontier_fraction=policy.frontier_fraction), returns=returns
        )
        if result.fallbacks:
            return False, vols, vars_
        weights = result.weights[result.weights > 0]
        daily = returns[weights.index].to_numpy() @ weights.to_numpy()
        vols.append(float(np.sqrt(weights @ cov.loc[weights.index, weights.index] @ weights)))
        vars_.append(float(np.quantile(-daily, 0.95, method="inverted_cdf")))
    return True, vols, vars_


def _assert_property(prices: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    checked = failures = 0
    for _ in range(N_UNIVERSES):
        window = _window(prices, rng)
        feasible, vols, vars_ = _check_ordered(window)
        if not feasible:
            continue
        checked += 1
        vol_ok = all(b >= a - VOL_TOL for a, b in itertools.pairwise(vols))
        var_ok = all(b >= a - VAR_TOL for a, b in itertools.pairwise(vars_))
        if not (vol_ok and var_ok):
            failures += 1
            print(window.index[-1].date(), list(window.columns), vols, vars_)
    assert checked >= 0.9 * N_UNIVERSES, f"only {checked} universes had feasible levels"
    assert failures == 0, f"{failures} of {checked} universes out of order"


def test_levels_are_ordered_on_random_sample_universes(sample_prices: pd.DataFrame) -> None:
    _assert_property(sample_prices, seed=2024)


@pytest.mark.shared_data
def test_levels_are_ordered_on_random_shared_universes(
    shared_csv_source: CsvSource,  # noqa: F811
) -> None:
    companies = shared_csv_source.fetch_companies()
    tickers = [str(t).replace(".", "-") for t in companies.index]
    raw = shared_csv_source.fetch_prices(tickers, date(2013, 1, 1), date(2018, 3, 1))
    prices = clean_prices(raw).close
    _assert_property(prices, seed=99)


# --------------------------------------------------------------------------- the defect
def test_risk_levels_order_the_user_facing_builds() -> None:
    """Issue #9: on these sectors level 1 was riskier than level 2 (20.3% vs 19.4%)."""
    source = SampleSource()
    vols, var95 = [], []
    for level in RiskLevel:
        profile = make_profile(
            sectors="tech,health,staples,energy,financials", capital=10_000.0, risk_level=level
        )
        report = build_portfolio(profile, source, today=TODAY)
        vols.append(report.metrics.volatility)
        var95.append(report.metrics.var_at(0.95).var)
        placement = report.risk_placement
        assert placement is not None and placement.level == int(level)
        assert placement.min_volatility <= placement.volatility + 1e-9
        assert placement.volatility <= placement.max_volatility + 1e-6
    assert all(b >= a - VOL_TOL for a, b in itertools.pairwise(vols)), vols
    assert all(b >= a - VAR_TOL for a, b in itertools.pairwise(var95)), var95


# --------------------------------------------------------------------------- level table
def test_level_table_figures_match_hand_computations(sample_prices: pd.DataFrame) -> None:
    window = sample_prices[["AAPL", "JNJ", "XOM", "JPM", "KO", "MSFT", "PFE"]].loc[
        :"2015-12-31"
    ].iloc[-(LOOKBACK + 1) :]
    mu, cov, returns = _estimates(window)
    params = replace(DEFAULT_PARAMS, mc_paths=500)
    outcomes = level_outcomes(
        mu,
        cov,
        _settings(7),
        returns=returns,
        history=sample_prices[window.columns],
        index_history=SampleSource().fetch_benchmark(date(1990, 1, 1), TODAY),
        params=params,
    )
    assert [int(o.level) for o in outcomes] == [1, 2, 3, 4, 5]
    for outcome in outcomes:
        held = outcome.weights[outcome.weights > 0]
        daily = returns[held.index].to_numpy() @ held.to_numpy()
        assert outcome.var_95 == pytest.approx(
            value_at_risk(portfolio_returns(returns, held), 0.95), abs=1e-12
        )
        hand = np.quantile(-daily, 0.95, method="inverted_cdf")  # the order-statistic VaR
        assert outcome.var_95 == pytest.approx(hand, abs=1e-12)
        start = sample_prices.loc[: pd.Timestamp(CRISIS_2008.start), held.index].iloc[-1]
        end = sample_prices.loc[: pd.Timestamp(CRISIS_2008.end), held.index].iloc[-1]
        assert outcome.crisis_2008 == pytest.approx(float(held @ (end / start - 1)), abs=1e-12)
        assert not outcome.crisis_estimated
        assert -1.0 < outcome.monte_carlo_p5 < outcome.expected_return
    vols = [o.volatility for o in outcomes]
    assert vols == sorted(vols)


def test_compare_levels_reports_the_range_of_the_build() -> None:
    profile = make_profile(sectors="tech,health,staples", capital=10_000.0, risk_level=4)
    params = replace(DEFAULT_PARAMS, mc_paths=300)
    comparison = compare_levels(profile, SampleSource(), today=TODAY, params=params)
    report = build_portfolio(profile, SampleSource(), today=TODAY, params=params)
    assert report.risk_placement is not None
    assert comparison.min_volatility == pytest.approx(report.risk_placement.min_volatility, 1e-6)
    assert comparison.max_volatility == pytest.approx(report.risk_placement.max_volatility, 1e-9)
    fourth = comparison.outcomes[3]  # the table uses the fast path: equal to about 1e-5
    pd.testing.assert_series_equal(fourth.weights, report.weights, check_names=False, atol=1e-5)
    assert comparison.capital == 10_000.0


# --------------------------------------------------------------------------- fast paths
def test_fast_placement_equals_the_reference_path(sample_prices: pd.DataFrame) -> None:
    """daqp vs PyPortfolioOpt: 1e-5 against a tightly solved reference.

    At Clarabel's default tolerances the reference itself overshoots the volatility target by
    about 2e-9, which on a flat stretch of the frontier moves weights by up to 4e-5; solved
    at 1e-10 it agrees with the fast path to 1e-5 (the acceptance bound).
    """
    rng = np.random.default_rng(11)
    fast_params = replace(DEFAULT_PARAMS, fast_placement=True)
    reference_params = replace(DEFAULT_PARAMS, fast_placement=False)
    tight = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
    for _ in range(6):
        window = _window(sample_prices, rng)
        mu, cov, returns = _estimates(window)
        sectors = {t: "AB"[i % 2] for i, t in enumerate(mu.index)}
        caps = {"A": 0.6} if len(mu) >= 8 else None
        for policy in RISK_TABLE.values():
            settings = _settings(len(mu), policy.frontier_fraction)
            kwargs = {"returns": returns, "sector_map": sectors, "sector_caps": caps}
            reference = optimize_weights(mu, cov, settings, params=reference_params, **kwargs)  # type: ignore[arg-type]
            fast = optimize_weights(mu, cov, settings, params=fast_params, **kwargs)  # type: ignore[arg-type]
            assert fast.solver == "daqp" and reference.solver != "daqp"
            assert fast.placement is not None and reference.placement is not None
            assert fast.placement.fraction == reference.placement.fraction
            np.testing.assert_allclose(fast.weights, reference.weights, atol=1e-4)
            assert fast.volatility == pytest.approx(reference.volatility, abs=1e-7)
            if fast.objective_used is not Objective.EFFICIENT_RISK:
                continue
            ef = EfficientFrontier(
                mu, cov, weight_bounds=(0, settings.max_weight), solver_options=tight
            )
            if caps:
                ef.add_sector_constraints(sectors, {}, caps)
            ef.efficient_risk(fast.placement.target_volatility)
            exact = pd.Series(ef.clean_weights(cutoff=1e-4, rounding=None)).reindex(mu.index)
            np.testing.assert_allclose(fast.weights, exact, atol=1e-5)
            # the objective is never worse: as much return at no more volatility
            target = fast.placement.target_volatility
            assert fast.volatility <= target * (1 + 1e-9)
            assert float(mu @ fast.weights) >= float(mu @ exact) - 1e-7


def test_bootstrap_percentile_equals_the_reports_monte_carlo(sample_prices: pd.DataFrame) -> None:
    window = sample_prices[["AAPL", "KO", "XOM"]].iloc[-757:]
    returns = window.pct_change().iloc[1:]
    weights = pd.Series({"AAPL": 0.5, "KO": 0.3, "XOM": 0.2})
    params = replace(DEFAULT_PARAMS, mc_paths=2_000)
    full = monte_carlo(
        weights,
        returns,
        method=MonteCarloMethod.BOOTSTRAP,
        n_paths=params.mc_paths,
        horizon_days=params.mc_horizon_days,
        seed=params.seed,
    )
    daily = portfolio_returns(returns, weights)
    assert bootstrap_percentile(daily, 0.05, params=params) == pytest.approx(
        full.percentiles[0.05], abs=1e-12
    )
