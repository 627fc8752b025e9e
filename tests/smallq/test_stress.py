"""Stress tests checked against hand computations and closed forms."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from smallq import stress
from smallq.errors import DataUnavailableError, InputError
from smallq.params import DEFAULT_PARAMS
from smallq.stress import StressWindow
from smallq.types import MonteCarloMethod

DATES = pd.bdate_range("2020-01-01", "2020-01-10")  # Wed 1 .. Fri 10 (8 days)


def _tiny_prices() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "A": [100, 102, 101, 99, 95, 96, 98, 97],
            "B": [50, 49, 47, 48, 44, 45, 46, 47],
        },
        index=DATES,
        dtype=float,
    )


def test_historical_replay_matches_hand_computation() -> None:
    prices = _tiny_prices()
    index = pd.Series([10, 10.5, 10.2, 9.9, 9.0, 9.1, 9.3, 9.4], index=DATES)
    # start is a Saturday: the closes of Friday 2020-01-03 are used
    window = StressWindow("Tiny", date(2020, 1, 4), date(2020, 1, 8))
    weights = pd.Series({"A": 0.6, "B": 0.4, "C": 0.0})  # C is not held, needs no prices
    (result,) = stress.historical_scenarios(weights, prices, index, windows=[window])
    # Fri 3 Jan -> Wed 8 Jan: A 101 -> 96, B 47 -> 45, index 10.2 -> 9.1
    expected = 0.6 * (96 / 101 - 1) + 0.4 * (45 / 47 - 1)
    assert result.portfolio_return == pytest.approx(expected, abs=1e-14)
    assert result.benchmark_return == pytest.approx(9.1 / 10.2 - 1, abs=1e-14)
    assert not result.estimated
    assert result.note == ""
    assert (result.kind, result.start, result.end) == ("historical", window.start, window.end)


def _long_index(n: int = 120) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2015-01-05", periods=n)  # covers no default window
    index_ret = rng.normal(0, 0.01, n - 1)
    index = pd.Series(1000 * np.cumprod(np.r_[1.0, 1 + index_ret]), index=dates)
    late_ret = 1.5 * index_ret[-60:] + rng.normal(0, 0.004, 60)
    late = pd.Series(20 * np.cumprod(np.r_[1.0, 1 + late_ret]), index=dates[-61:])
    return index, late


def test_beta_estimation_path_is_flagged_with_note() -> None:
    index, late = _long_index()
    prices = pd.DataFrame({"OLD": index * 0.1 + 5.0, "NEW": late})  # NEW starts later
    window = StressWindow("Early", index.index[10].date(), index.index[30].date())
    weights = pd.Series({"OLD": 0.3, "NEW": 0.7})
    (result,) = stress.historical_scenarios(weights, prices, index, windows=[window])

    index_move = index.iloc[30] / index.iloc[10] - 1
    old_move = prices["OLD"].iloc[30] / prices["OLD"].iloc[10] - 1
    common = pd.concat([late, index], axis=1, join="inner").pct_change().dropna()
    beta_new = np.polyfit(common.iloc[:, 1], common.iloc[:, 0], 1)[0]
    assert beta_new == pytest.approx(1.5, abs=0.2)
    expected = 0.3 * old_move + 0.7 * beta_new * index_move
    assert result.portfolio_return == pytest.approx(expected, abs=1e-12)
    assert result.estimated
    assert "Estimated" in result.note and "NEW" in result.note and "OLD" not in result.note
    assert result.benchmark_return == pytest.approx(index_move, abs=1e-14)


def test_window_without_prices_or_index_is_omitted_with_note() -> None:
    index, late = _long_index()
    prices = pd.DataFrame({"NEW": late})
    before = StressWindow("Before", date(2010, 1, 4), date(2010, 2, 1))
    inside = StressWindow("Inside", late.index[5].date(), late.index[20].date())
    weights = pd.Series({"NEW": 1.0})
    results = stress.historical_scenarios(weights, prices, index, windows=[before, inside])
    assert [r.name for r in results] == ["Inside"]
    notes = stress.uncovered_window_notes(weights, prices, index, windows=[before, inside])
    assert len(notes) == 1 and "Before" in notes[0]


def test_short_overlap_assumes_beta_one() -> None:
    index, late = _long_index()
    prices = pd.DataFrame({"NEW": late.iloc[-10:]})  # 9 common returns < 20
    window = StressWindow("Early", index.index[10].date(), index.index[30].date())
    (result,) = stress.historical_scenarios(
        pd.Series({"NEW": 1.0}), prices, index, windows=[window]
    )
    assert result.portfolio_return == pytest.approx(index.iloc[30] / index.iloc[10] - 1)
    assert "assumed 1.0" in result.note


def test_default_windows_are_the_standard_peaks_and_troughs() -> None:
    names = [w.name for w in stress.HISTORICAL_WINDOWS]
    assert len(names) == 6 and len(set(names)) == 6
    gfc = stress.HISTORICAL_WINDOWS[1]
    assert (gfc.start, gfc.end) == (date(2007, 10, 9), date(2009, 3, 9))
    assert all(w.start < w.end for w in stress.HISTORICAL_WINDOWS)


def test_hypothetical_shocks_hand_checked() -> None:
    weights = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    betas = pd.Series({"A": 1.2, "B": 0.8, "C": np.nan})
    sectors = pd.Series(
        {"A": "Information Technology", "B": "Energy", "C": "Information Technology"}
    )
    results = stress.hypothetical_shocks(weights, betas, sectors, market_moves=(-0.1, -0.2))
    exposure = 0.5 * 1.2 + 0.3 * 0.8 + 0.2 * 1.0  # NaN beta -> 1.0
    assert [r.name for r in results] == [
        "Market -10%",
        "Market -20%",
        "Information Technology -30%",
        "Energy -30%",
    ]
    assert results[0].portfolio_return == pytest.approx(-0.1 * exposure, abs=1e-15)
    assert results[1].portfolio_return == pytest.approx(-0.2 * exposure, abs=1e-15)
    assert results[1].benchmark_return == -0.2
    assert "assumed 1.0" in results[0].note
    assert results[2].portfolio_return == pytest.approx(-0.3 * 0.7, abs=1e-15)
    assert results[3].portfolio_return == pytest.approx(-0.3 * 0.3, abs=1e-15)
    assert all(r.kind == "hypothetical" and not r.estimated for r in results)
    with pytest.raises(DataUnavailableError):
        stress.hypothetical_shocks(weights, betas.drop("B"), sectors)


# --------------------------------------------------------------------------- Monte Carlo
def _returns(n: int = 500, seed: int = 2) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.5, 0.2], [0.5, 1.5, 0.3], [0.2, 0.3, 0.8]]) * 1e-4
    values = rng.multivariate_normal([5e-4, 3e-4, 2e-4], cov, n)
    returns = pd.DataFrame(values, columns=["A", "B", "C"], index=pd.bdate_range("2021", periods=n))
    return returns, pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})


def _portfolio_moments(returns: pd.DataFrame, weights: pd.Series) -> tuple[float, float]:
    daily = returns.to_numpy() @ weights.to_numpy()
    return float(daily.mean()), float(daily.std(ddof=1))


def _quantile_se(p: float, n: int, density: float) -> float:
    return math.sqrt(p * (1 - p) / n) / density


@pytest.mark.parametrize("method", [MonteCarloMethod.NORMAL, MonteCarloMethod.STUDENT_T])
def test_one_day_quantiles_match_closed_form(method: MonteCarloMethod) -> None:
    returns, weights = _returns()
    m, s = _portfolio_moments(returns, weights)
    n = 20_000
    result = stress.monte_carlo(
        weights, returns, method=method, n_paths=n, horizon_days=1, seed=3, dof=5.0
    )
    if method is MonteCarloMethod.NORMAL:
        dist = norm(loc=m, scale=s)
    else:
        dist = student_t(df=5.0, loc=m, scale=s * math.sqrt(3 / 5))  # variance s^2
    assert dist.var() == pytest.approx(s**2, rel=1e-12)
    for p, got in result.percentiles.items():
        expected = dist.ppf(p)
        assert abs(got - expected) < 3 * _quantile_se(p, n, dist.pdf(expected)), p


def test_normal_terminal_value_mean_and_variance_match_closed_form() -> None:
    returns, weights = _returns()
    m, s = _portfolio_moments(returns, weights)
    n, horizon = 10_000, 252
    result = stress.monte_carlo(
        weights, returns, method=MonteCarloMethod.NORMAL, n_paths=n, horizon_days=horizon, seed=4
    )
    # i.i.d. daily returns: E[V_T] = (1+m)^T, E[V_T^2] = ((1+m)^2 + s^2)^T
    mean_value = (1 + m) ** horizon
    var_value = ((1 + m) ** 2 + s**2) ** horizon - mean_value**2
    assert abs(result.mean_return - (mean_value - 1)) < 4 * math.sqrt(var_value / n)
    # median of the value is within sampling error of the lognormal-approximation median
    median = result.fan[0.5].iloc[-1]
    log_sd = math.sqrt(horizon) * s
    assert median == pytest.approx(mean_value * math.exp(-(log_sd**2) / 2), rel=0.01)


def test_bootstrap_resamples_whole_historical_rows() -> None:
    returns, weights = _returns(n=50)
    daily = returns.to_numpy() @ weights.to_numpy()
    one_day = stress.monte_carlo(
        weights, returns, method=MonteCarloMethod.BOOTSTRAP, n_paths=2000, horizon_days=1, seed=5
    )
    fan_day1 = one_day.fan.iloc[1].to_numpy() - 1
    assert np.all(np.isclose(fan_day1[:, None], daily[None, :], atol=1e-15).any(axis=1))
    # perfectly offsetting assets: every resampled row nets to zero; column-wise resampling
    # would not
    x = returns["A"]
    hedged = pd.DataFrame({"X": x, "Y": -x})
    result = stress.monte_carlo(
        pd.Series({"X": 0.5, "Y": 0.5}),
        hedged,
        method=MonteCarloMethod.BOOTSTRAP,
        n_paths=200,
        horizon_days=30,
        seed=6,
    )
    assert max(abs(v) for v in result.percentiles.values()) < 1e-15


def test_bootstrap_mean_matches_exact_expectation() -> None:
    returns, weights = _returns(n=300)
    daily = returns.to_numpy() @ weights.to_numpy()
    n, horizon = 10_000, 60
    result = stress.monte_carlo(
        weights, returns, method=MonteCarloMethod.BOOTSTRAP, n_paths=n, horizon_days=horizon, seed=7
    )
    mean_value = (1 + daily.mean()) ** horizon
    var_value = np.mean((1 + daily) ** 2) ** horizon - mean_value**2
    assert abs(result.mean_return - (mean_value - 1)) < 4 * math.sqrt(var_value / n)


def test_monte_carlo_is_reproducible_and_well_formed() -> None:
    returns, weights = _returns()
    kwargs = {"n_paths": 500, "horizon_days": 20, "method": MonteCarloMethod.STUDENT_T}
    a = stress.monte_carlo(weights, returns, seed=11, **kwargs)
    b = stress.monte_carlo(weights, returns, seed=11, **kwargs)
    c = stress.monte_carlo(weights, returns, seed=12, **kwargs)
    pd.testing.assert_frame_equal(a.fan, b.fan)
    assert a.percentiles == b.percentiles and a.mean_return == b.mean_return
    assert a.percentiles != c.percentiles
    assert a.fan.shape == (21, 5)
    assert list(a.fan.columns) == [0.05, 0.25, 0.5, 0.75, 0.95]
    assert (a.fan.iloc[0] == 1.0).all()
    assert (a.fan.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    probs = [a.loss_probabilities[x] for x in (0.0, 0.1, 0.2, 0.3)]
    assert probs == sorted(probs, reverse=True)
    with pytest.raises(InputError):
        stress.monte_carlo(weights, returns, seed=1, method=MonteCarloMethod.STUDENT_T, dof=2.0)
    with pytest.raises(DataUnavailableError):
        stress.monte_carlo(pd.Series({"Z": 1.0}), returns, seed=1, method="normal")


# --------------------------------------------------------------------------- combined
def test_run_stress_tests_combines_everything() -> None:
    index, _ = _long_index(300)
    prices = pd.DataFrame({"A": index * 0.2 + 100, "B": index * 0.1 + 100})
    weights = pd.Series({"A": 0.6, "B": 0.4})
    sectors = pd.Series({"A": "Energy", "B": "Utilities"})
    params = dataclasses.replace(DEFAULT_PARAMS, mc_paths=300, mc_horizon_days=10, seed=9)
    window = StressWindow("Mid", index.index[100].date(), index.index[150].date())
    report = stress.run_stress_tests(
        weights, prices, index, sectors, index_history=None, params=params
    )
    assert [m.method for m in report.monte_carlo] == list(MonteCarloMethod)
    assert all(m.n_paths == 300 and m.horizon_days == 10 for m in report.monte_carlo)
    kinds = [s.kind for s in report.scenarios]
    assert kinds == ["hypothetical"] * 5  # the data covers none of the default windows
    betas = stress.holding_betas(prices, index)
    manual = stress.hypothetical_shocks(weights, betas, sectors)
    assert [s.portfolio_return for s in report.scenarios] == pytest.approx(
        [s.portfolio_return for s in manual], abs=1e-15
    )
    replay = stress.historical_scenarios(weights, prices, index, windows=[window])
    assert replay[0].portfolio_return == pytest.approx(
        float((weights * (prices.iloc[150] / prices.iloc[100] - 1)).sum()), abs=1e-14
    )


def test_monte_carlo_loss_levels_count_paths_independently() -> None:
    import numpy as np
    import pandas as pd

    from smallq.stress import monte_carlo
    from smallq.types import MonteCarloMethod

    rng = np.random.default_rng(1)
    returns = pd.DataFrame(rng.normal(0.0003, 0.012, size=(500, 2)), columns=["A", "B"])
    weights = pd.Series({"A": 0.5, "B": 0.5})
    levels = tuple(round(x / 100, 2) for x in range(0, 51, 5))
    result = monte_carlo(
        weights, returns, method=MonteCarloMethod.BOOTSTRAP, n_paths=500, horizon_days=252,
        seed=3, loss_levels=levels,
    )  # fmt: skip
    assert tuple(result.loss_probabilities) == levels
    daily = (returns * weights).sum(axis=1).to_numpy()
    draws = np.random.default_rng(3).integers(0, daily.size, size=(500, 252))
    terminal = np.prod(1 + daily[draws], axis=1) - 1
    for level, probability in result.loss_probabilities.items():
        assert probability == pytest.approx(np.mean(terminal < -level))


# --------------------------------------------------------------------------- arrays
def _beta_per_ticker(prices: pd.DataFrame, index: pd.Series) -> dict[str, float]:
    """Each ticker's beta as first written: join, drop NaNs, returns, OLS (pandas)."""
    from smallq.risk import beta

    betas = {}
    for ticker in prices.columns:
        joined = pd.concat([prices[ticker], index], axis=1, join="inner").dropna()
        rets = joined.pct_change(fill_method=None).dropna()
        enough = len(rets) >= stress.MIN_BETA_OBSERVATIONS
        betas[ticker] = beta(rets.iloc[:, 0], rets.iloc[:, 1]) if enough else math.nan
    return betas


