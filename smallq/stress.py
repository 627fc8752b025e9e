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
* **Monte Carlo** (:mod:`smallq.simulation`): value paths of the portfolio over a year;
  :func:`run_stress_tests` runs the methods it is asked for (a report: one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from smallq import risk
from smallq.errors import DataUnavailableError
from smallq.models import ScenarioResult, StressReport
from smallq.params import EngineParams
from smallq.simulation import (
    DEFAULT_BANDS,
    DEFAULT_PERCENTILES,
    LOSS_THRESHOLDS,
    REPORT_FAN_STEP_DAYS,
    REPORT_MONTE_CARLO,
    monte_carlo,
    simulate_methods,
)
from smallq.types import MonteCarloMethod

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_PERCENTILES",
    "HISTORICAL_WINDOWS",
    "LOSS_THRESHOLDS",
    "MIN_BETA_OBSERVATIONS",
    "REPORT_FAN_STEP_DAYS",
    "REPORT_MONTE_CARLO",
    "StressWindow",
    "historical_scenarios",
    "holding_betas",
    "hypothetical_shocks",
    "monte_carlo",
    "run_stress_tests",
    "simulate_methods",
    "uncovered_window_notes",
]

#: fewest common daily returns to estimate a holding's beta; below it beta 1.0 is assumed
MIN_BETA_OBSERVATIONS: int = 20


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
    if prices.index.equals(index_level.index) and prices.index.is_unique:  # already joined
        values = np.column_stack([prices.to_numpy(dtype=float), index_level.to_numpy(float)])
    else:
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
    daily: pd.Series | None = None,
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
    daily : Series, optional
        The portfolio's daily returns, ``risk.portfolio_returns(returns, weights[weights !=
        0])``, when the caller has them (a build computes them once).

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
    if daily is None:
        if returns is None:
            returns = prices.pct_change(fill_method=None).iloc[1:]
        daily = risk.portfolio_returns(returns, weights[weights != 0])
    stress = StressReport(scenarios=scenarios, monte_carlo=(), daily_returns=daily)
    return simulate_methods(stress, params, methods)
