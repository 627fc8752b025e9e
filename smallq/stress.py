"""Stress tests: historical crisis replays, hypothetical shocks and Monte Carlo simulation.

Pure functions on pandas objects. Every return is a simple return over the scenario
(negative is a loss). Conventions:

* **Historical replay** holds the current weights **buy-and-hold from the window start**:
  ``sum_i w_i (P_i(end) / P_i(start) - 1)``, with each price taken as the last close on or
  before the date. A holding whose prices do not cover the whole window (first price after the
  start or last price before the end) is instead estimated as ``beta_i * R_index``, with
  ``beta_i`` estimated on the daily returns it shares with the index history and ``R_index``
  the index's return over the window; such a scenario is ``estimated=True`` with a note naming
  the estimated holdings. A window the index does not cover either, while some holding needs
  the estimate, is **omitted** (:func:`uncovered_window_notes` gives the notes to show).
* **Hypothetical shocks**: a market move ``x`` gives ``sum_i w_i beta_i x``; a sector move
  drops every holding in that one sector by ``sector_move`` and leaves the others unchanged.
* **Monte Carlo** simulates the portfolio held at fixed weights and **rebalanced daily**, so
  only its daily return ``w' r`` is needed. Bootstrap resamples whole historical days (rows,
  so the cross-correlation is kept) i.i.d.; for the multivariate normal and the multivariate
  Student-t (covariance-matched: ``cov = scale * dof / (dof - 2)``) with the sample mean and
  covariance of the daily returns, ``w' r`` is exactly a univariate normal / Student-t with
  mean ``w' mu`` and variance ``w' cov w``, which is what is drawn. Memory is
  ``O(n_paths * horizon_days)``, independent of the number of assets. Simulated daily returns
  are floored at -100%. The paths are compounded a block of :data:`BLOCK_PATHS` at a time
  (the block stays in the CPU cache) from the draws of one ``(n_paths, horizon_days)`` array,
  so the results are those of simulating every path at once, bit for bit.
* **Which simulations**: a report runs :data:`REPORT_MONTE_CARLO` (bootstrap: the one its
  chart and text show); the stress views (the bot's /stress, the dashboard's Stress page) add
  the other methods from the same daily returns with :func:`simulate_methods`, each with the
  same seed as in a build, so a method's numbers do not depend on where it was run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from smallq import risk
from smallq.errors import DataUnavailableError, InputError, InsufficientHistoryError
from smallq.models import MonteCarloResult, ScenarioResult, StressReport
from smallq.params import EngineParams
from smallq.types import MonteCarloMethod

#: fewest common daily returns to estimate a holding's beta; below it beta 1.0 is assumed
MIN_BETA_OBSERVATIONS: int = 20
DEFAULT_BANDS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
DEFAULT_PERCENTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
LOSS_THRESHOLDS: tuple[float, ...] = (0.0, 0.10, 0.20, 0.30)


@dataclass(frozen=True, slots=True)
class StressWindow:
    """A named historical crisis window (S&P 500 closing peak to closing trough)."""

    name: str
    start: date
    end: date


#: The 2011 window runs from the local high before the debt-ceiling/downgrade sell-off
#: (2011-07-07) to the October trough (2011-10-03), about -19% for the S&P 500.
HISTORICAL_WINDOWS: tuple[StressWindow, ...] = (
    StressWindow("Dot-com crash 2000–02", date(2000, 3, 24), date(2002, 10, 9)),
    StressWindow("Global financial crisis 2008", date(2007, 10, 9), date(2009, 3, 9)),
    StressWindow("US downgrade Aug 2011", date(2011, 7, 7), date(2011, 10, 3)),
    StressWindow("Q4 2018 sell-off", date(2018, 9, 20), date(2018, 12, 24)),
    StressWindow("COVID crash 2020", date(2020, 2, 19), date(2020, 3, 23)),
    StressWindow("2022 bear market", date(2022, 1, 3), date(2022, 10, 12)),
)


# --------------------------------------------------------------------------- helpers
def _held(weights: pd.Series, available: pd.Index, what: str) -> pd.Series:
    held = weights[weights > 0]
    missing = [t for t in held.index if t not in available]
    if missing:
        raise DataUnavailableError(missing, f"no {what} for a held ticker")
    return held


def _window_returns(
    closes: pd.DataFrame, windows: Sequence[StressWindow]
) -> list[list[float | None]]:
    """Each column's return over each window, or None where its prices do not cover it.

    The return runs from the last close on or before the start to the last close on or
    before the end (NaNs skipped); a column covers a window when its first price is on or
    before the start and its last on or after the end.

    Parameters
    ----------
    closes : DataFrame of shape (n_days, n_columns)
        Dated closes, any calendar (sorted here when it is not).
    windows : sequence of StressWindow

    Returns
    -------
    list of list
        ``result[k][j]``: window ``k``, column ``j``.
    """
    if not closes.index.is_monotonic_increasing:
        closes = closes.sort_index()
    dates, values = closes.index, closes.to_numpy(dtype=float)
    spans = [(pd.Timestamp(w.start), pd.Timestamp(w.end)) for w in windows]
    # the last row on or before each start and end
    rows_at = [
        (dates.searchsorted(a, "right") - 1, dates.searchsorted(b, "right") - 1) for a, b in spans
    ]
    results: list[list[float | None]] = [[None] * values.shape[1] for _ in windows]
    for j in range(values.shape[1]):
        priced = np.flatnonzero(~np.isnan(values[:, j]))
        if not priced.size:
            continue
        first, last = dates[priced[0]], dates[priced[-1]]
        for k, ((start, end), (at_start, at_end)) in enumerate(zip(spans, rows_at, strict=True)):
            if first <= start and last >= end:  # covered: a price on or before the start
                begin = priced[np.searchsorted(priced, at_start, "right") - 1]
                close = priced[np.searchsorted(priced, at_end, "right") - 1]
                results[k][j] = float(values[close, j] / values[begin, j] - 1.0)
    return results


def holding_betas(prices: pd.DataFrame, index_level: pd.Series) -> pd.Series:
    """Beta of each column's daily returns to the index on the dates both have.

    Each column's returns run between its consecutive days with both a price and an index
    level (so a missing price joins the days around it, as for the index), and the beta is
    :func:`smallq.risk.ols_beta` of those returns.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
    index_level : Series
        Index (or benchmark) level; any calendar, only common dates are used.

    Returns
    -------
    Series of shape (n_assets,)
        NaN where fewer than :data:`MIN_BETA_OBSERVATIONS` common returns exist.

    Raises
    ------
    DataFormatError
        When the index is constant over a column's common dates.
    """
    joined = pd.concat([prices, index_level.rename("__index__")], axis=1, join="inner")
    values = joined.to_numpy(dtype=float)
    level = values[:, -1]
    betas = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, ticker in enumerate(prices.columns):
            both = ~(np.isnan(values[:, j]) | np.isnan(level))
            asset, index = values[both, j], level[both]
            asset_returns = asset[1:] / asset[:-1] - 1.0
            index_returns = index[1:] / index[:-1] - 1.0
            kept = ~(np.isnan(asset_returns) | np.isnan(index_returns))
            enough = int(kept.sum()) >= MIN_BETA_OBSERVATIONS
            betas[ticker] = (
                risk.ols_beta(asset_returns[kept], index_returns[kept]) if enough else math.nan
            )
    return pd.Series(betas, index=prices.columns, dtype=float, name="beta")


def _beta_note(defaulted: Sequence[str]) -> str:
    if not defaulted:
        return ""
    return f" Too little history for the beta of {', '.join(defaulted)}: assumed 1.0."


# --------------------------------------------------------------------------- historical
def _replay(
    held: pd.Series,
    returns: dict[str, float | None],
    index_return: float | None,
    betas: pd.Series,
    window: StressWindow,
) -> ScenarioResult:
    missing = [t for t, r in returns.items() if r is None]
    total, note = 0.0, ""
    for ticker, weight in held.items():
        move = returns[str(ticker)]
        if move is None:
            assert index_return is not None  # guaranteed by _coverage
            move = (1.0 if math.isnan(betas[ticker]) else float(betas[ticker])) * index_return
        total += float(weight) * move
    if missing:
        who = "every holding" if len(missing) == len(held) else ", ".join(missing)
        defaulted = [t for t in missing if math.isnan(betas[t])]
        note = (
            f"Estimated: no prices cover this window for {who}; "
            f"estimated as beta × the index's {index_return:.1%} move." + _beta_note(defaulted)
        )
    return ScenarioResult(
        name=window.name,
        kind="historical",
        portfolio_return=total,
        benchmark_return=index_return,
        estimated=bool(missing),
        start=window.start,
        end=window.end,
        note=note,
    )


def _coverage(
    held: pd.Series,
    prices: pd.DataFrame,
    index_history: pd.Series,
    windows: Sequence[StressWindow],
) -> list[tuple[StressWindow, dict[str, float | None], float | None, bool]]:
    """For each window: per-holding returns (None if uncovered), index return, replayability."""
    tickers = [str(t) for t in held.index]
    holdings = _window_returns(prices[list(held.index)], windows)
    index = _window_returns(index_history.to_frame(), windows)
    covered = []
    for window, row, (index_return,) in zip(windows, holdings, index, strict=True):
        returns = dict(zip(tickers, row, strict=True))
        usable = index_return is not None or all(r is not None for r in row)
        covered.append((window, returns, index_return, usable))
    return covered


def historical_scenarios(
    weights: pd.Series,
    prices: pd.DataFrame,
    index_history: pd.Series,
    *,
    windows: Sequence[StressWindow] = HISTORICAL_WINDOWS,
) -> tuple[ScenarioResult, ...]:
    """Replay the current weights through each historical crisis window.

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
        Current weights; only positive weights are held.
    prices : DataFrame of shape (n_days, n_assets)
        Every price available for the holdings (any length).
    index_history : Series
        A long index level history (e.g. the S&P 500 since 1990): the benchmark return of each
        window and the estimate for holdings without prices there.
    windows : sequence of StressWindow, default=HISTORICAL_WINDOWS

    Returns
    -------
    tuple of ScenarioResult
        ``kind="historical"``, in window order; uncoverable windows are omitted.

    Raises
    ------
    DataUnavailableError
        When a held ticker is not a column of ``prices``.
    """
    held = _held(weights, prices.columns, "prices")
    covered = [c for c in _coverage(held, prices, index_history, windows) if c[3]]
    need = sorted({t for c in covered for t, r in c[1].items() if r is None})
    betas = holding_betas(prices[need], index_history) if need else pd.Series(dtype=float)
    return tuple(_replay(held, rets, index_ret, betas, w) for w, rets, index_ret, _ in covered)


def uncovered_window_notes(
    weights: pd.Series,
    prices: pd.DataFrame,
    index_history: pd.Series,
    *,
    windows: Sequence[StressWindow] = HISTORICAL_WINDOWS,
) -> tuple[str, ...]:
    """Notes for the windows :func:`historical_scenarios` omits (no prices and no index)."""
    held = _held(weights, prices.columns, "prices")
    return tuple(
        f"Stress scenario {w.name!r} skipped: neither the holdings' prices nor the index "
        f"history cover {w.start:%Y-%m-%d} to {w.end:%Y-%m-%d}."
        for w, _, _, usable in _coverage(held, prices, index_history, windows)
        if not usable
    )


# --------------------------------------------------------------------------- hypothetical
def hypothetical_shocks(
    weights: pd.Series,
    betas: pd.Series,
    sectors: pd.Series,
    *,
    market_moves: Sequence[float] = (-0.10, -0.20, -0.30),
    sector_move: float = -0.30,
) -> tuple[ScenarioResult, ...]:
    """What-if shocks: market moves through beta, and one sector at a time falling.

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
    betas : Series by ticker
        Each holding's beta to the market; NaN is taken as 1.0 (noted).
    sectors : Series by ticker
        Sector name of each holding; missing ones are grouped as "Unclassified".
    market_moves : sequence of float
        Market returns, e.g. -0.10 for a 10% fall: the portfolio return is ``sum w_i beta_i x``.
    sector_move : float
        Return of every holding in the shocked sector (others unchanged); one scenario per
        sector held, largest sector weight first.

    Returns
    -------
    tuple of ScenarioResult
        ``kind="hypothetical"``, ``estimated=False``.

    Raises
    ------
    DataUnavailableError
        When a held ticker has no entry in ``betas``.
    """
    held = _held(weights, betas.index, "beta")
    beta = betas.reindex(held.index).astype(float)
    defaulted = [t for t in held.index if math.isnan(beta[t])]
    beta = beta.fillna(1.0)
    exposure = float((held * beta).sum())
    note = "Each holding moves by its beta times the market move." + _beta_note(defaulted)
    results = [
        ScenarioResult(
            f"Market {move:.0%}", "hypothetical", exposure * move, move, False, note=note
        )
        for move in market_moves
    ]
    by_sector = held.groupby(sectors.reindex(held.index).fillna("Unclassified").astype(str))
    for sector, weight in by_sector.sum().sort_values(ascending=False).items():
        results.append(
            ScenarioResult(
                f"{sector} {sector_move:.0%}",
                "hypothetical",
                float(weight) * sector_move,
                None,
                False,
                note=f"{sector} holdings move {sector_move:.0%}; all others unchanged.",
            )
        )
    return tuple(results)


# --------------------------------------------------------------------------- Monte Carlo
#: the report's fan is drawn from weekly quantiles (every 5th trading day and the last day)
REPORT_FAN_STEP_DAYS: int = 5
#: the one simulation a report runs: the one its chart and text show (the stress views add
#: the others with :func:`simulate_methods`)
REPORT_MONTE_CARLO: tuple[MonteCarloMethod, ...] = (MonteCarloMethod.BOOTSTRAP,)
#: paths compounded at a time: 512 paths x 252 days (1 MB) stay in the CPU cache
BLOCK_PATHS: int = 512


def _growth_blocks(
    method: MonteCarloMethod,
    daily: np.ndarray,
    rng: np.random.Generator,
    shape: tuple[int, int],
    dof: float,
) -> Iterator[np.ndarray]:
    """Daily growth factors ``1 + max(r, -1)`` of the paths, :data:`BLOCK_PATHS` rows at a time.

    The draws are those of one ``shape`` array in row order: the bootstrap's row numbers are
    drawn at once (numpy buffers bounded integers within a call), the normal and Student-t
    draws block by block (each value consumes the generator in turn, so a block continues
    where the last one stopped).
    """
    n_paths, horizon_days = shape
    mean, std = float(daily.mean()), float(daily.std(ddof=1))
    rows = None
    if method is MonteCarloMethod.BOOTSTRAP:
        rows = rng.integers(0, daily.size, size=shape)
        growth = np.maximum(daily, -1.0) + 1.0  # the floor and the +1 of every draw, once
    for start in range(0, n_paths, BLOCK_PATHS):
        size = (min(BLOCK_PATHS, n_paths - start), horizon_days)
        if rows is not None:
            yield growth[rows[start : start + size[0]]]
            continue
        if method is MonteCarloMethod.NORMAL:
            block = rng.normal(mean, std, size=size)
        else:
            block = mean + std * math.sqrt((dof - 2.0) / dof) * rng.standard_t(dof, size=size)
        np.maximum(block, -1.0, out=block)
        block += 1.0
        yield block


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
    rng: np.random.Generator,
    shape: tuple[int, int],
    dof: float,
    fan_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Path values (start 1.0) on ``fan_days`` (1-based), shape (n_fan_days, n_paths), and last."""
    n_paths = shape[0]
    on_fan_days, last = np.empty((len(fan_days), n_paths)), np.empty(n_paths)
    start = 0
    for block in _growth_blocks(method, daily, rng, shape, dof):
        stop = start + len(block)
        values = np.cumprod(block, axis=1, out=block)
        on_fan_days[:, start:stop] = values[:, fan_days - 1].T
        last[start:stop] = values[:, -1]
        start = stop
    return on_fan_days, last


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
    rng = np.random.default_rng(seed)
    days = np.unique(
        np.r_[np.arange(fan_step_days, horizon_days + 1, max(1, fan_step_days)), horizon_days]
    )
    on_fan_days, last = _value_paths(method, daily, rng, (n_paths, horizon_days), dof, days)
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
    uses, so each equals what :func:`run_stress_tests` gives for that method.

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