def _window_return_of(series: pd.Series, window: StressWindow) -> float | None:
    series = series.dropna()
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    if series.empty or series.index[0] > start or series.index[-1] < end:
        return None
    return float(series.loc[:end].iloc[-1] / series.loc[:start].iloc[-1] - 1.0)


def test_betas_and_window_returns_equal_per_series_computations() -> None:
    index, late = _long_index(300)
    rng = np.random.default_rng(9)
    prices = pd.DataFrame(
        {t: index * rng.uniform(0.05, 0.2) + rng.normal(0, 2, len(index)) for t in "ABCD"}
    )
    prices["B"] = late  # starts late: 61 prices
    prices.iloc[40:60, 2] = np.nan  # a gap
    prices.iloc[:290, 3] = np.nan  # 10 prices: too few for a beta
    other_calendar = index.drop(index.index[100:110])
    got = stress.holding_betas(prices, other_calendar)
    expected = _beta_per_ticker(prices, other_calendar)
    assert np.isnan(got["D"]) and np.isnan(expected["D"])
    assert got.drop("D").to_dict() == pytest.approx(
        {t: v for t, v in expected.items() if t != "D"}, rel=1e-13
    )
    windows = [
        StressWindow("Early", index.index[10].date(), index.index[50].date()),
        StressWindow("Weekend start", date(2015, 5, 2), index.index[200].date()),
        StressWindow("Late", index.index[245].date(), index.index[299].date()),
        StressWindow("Before the data", date(2010, 1, 4), date(2010, 3, 1)),
    ]
    rows = stress._window_returns(prices, windows)
    for window, row in zip(windows, rows, strict=True):
        assert row == [_window_return_of(prices[t], window) for t in prices.columns]


def test_betas_on_the_index_calendar_equal_those_through_a_join() -> None:
    """Prices already on the index's calendar skip the join: the same betas exactly."""
    index, _ = _long_index(300)
    rng = np.random.default_rng(4)
    prices = pd.DataFrame({t: index * rng.uniform(0.05, 0.2) for t in "ABC"})
    prices.iloc[40:60, 1] = np.nan
    same = stress.holding_betas(prices, index)  # equal calendars: no join
    joined = stress.holding_betas(prices, index.iloc[::-1])  # another order: joined
    pd.testing.assert_series_equal(same, joined, rtol=0, atol=0)
