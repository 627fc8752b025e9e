"""Monte Carlo simulation of a portfolio's value over a horizon (a stress test).

Pure functions on numpy and pandas objects. Conventions:

* The simulation holds the portfolio at fixed weights, **rebalanced daily**, so only its
  daily return ``w' r`` is needed. Bootstrap resamples whole historical days (rows,
  so the cross-correlation is kept) i.i.d.; for the multivariate normal and the multivariate
  Student-t (covariance-matched: ``cov = scale * dof / (dof - 2)``) with the sample mean and
  covariance of the daily returns, ``w' r`` is exactly a univariate normal / Student-t with
  mean ``w' mu`` and variance ``w' cov w``, which is what is drawn. Memory is
  ``O(n_paths * horizon_days)``, independent of the number of assets. Simulated daily returns
  are floored at -100%. The paths are compounded a day at a time (the running values of
  every path stay in the CPU cache) from the draws of one ``(n_paths, horizon_days)`` array,
  so the results are those of simulating every path at once, bit for bit. The bootstrap's
  row numbers depend on the seed, the number of days and the shape only: a process draws
  them once (:func:`bootstrap_rows`) for every simulation that shares these.
* **Which simulations**: a report runs :data:`REPORT_MONTE_CARLO` (bootstrap: the one its
  chart and text show); the stress views (the bot's /stress, the dashboard's Stress page) add
  the other methods from the same daily returns with :func:`simulate_methods`, each with the
  same seed as in a build, so a method's numbers do not depend on where it was run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from smallq import risk
from smallq.errors import InputError, InsufficientHistoryError
from smallq.models import MonteCarloResult, StressReport
from smallq.params import EngineParams
from smallq.types import MonteCarloMethod

#: quantiles of the value paths drawn as the fan's bands
DEFAULT_BANDS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: quantiles of the terminal return
DEFAULT_PERCENTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: losses whose probability is given (fractions)
LOSS_THRESHOLDS: tuple[float, ...] = (0.0, 0.10, 0.20, 0.30)
#: the report's fan is drawn from weekly quantiles (every 5th trading day and the last day)
REPORT_FAN_STEP_DAYS: int = 5
#: the one simulation a report runs: the one its chart and text show (the stress views add
#: the others with :func:`simulate_methods`)
REPORT_MONTE_CARLO: tuple[MonteCarloMethod, ...] = (MonteCarloMethod.BOOTSTRAP,)


def _growth_by_day(
    method: MonteCarloMethod,
    daily: np.ndarray,
    seed: int,
    shape: tuple[int, int],
    dof: float,
) -> Iterator[np.ndarray]:
    """Daily growth factors ``1 + max(r, -1)`` of every path, one day at a time (n_paths,).

    The draws are those of one ``shape`` array (paths by days) in row order, drawn at once
    by ``numpy.random.default_rng(seed)``; it is read a day (a column) at a time, so a path's
    value is compounded in day order and only the running values need to stay in the CPU
    cache (the bootstrap reads its growth factors through the drawn row numbers,
    :func:`bootstrap_rows`, without an array of them).
    """
    n_paths, horizon_days = shape
    if method is MonteCarloMethod.BOOTSTRAP:
        by_day = bootstrap_rows(seed, daily.size, n_paths, horizon_days)
        growth = np.maximum(daily, -1.0) + 1.0  # the floor and the +1 of every draw, once
        factors = np.empty(n_paths)
        for rows in by_day:  # "clip": the rows are valid, and numpy writes into factors
            yield np.take(growth, rows, out=factors, mode="clip")
        return
    rng = np.random.default_rng(seed)
    mean, std = float(daily.mean()), float(daily.std(ddof=1))
    if method is MonteCarloMethod.NORMAL:
        drawn = rng.normal(mean, std, size=shape)
    else:
        drawn = mean + std * math.sqrt((dof - 2.0) / dof) * rng.standard_t(dof, size=shape)
    np.maximum(drawn, -1.0, out=drawn)
    drawn += 1.0
    yield from drawn.T


@functools.lru_cache(maxsize=2)
def bootstrap_rows(seed: int, n_days: int, n_paths: int, horizon_days: int) -> np.ndarray:
    """The bootstrap's drawn row numbers by day, shape (horizon_days, n_paths), read-only.

    ``numpy.random.default_rng(seed).integers(0, n_days, size=(n_paths, horizon_days))``,
    transposed into a contiguous array of the smallest integer type that holds ``n_days``.
    They depend on the seed, the number of days and the shape only, not on the returns, so
    a process draws them once for the builds that share these (every build of one look-back,
    the five levels of ``smallq levels``); drawing them is most of a simulation's cost
    (about 10 ms of 10,000 paths by 252 days). At most two sets are kept (5 MB each at the
    default shape with ``n_days`` below 32,768).
    """
    drawn = np.random.default_rng(seed).integers(0, n_days, size=(n_paths, horizon_days))
    dtype = np.int16 if n_days <= np.iinfo(np.int16).max else np.intp
    by_day = np.ascontiguousarray(drawn.T, dtype=dtype)
    by_day.flags.writeable = False
    return by_day


def sorted_quantiles(ordered: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``numpy.quantile(..., method="linear")`` along the last axis of an array sorted on it.

    The same order statistics and interpolation as numpy (``(n - 1) q``, then numpy's
    ``_lerp``), so the same numbers bit for bit; a full sort of each row costs less than
    numpy's partition around several quantiles at once.

    Parameters
    ----------
    ordered : ndarray of shape (..., n)
        Sorted ascending along the last axis (NaNs last, as ``numpy.sort`` puts them).
    quantiles : sequence of float
        In ``[0, 1]``.

    Returns
    -------
    ndarray of shape (..., len(quantiles))
        NaN along a row holding a NaN, as numpy gives.
    """
    n = ordered.shape[-1]
    virtual = (n - 1) * np.asarray(quantiles, dtype=float)
    below = np.floor(virtual)
    low = ordered[..., np.clip(below, 0, n - 1).astype(np.intp)]
    high = ordered[..., np.clip(below + 1, 0, n - 1).astype(np.intp)]
    gamma = virtual - below
    difference = high - low
    result: np.ndarray = low + difference * gamma
    np.subtract(high, difference * (1 - gamma), out=result, where=gamma >= 0.5)
    result[np.isnan(ordered[..., -1])] = np.nan
    return result