# --------------------------------------------------------------------------- all together
def run_stress_tests(
    weights: pd.Series,
    prices: pd.DataFrame,
    benchmark: pd.Series,
    sectors: pd.Series,
    *,
    index_history: pd.Series | None,
    params: EngineParams,
    history: pd.DataFrame | None = None,
    returns: pd.DataFrame | None = None,
    methods: Sequence[MonteCarloMethod] = tuple(MonteCarloMethod),
) -> StressReport:
    """Historical and hypothetical scenarios, then Monte Carlo by each of ``methods``.

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
    prices : DataFrame of shape (n_days, n_assets)
        Lookback prices: betas (to ``benchmark``) and the Monte Carlo inputs come from them.
    benchmark : Series of shape (n_days,)
        Benchmark level on the prices' calendar.
    sectors : Series by ticker
    index_history : Series, optional
        Long index history for the historical windows; ``benchmark`` when None.
    params : EngineParams
        ``mc_paths``, ``mc_horizon_days``, ``mc_student_t_dof``, ``mc_loss_levels``, ``seed``.
    history : DataFrame of shape (n_long_days, n_assets), optional
        Long price history of the holdings for replaying the historical windows;
        ``prices`` when None.
    returns : DataFrame of shape (n_days - 1, n_assets), optional
        ``prices.pct_change()`` without its first row, when the caller has it (a build
        computes its window's returns once).
    methods : sequence of MonteCarloMethod, default=every method
        The simulations to run (a report runs :data:`REPORT_MONTE_CARLO`).

    Returns
    -------
    StressReport
        Monte Carlo results in :class:`MonteCarloMethod` order (bootstrap, normal,
        Student-t), and the portfolio's daily returns they draw from.

    Raises
    ------
    DataUnavailableError, InsufficientHistoryError
        As the functions it calls.
    """
    held = _held(weights, prices.columns, "prices")
    history_index = benchmark if index_history is None else index_history
    betas = holding_betas(prices[list(held.index)], benchmark)
    long_prices = prices if history is None else history
    scenarios = historical_scenarios(weights, long_prices, history_index) + hypothetical_shocks(
        weights, betas, sectors
    )
    if returns is None:
        returns = prices.pct_change(fill_method=None).iloc[1:]
    daily = risk.portfolio_returns(returns, weights[weights != 0])
    stress = StressReport(scenarios=scenarios, monte_carlo=(), daily_returns=daily)
    return simulate_methods(stress, params, methods)
