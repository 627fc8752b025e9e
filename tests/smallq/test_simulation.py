"""The Monte Carlo's fast path equals the simulation as first written, bit for bit.

* :func:`smallq.simulation.monte_carlo` (paths compounded a day at a time, quantiles from
  sorted rows) and :func:`smallq.simulation.terminal_returns` against one
  ``(n_paths, horizon_days)`` array and ``numpy.quantile``, for every method;
* :func:`smallq.simulation.sorted_quantiles` against ``numpy.quantile``;
* a report's one method plus :func:`smallq.simulation.simulate_methods` against every method
  run by :func:`smallq.stress.run_stress_tests`.

The closed-form checks of the simulations are in ``tests/smallq/test_stress.py``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from smallq import simulation, stress
from smallq.models import MonteCarloResult
from smallq.params import DEFAULT_PARAMS
from smallq.types import MonteCarloMethod
from tests.smallq.test_stress import _long_index, _returns


def _every_path_at_once(
    daily: np.ndarray, method: MonteCarloMethod, n_paths: int, horizon: int, seed: int, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """The simulation as first written: one (n_paths, horizon) array, then numpy.quantile."""
    rng = np.random.default_rng(seed)
    shape = (n_paths, horizon)
    if method is MonteCarloMethod.BOOTSTRAP:
        simulated = daily[rng.integers(0, daily.size, size=shape)]
    else:
        mean, std = float(daily.mean()), float(daily.std(ddof=1))
        if method is MonteCarloMethod.NORMAL:
            simulated = rng.normal(mean, std, size=shape)
        else:
            simulated = mean + std * math.sqrt(3.0 / 5.0) * rng.standard_t(5.0, size=shape)
    values = np.cumprod(np.maximum(simulated, -1.0) + 1.0, axis=1)
    days = np.unique(np.r_[np.arange(step, horizon + 1, step), horizon])
    fan = np.quantile(values[:, days - 1], simulation.DEFAULT_BANDS, axis=0).T
    return fan, values[:, -1] - 1.0


@pytest.mark.parametrize("method", list(MonteCarloMethod))
@pytest.mark.parametrize(
    ("n_paths", "horizon", "step"), [(2_000, 252, 5), (777, 30, 1), (1, 1, 1), (513, 40, 7)]
)
def test_simulation_equals_simulating_every_path_at_once(
    method: MonteCarloMethod, n_paths: int, horizon: int, step: int
) -> None:
    returns, weights = _returns(n=300)
    returns.iloc[5, 0] = -3.0  # a day below -100%: floored
    daily = returns.to_numpy() @ weights.to_numpy()
    result = simulation.monte_carlo(
        weights, returns, method=method, n_paths=n_paths, horizon_days=horizon, seed=21,
        fan_step_days=step,
    )  # fmt: skip
    fan, terminal = _every_path_at_once(daily, method, n_paths, horizon, 21, step)
    # the same numbers, bit for bit: the same draws, products and quantiles
    np.testing.assert_array_equal(result.fan.to_numpy()[1:], fan)
    assert result.mean_return == float(terminal.mean())
    assert result.percentiles == {
        q: float(np.quantile(terminal, q)) for q in simulation.DEFAULT_PERCENTILES
    }
    assert result.loss_probabilities == {
        x: float(np.mean(terminal < -x)) for x in simulation.LOSS_THRESHOLDS
    }
    alone = simulation.terminal_returns(
        daily, method, n_paths=n_paths, horizon_days=horizon, seed=21
    )  # without the fan: the same paths
    np.testing.assert_array_equal(alone, terminal)


def test_sorted_quantiles_equal_numpy_quantile_bit_for_bit() -> None:
    rng = np.random.default_rng(8)
    quantiles = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0, 1 / 3]
    for shape in [(7, 10_000), (3, 1), (2, 2), (5, 17)]:
        values = rng.lognormal(0.0, 0.3, size=shape)
        values[0, : shape[1] // 2] = 1.0  # ties
        expected = np.quantile(values, quantiles, axis=1).T
        np.testing.assert_array_equal(
            simulation.sorted_quantiles(np.sort(values, axis=1), quantiles), expected
        )
    with_nan = rng.normal(size=(2, 9))
    with_nan[1, 4] = np.nan
    got = simulation.sorted_quantiles(np.sort(with_nan, axis=1), quantiles)
    np.testing.assert_array_equal(got, np.quantile(with_nan, quantiles, axis=1).T)


def test_report_runs_one_method_and_simulate_methods_adds_the_others_unchanged() -> None:
    index, _ = _long_index(400)
    rng = np.random.default_rng(4)
    noise = pd.DataFrame(rng.normal(0, 0.01, (400, 2)), index=index.index, columns=["A", "B"])
    prices = 50 * (1 + noise.add(index.pct_change().fillna(0.0), axis=0)).cumprod()
    weights, sectors = pd.Series({"A": 0.7, "B": 0.3}), pd.Series({"A": "Energy", "B": "Energy"})
    params = dataclasses.replace(DEFAULT_PARAMS, mc_paths=1_500, seed=5)
    options = {"index_history": None, "params": params}
    every = stress.run_stress_tests(weights, prices, index, sectors, **options)  # type: ignore[arg-type]
    report = stress.run_stress_tests(
        weights, prices, index, sectors, methods=simulation.REPORT_MONTE_CARLO, **options  # type: ignore[arg-type]
    )
    assert [m.method for m in report.monte_carlo] == [MonteCarloMethod.BOOTSTRAP]
    assert report.scenarios == every.scenarios
    added = simulation.simulate_methods(report, params)
    assert [m.method for m in added.monte_carlo] == list(MonteCarloMethod)
    assert added.monte_carlo[0] is report.monte_carlo[0]  # kept, not simulated again
    for got, expected in zip(added.monte_carlo, every.monte_carlo, strict=True):
        pd.testing.assert_frame_equal(got.fan, expected.fan)
        assert (got.percentiles, got.loss_probabilities, got.mean_return) == (
            expected.percentiles, expected.loss_probabilities, expected.mean_return,
        )  # fmt: skip
    # precomputed returns give the same simulations
    returns = prices.pct_change().iloc[1:]
    given = stress.run_stress_tests(weights, prices, index, sectors, returns=returns, **options)  # type: ignore[arg-type]
    assert given.monte_carlo[2].percentiles == every.monte_carlo[2].percentiles
    # without the daily returns (a stored or fake report) nothing can be added
    bare = dataclasses.replace(report, daily_returns=None)
    assert simulation.simulate_methods(bare, params) is bare


@pytest.mark.parametrize("n_days", [300, 40_000])
def test_bootstrap_rows_are_the_draws_of_the_seed(n_days: int) -> None:
    """The kept row numbers equal a fresh draw of the seed, by day, and cannot be changed."""
    simulation.bootstrap_rows.cache_clear()
    rows = simulation.bootstrap_rows(7, n_days, 513, 40)
    drawn = np.random.default_rng(7).integers(0, n_days, size=(513, 40))
    np.testing.assert_array_equal(rows, drawn.T)
    assert rows.flags.c_contiguous and not rows.flags.writeable
    assert simulation.bootstrap_rows(7, n_days, 513, 40) is rows  # drawn once
    with pytest.raises(ValueError, match="read-only"):
        rows[0, 0] = 1


def test_a_second_simulation_from_kept_rows_equals_the_first() -> None:
    """A simulation drawing its rows afresh and one reusing them give the same numbers."""
    returns, weights = _returns(n=300)

    def simulate(scaled: float) -> MonteCarloResult:
        return simulation.monte_carlo(
            weights * scaled, returns, method=MonteCarloMethod.BOOTSTRAP, n_paths=1_000,
            horizon_days=60, seed=5,
        )  # fmt: skip

    simulation.bootstrap_rows.cache_clear()
    fresh, other, kept = simulate(1.0), simulate(0.5), simulate(1.0)
    assert simulation.bootstrap_rows.cache_info().hits == 2
    pd.testing.assert_frame_equal(kept.fan, fresh.fan)
    assert kept.percentiles == fresh.percentiles
    assert kept.loss_probabilities == fresh.loss_probabilities
    assert other.percentiles != fresh.percentiles