def _value_paths(
    method: MonteCarloMethod,
    daily: np.ndarray,
    seed: int,
    shape: tuple[int, int],
    dof: float,
    fan_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Path values (start 1.0) on ``fan_days`` (1-based), shape (n_fan_days, n_paths), and last.

    Each value is the running product of its path's growth factors in day order, the
    products ``numpy.cumprod`` forms along a path, so the same numbers bit for bit.
    """
    values = np.ones(shape[0])
    on_fan_days = np.empty((len(fan_days), shape[0]))
    fan = iter(enumerate(fan_days))
    position, fan_day = next(fan, (0, 0))
    for day, growth in enumerate(_growth_by_day(method, daily, seed, shape, dof), start=1):
        values *= growth
        if day == fan_day:
            on_fan_days[position] = values
            position, fan_day = next(fan, (0, 0))
    return on_fan_days, values


def terminal_returns(
    daily: np.ndarray,
    method: MonteCarloMethod,
    *,
    n_paths: int,
    horizon_days: int,
    seed: int,
    dof: float = 5.0,
) -> np.ndarray:
    """The simulated paths' returns over the whole horizon, without the value fan.

    The same draws and products as :func:`monte_carlo` with the same arguments, so its
    ``percentiles`` are quantiles of these, bit for bit.

    Parameters
    ----------
    daily : ndarray of shape (n_days,)
        The portfolio's daily returns (at least 2).
    method : MonteCarloMethod
    n_paths, horizon_days, seed : int
    dof : float, default=5.0

    Returns
    -------
    ndarray of shape (n_paths,)
        Terminal returns (negative is a loss).
    """
    shape, last_day = (n_paths, horizon_days), np.array([horizon_days])
    terminal: np.ndarray = _value_paths(method, daily, seed, shape, dof, last_day)[1] - 1.0
    return terminal


def _simulate(
    daily: np.ndarray,
    method: MonteCarloMethod,
    *,
    n_paths: int,
    horizon_days: int,
    seed: int,
    dof: float,
    bands: Sequence[float],
    percentiles: Sequence[float],
    fan_step_days: int,
    loss_levels: Sequence[float],
) -> MonteCarloResult:
    """:func:`monte_carlo` on the portfolio's daily returns."""
    if n_paths < 1 or horizon_days < 1:
        raise InputError("n_paths and horizon_days must be at least 1", field="monte_carlo")
    if method is MonteCarloMethod.STUDENT_T and dof <= 2.0:
        raise InputError(f"Student-t dof must exceed 2, got {dof}", field="dof")
    if daily.size < 2:
        raise InsufficientHistoryError(daily.size, 2, "return history")
    days = np.unique(
        np.r_[np.arange(fan_step_days, horizon_days + 1, max(1, fan_step_days)), horizon_days]
    )
    on_fan_days, last = _value_paths(method, daily, seed, (n_paths, horizon_days), dof, days)
    on_fan_days.sort(axis=1)
    fan = np.vstack([np.ones(len(bands)), sorted_quantiles(on_fan_days, bands)])
    terminal = last - 1.0
    terminal_quantiles = sorted_quantiles(np.sort(terminal), percentiles)
    return MonteCarloResult(
        method=method,
        n_paths=n_paths,
        horizon_days=horizon_days,
        mean_return=float(terminal.mean()),
        percentiles={
            float(q): float(v) for q, v in zip(percentiles, terminal_quantiles, strict=True)
        },
        loss_probabilities={x: float(np.mean(terminal < -x)) for x in loss_levels},
        fan=pd.DataFrame(fan, index=pd.Index(np.r_[0, days], name="day"), columns=bands),
    )


def monte_carlo(
    weights: pd.Series,
    returns: pd.DataFrame,
    *,
    method: MonteCarloMethod,
    n_paths: int = 10_000,
    horizon_days: int = 252,
    seed: int,
    dof: float = 5.0,
    bands: Sequence[float] = DEFAULT_BANDS,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    fan_step_days: int = 1,
    loss_levels: Sequence[float] = LOSS_THRESHOLDS,
) -> MonteCarloResult:
    """Simulate value paths of the daily-rebalanced portfolio (see the module docstring).

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
    returns : DataFrame of shape (n_days, n_assets)
        Historical simple daily returns; days where a held ticker is NaN are dropped.
    method : MonteCarloMethod
    n_paths, horizon_days : int
    seed : int
        Seed of ``numpy.random.default_rng``; equal inputs give equal results.
    dof : float, default=5.0
        Degrees of freedom of the Student-t (must exceed 2).
    bands : sequence of float
        Quantiles of the value paths stored in ``fan`` (columns).
    percentiles : sequence of float
        Quantiles of the terminal return stored in ``percentiles``.
    fan_step_days : int, default=1
        The fan's quantiles are taken every ``fan_step_days`` days (and on the last day):
        a chart a phone shows 300 points wide draws a weekly fan (5) as it draws a daily one.
        The terminal percentiles and loss probabilities always use every path's last day.
    loss_levels : sequence of float
        Losses ``x`` (fractions) whose ``P(terminal return < -x)`` is stored in
        ``loss_probabilities``.

    Returns
    -------
    MonteCarloResult
        ``fan`` has one row per fan day (index ``day``: 0, ``fan_step_days``, ...,
        ``horizon_days``), ``len(bands)`` columns, row 0 equal to 1.0.

    Raises
    ------
    DataUnavailableError
        When a held ticker has no returns column.
    InsufficientHistoryError
        Fewer than 2 usable days.
    InputError
        ``n_paths`` or ``horizon_days`` below 1, or ``dof <= 2`` for Student-t.
    """
    daily = risk.portfolio_returns(returns, weights[weights != 0]).to_numpy(dtype=float)
    return _simulate(
        daily,
        MonteCarloMethod.parse(method),
        n_paths=n_paths,
        horizon_days=horizon_days,
        seed=seed,
        dof=dof,
        bands=bands,
        percentiles=percentiles,
        fan_step_days=fan_step_days,
        loss_levels=loss_levels,
    )


def _simulate_with(
    daily: pd.Series, method: MonteCarloMethod, params: EngineParams
) -> MonteCarloResult:
    """One simulation of a report (or a stress view) with the engine's settings."""
    return _simulate(
        daily.to_numpy(dtype=float),
        method,
        n_paths=params.mc_paths,
        horizon_days=params.mc_horizon_days,
        seed=params.seed,
        dof=params.mc_student_t_dof,
        bands=DEFAULT_BANDS,
        percentiles=DEFAULT_PERCENTILES,
        fan_step_days=REPORT_FAN_STEP_DAYS,
        loss_levels=params.mc_loss_levels,
    )


def simulate_methods(
    stress: StressReport,
    params: EngineParams,
    methods: Sequence[MonteCarloMethod] = tuple(MonteCarloMethod),
) -> StressReport:
    """The stress report with a Monte Carlo result for each of ``methods`` as well.

    The stress views run every method where a report ran one (:data:`REPORT_MONTE_CARLO`).
    The new simulations draw from the report's ``daily_returns`` with the settings a build
    uses, so each equals what :func:`smallq.stress.run_stress_tests` gives for that method.

    Parameters
    ----------
    stress : StressReport
        A report's stress results; returned unchanged when it has no ``daily_returns``.
    params : EngineParams
        The parameters of the build (``mc_paths``, ``mc_horizon_days``, ``seed``,
        ``mc_student_t_dof``, ``mc_loss_levels``).
    methods : sequence of MonteCarloMethod, default=every method

    Returns
    -------
    StressReport
        Results in :class:`MonteCarloMethod` order; those already present are kept.
    """
    if stress.daily_returns is None:
        return stress
    have = {result.method: result for result in stress.monte_carlo}
    wanted = [m for m in MonteCarloMethod if m in have or m in methods]
    simulations = tuple(
        have[m] if m in have else _simulate_with(stress.daily_returns, m, params) for m in wanted
    )
    return replace(stress, monte_carlo=simulations)
