"""The pipeline policy on the fast path: the backtest that ``smallq backtest`` and /backtest run.

:class:`FastPipelinePolicy` makes the same decisions as
``point_in_time(PipelinePolicy(...))`` (:mod:`smallq.backtest.policy`, the reference) with
numpy instead of pandas and PyPortfolioOpt at each decision:

1. **Cleaning, incrementally.** The raw closes are cleaned once over the whole period. A
   decision at ``t`` uses those rows as they are when rows ``t - 3 .. t`` hold no bad-print
   candidate in any ticker that trades then (no gap, no non-positive close, no close outside
   the day's range, no one-day move of a spike's size): the cleaning rules only look one valid
   close to each side, so cleaning ``raw[:t]`` gives the same rows. Otherwise that decision
   cleans ``raw[:t]`` again as the reference does. Only rows up to ``t`` are read.
2. **Ranking in numpy** for momentum and low volatility (winsorised z-scores, the same
   order and ties as :func:`smallq.ranking.rank_stocks`); value and composite rank with
   :func:`~smallq.ranking.rank_stocks` itself.
3. **Estimation in numpy** (:func:`smallq.forecast.covariance_array`; mean and EMA returns);
   CAPM returns use :func:`smallq.forecast.forecast_moments`.
4. **Max Sharpe and min volatility as small dense QPs** solved by daqp, warm-started from
   the previous decision (:mod:`smallq.backtest.fast`), with the same checks, fallback to
   min volatility, limits and weight cleaning as :func:`smallq.optimize.optimize_weights`.
   Other objectives, and any decision where a fast step fails, run the reference
   (PyPortfolioOpt) for that decision; :attr:`reference_dates` lists them.

Tests check that the backtest equity equals the reference's (``tests/smallq/backtest``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from smallq.backtest.fast import QpSolution, max_sharpe_qp, min_volatility_qp
from smallq.backtest.policy import PipelinePolicy, known_history
from smallq.constraints import CHECK_TOL, WeightLimits, feasible_limits, max_reachable_return
from smallq.data.validation import clean_prices
from smallq.errors import SmallQError
from smallq.forecast import covariance_array, forecast_moments
from smallq.models import MarketData, PriceData
from smallq.params import EngineParams
from smallq.profile import fit_min_holdings
from smallq.ranking import rank_stocks
from smallq.types import Objective, ReturnsModel, Strategy

__all__ = ["FastPipelinePolicy"]

_EDGE = 1e-9  # as smallq.data.validation: thresholds are met a hair early
_QUIET_ROWS = 4  # rows t-3 .. t must hold no bad-print candidate
_FIT_TOL = 1e-9  # smallq.constraints._TOL
_FAST_OBJECTIVES = (Objective.MAX_SHARPE, Objective.MIN_VOLATILITY)


class FastPipelinePolicy:
    """The reference pipeline policy's decisions, made with numpy and a warm-started QP.

    Parameters
    ----------
    reference : PipelinePolicy
        Its settings, ranking options and ``decisions`` list are shared: each decision is
        appended there, made here or by the reference.
    market : MarketData
        Raw closes (and high/low) to clean point in time; ``prices`` when no raw ones.
    params : EngineParams

    Attributes
    ----------
    reference_dates : list of (Timestamp, str)
        Decisions made by the reference path, with the reason.
    """

    def __init__(self, reference: PipelinePolicy, market: MarketData, params: EngineParams):
        self.reference = reference
        self.params = params
        self.reference_dates: list[tuple[pd.Timestamp, str]] = []
        self._market = market
        raw = market.raw_prices if market.raw_prices is not None else market.prices
        self._index = raw.index
        self._columns = raw.columns
        full = PriceData(close=raw, high=market.raw_high, low=market.raw_low)
        cleaned = clean_prices(full, params).close.reindex(columns=raw.columns)
        self._history = cleaned.ffill(limit=5).to_numpy(dtype=float)
        self._carried = cleaned.ffill(limit=5).ffill().to_numpy(dtype=float)
        self._suspect = _bad_print_candidates(raw, market.raw_high, market.raw_low, params)
        valid = np.isfinite(raw.to_numpy(dtype=float))
        self._first_valid = np.where(valid.any(axis=0), valid.argmax(axis=0), len(raw))
        self._sectors = reference.companies["sector"].reindex(raw.columns).to_numpy(object)
        self._benchmark = (
            None if reference.benchmark is None else reference.benchmark.reindex(raw.index)
        )
        self._duals: np.ndarray | None = None
        self._target_columns: tuple[pd.Index, dict[str, int]] | None = None

    @property
    def decisions(self) -> list[tuple[pd.Timestamp, tuple[str, ...], str]]:
        """Per decision: its date, the tickers optimized and the objective used."""
        return self.reference.decisions

    def fallback_dates(self) -> tuple[tuple[date, str], ...]:
        """Decisions whose weights came from a fallback objective, with the objective used."""
        return self.reference.fallback_dates()

    def __call__(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        """Target weights on ``as_of``, indexed like ``prices`` (the raw closes are cut at it)."""
        row = int(self._index.get_loc(as_of))
        history, columns, keep = self._known(row, as_of)
        try:
            weights, tickers, used = self._decide(history, columns, keep, as_of)
        except (SmallQError, ValueError, np.linalg.LinAlgError) as exc:
            weights, used = None, str(exc)
        if weights is None:
            self.reference_dates.append((as_of, used))
            frame = history_frame(history[:, keep], columns[keep], self._index[: row + 1])
            return self.reference(frame, as_of)
        names = columns[tickers]
        self.decisions.append((as_of, tuple(str(t) for t in names), used))
        return self._aligned(weights, names, prices.columns)

    def _aligned(self, weights: np.ndarray, names: pd.Index, columns: pd.Index) -> pd.Series:
        """The weights on the simulator's columns (one Index object: no reindexing there)."""
        if self._target_columns is None or self._target_columns[0] is not columns:
            self._target_columns = (columns, {str(c): i for i, c in enumerate(columns)})
        where = self._target_columns[1]
        if any(str(t) not in where for t in names):
            return pd.Series(weights, index=names)
        vector = np.zeros(len(columns))
        vector[[where[str(t)] for t in names]] = weights
        return pd.Series(vector, index=columns)

    # ------------------------------------------------------------------ stage 1: cleaning
    def _known(self, row: int, as_of: pd.Timestamp) -> tuple[np.ndarray, pd.Index, np.ndarray]:
        """Cleaned closes up to ``row`` (short gaps carried), their tickers, and the positions
        of those kept (an unconfirmed decision-day move leaves a ticker out), as the
        reference's point-in-time cleaning gives them. Nothing is copied on the fast path."""
        listed = self._first_valid <= row
        if row >= _QUIET_ROWS and not self._suspect[row - _QUIET_ROWS + 1 : row + 1, listed].any():
            history = self._history[: row + 1]
            previous = self._carried[row - 1]
            moved = _moved(history[-1], previous, self.params.spike_threshold)
            return history, self._columns, np.flatnonzero(listed & ~moved)
        frame = known_history(self._market, as_of, self.params)
        return frame.to_numpy(dtype=float), frame.columns, np.arange(frame.shape[1])

    # ------------------------------------------------------------------ stages 2-4
    def _decide(
        self, history: np.ndarray, columns: pd.Index, keep: np.ndarray, as_of: pd.Timestamp
    ) -> tuple[np.ndarray | None, np.ndarray, str]:
        """Weights of the chosen tickers and their positions in ``columns`` (None: use the
        reference, for the reason given)."""
        policy = self.reference
        chosen = keep[self._rank(history, columns, keep, as_of)]
        lookback = policy.lookback_days
        if len(history) < lookback + 1:
            return None, chosen, "short lookback window"
        window = history[-(lookback + 1) :, chosen]
        complete = np.isfinite(window).all(axis=0)
        window, chosen = window[:, complete], chosen[complete]
        if not len(chosen):
            return None, chosen, "short lookback window"
        tickers = [str(t) for t in columns[chosen]]
        settings = fit_min_holdings(policy.settings, len(tickers))
        if settings.objective not in _FAST_OBJECTIVES:
            return None, chosen, f"{settings.objective.value} has no fast path"
        returns = window[1:] / window[:-1] - 1.0
        mu = self._expected_returns(window, returns, tickers, len(history))
        cov = covariance_array(
            returns,
            settings.cov_model,
            periods_per_year=self.params.periods_per_year,
            span=self.params.ema_span_days,
        )
        limits = feasible_limits(
            tickers,
            max_weight=settings.max_weight,
            min_holdings=settings.min_holdings,
            sector_map=policy._sectors(pd.Index(tickers)),
            sector_caps=policy.sector_caps,
            n_observations=len(returns),
        )
        solution, used = self._optimize(mu, tickers, cov, limits, settings.risk_free_rate)
        groups = _groups(limits, tickers)
        if solution is None or not _within(solution.weights, limits.upper, groups):
            return None, chosen, "the fast solution is outside the limits"
        weights = _clean(solution.weights, limits.upper, groups, self.params.weight_cutoff)
        return weights, chosen, used

    def _rank(
        self, history: np.ndarray, columns: pd.Index, keep: np.ndarray, as_of: pd.Timestamp
    ) -> np.ndarray:
        """Positions in ``keep`` of the selected tickers, best first."""
        policy = self.reference
        if policy.strategy not in (Strategy.MOMENTUM, Strategy.LOW_VOL):
            frame = history_frame(history[:, keep], columns[keep], self._index[: len(history)])
            ranking = rank_stocks(
                frame,
                policy.companies,
                policy.strategy,
                as_of.date(),
                top_n=policy.top_n,
                per_sector=policy.per_sector,
                fundamentals=policy.fundamentals,
                params=self.params,
            )
            return np.asarray(columns[keep].get_indexer(list(ranking.selected)))
        needed = max(self.params.momentum_lookback_days, self.params.low_vol_window_days) + 1
        names = columns[keep]
        return rank_prices(
            history[-needed:, keep],
            names,
            self._sectors[self._columns.get_indexer(names)],
            policy.strategy,
            top_n=policy.top_n,
            per_sector=policy.per_sector,
            params=self.params,
        )

    def _expected_returns(
        self, window: np.ndarray, returns: np.ndarray, tickers: list[str], n_rows: int
    ) -> np.ndarray:
        settings, periods = self.reference.settings, self.params.periods_per_year
        model = settings.returns_model
        if model is ReturnsModel.CAPM:
            dates = self._index[n_rows - len(window) : n_rows]
            frame = pd.DataFrame(window, index=dates, columns=tickers)
            benchmark = None if self._benchmark is None else self._benchmark.loc[dates].ffill()
            mu, _ = forecast_moments(frame, settings, benchmark=benchmark, params=self.params)
            capm: np.ndarray = mu.to_numpy(dtype=float)
            return capm
        if model is ReturnsModel.EMA:
            alpha = 2.0 / (self.params.ema_span_days + 1.0)
            weights = (1.0 - alpha) ** np.arange(len(returns) - 1, -1, -1, dtype=float)
            daily: np.ndarray = weights @ returns / weights.sum()
            return daily * periods
        mean: np.ndarray = returns.mean(axis=0) * periods
        return mean

    def _optimize(
        self,
        values: np.ndarray,
        tickers: list[str],
        cov: np.ndarray,
        limits: WeightLimits,
        risk_free_rate: float,
    ) -> tuple[QpSolution | None, str]:
        """Max Sharpe (when some reachable return beats the rate), else min volatility."""
        rows, caps = _sector_matrix(limits, tickers)
        wanted = self.reference.settings.objective
        if wanted is Objective.MAX_SHARPE:
            beats = values.max() > risk_free_rate
            if beats and _reachable(values, tickers, limits) > risk_free_rate + CHECK_TOL:
                solution = max_sharpe_qp(
                    values,
                    cov,
                    risk_free_rate=risk_free_rate,
                    max_weight=limits.upper,
                    warm_start=self._duals,
                    sector_rows=rows,
                    sector_caps=caps,
                )
                self._duals = solution.duals
                return solution, Objective.MAX_SHARPE.value
        solution = min_volatility_qp(
            cov, max_weight=limits.upper, sector_rows=rows, sector_caps=caps
        )
        return solution, Objective.MIN_VOLATILITY.value


def history_frame(history: np.ndarray, columns: pd.Index, dates: pd.Index) -> pd.DataFrame:
    """The point-in-time history as the reference policy takes it."""
    return pd.DataFrame(history, index=dates, columns=columns)


def rank_prices(
    history: np.ndarray,
    columns: pd.Index,
    sectors: np.ndarray,
    strategy: Strategy,
    *,
    top_n: int,
    per_sector: bool,
    params: EngineParams,
) -> np.ndarray:
    """Where the tickers :func:`smallq.ranking.rank_stocks` selects (price-only) are.

    Parameters
    ----------
    history : ndarray of shape (n_days, n_assets)
        Cleaned closes up to the decision day (the last ``lookback + 1`` rows suffice).
    columns : Index of shape (n_assets,)
    sectors : ndarray of shape (n_assets,)
        Sector names (NaN or None when unknown).
    strategy : Strategy
        ``MOMENTUM`` or ``LOW_VOL``.
    top_n : int
    per_sector : bool
    params : EngineParams

    Raises
    ------
    InsufficientHistoryError, TooFewCandidatesError
        Raised by :func:`~smallq.ranking.rank_stocks` itself: the caller runs the reference
        on a ``ValueError`` from here.
    """
    if strategy is Strategy.MOMENTUM:
        lookback, skip = params.momentum_lookback_days, params.momentum_skip_days
        if len(history) < lookback + 1:
            raise ValueError("too short for momentum")
        start = history[-1 - lookback]
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = history[-1 - skip] / np.where(start > 0, start, np.nan) - 1.0
    else:
        days = params.low_vol_window_days
        if len(history) < days + 1:
            raise ValueError("too short for low volatility")
        window = history[-(days + 1) :]
        before = window[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = window[1:] / np.where(before > 0, before, np.nan) - 1.0
        returns[~np.isfinite(returns)] = np.nan
        count = np.isfinite(returns).sum(axis=0)
        enough = count >= max(2, days // 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.nanstd(np.where(enough[None, :], returns, np.nan), axis=0, ddof=1)
        raw = np.where(enough, -std * np.sqrt(params.periods_per_year), np.nan)
    raw[~np.isfinite(raw)] = np.nan
    keep = np.flatnonzero(np.isfinite(raw))  # a ticker that never traded has no factor
    if not len(keep):
        raise ValueError("no ticker can be scored")
    names = np.asarray(columns.astype(str))[keep]
    factor = raw[keep]
    score = _zscore(_winsorize(factor, params.winsor_lower, params.winsor_upper))
    order = keep[np.lexsort((names, -factor, -score))]
    if not per_sector:
        return order[:top_n]
    counts: dict[str, int] = {}
    chosen = []
    for position in order:
        group = sectors[position] if isinstance(sectors[position], str) else ""
        if counts.get(group, 0) < top_n:
            counts[group] = counts.get(group, 0) + 1
            chosen.append(position)
    return np.asarray(chosen, dtype=int)


def _winsorize(values: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Clip at the quantiles pandas' ``Series.quantile`` gives (numpy's linear method on
    ``q * 100 / 100``, the same interpolation steps), without ``np.percentile``'s overhead."""
    ordered = np.sort(values)
    bounds = []
    for q in (lower, upper):
        virtual = (q * 100 / 100) * (len(ordered) - 1)
        below = int(np.floor(virtual))
        above = min(below + 1, len(ordered) - 1)
        t = virtual - below
        a, b = ordered[below], ordered[above]
        diff = b - a
        bounds.append(b - diff * (1 - t) if t >= 0.5 else a + diff * t)
    clipped: np.ndarray = np.clip(values, bounds[0], bounds[1])
    return clipped


def _zscore(values: np.ndarray) -> np.ndarray:
    std = float(np.std(values, ddof=0))
    scale = max(1.0, float(np.abs(values).max()))
    if not np.isfinite(std) or std <= 1e-12 * scale:
        flat: np.ndarray = values - values
        return flat
    scored: np.ndarray = (values - values.mean()) / std
    return scored


_Groups = list[tuple[np.ndarray, float]]


def _groups(limits: WeightLimits, tickers: list[str]) -> _Groups:
    sectors = np.array([limits.sector_map.get(t, "") for t in tickers], dtype=object)
    return [(sectors == s, cap) for s, cap in limits.sector_caps.items()]


def _within(w: np.ndarray, upper: float, groups: _Groups, tol: float = CHECK_TOL) -> bool:
    """:func:`smallq.constraints.within_limits` on an array."""
    if not np.isfinite(w).all() or abs(w.sum() - 1) > tol:
        return False
    if w.min() < -tol or w.max() > upper + tol:
        return False
    return all(w[mask].sum() <= cap + tol for mask, cap in groups)


def _fit(weights: np.ndarray, upper: float, groups: _Groups) -> np.ndarray:
    """:func:`smallq.constraints.fit_to_caps` on an array (the same steps)."""
    w = weights.clip(min=0.0)
    w = w / w.sum()
    for _ in range(1000):
        w = np.minimum(w, upper)
        for mask, cap in groups:
            total = w[mask].sum()
            if total > cap:
                w[mask] *= cap / total
        gap = 1.0 - w.sum()
        if gap <= _FIT_TOL:
            break
        room = upper - w
        for mask, cap in groups:
            room[mask] = np.minimum(room[mask], cap - w[mask].sum())
        open_ = room > _FIT_TOL
        base = np.where(open_ & (w > 0), w, 0.0)
        if base.sum() <= 0:
            base = open_.astype(float)
        if base.sum() <= 0:
            break
        w = w + np.minimum(gap * base / base.sum(), room.clip(min=0.0))
    fitted: np.ndarray = w / w.sum()
    return fitted


def _clean(weights: np.ndarray, upper: float, groups: _Groups, cutoff: float) -> np.ndarray:
    """:func:`smallq.constraints.clean_weights` on an array (the same steps)."""
    raw = weights.clip(min=0.0)
    trimmed = np.where(raw >= cutoff, raw, 0.0)
    for candidate in (trimmed, raw):
        if candidate.sum() <= 0:
            continue
        fitted = _fit(candidate / candidate.sum(), upper, groups)
        if _within(fitted, upper, groups):
            return fitted
    cleaned: np.ndarray = raw / raw.sum()
    return cleaned


def _reachable(mu: np.ndarray, tickers: list[str], limits: WeightLimits) -> float:
    """:func:`smallq.constraints.max_reachable_return` (numpy when there are no sector caps)."""
    if limits.sector_caps:
        return max_reachable_return(pd.Series(mu, index=tickers), limits)
    total, left = 0.0, 1.0
    for value in np.sort(mu)[::-1]:
        take = min(limits.upper, left)
        if take <= 0:
            break
        total += take * float(value)
        left -= take
    return total


def _sector_matrix(
    limits: WeightLimits, tickers: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not limits.sector_caps:
        return None, None
    sectors = list(limits.sector_caps)
    rows = np.array([[limits.sector_map.get(t) == s for t in tickers] for s in sectors], float)
    return rows, np.array([limits.sector_caps[s] for s in sectors])


def _moved(last: np.ndarray, previous: np.ndarray, threshold: float) -> np.ndarray:
    """Decision-day moves of a spike's size (:func:`smallq.data.validation.unconfirmed_moves`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = last / np.where(previous > 0, previous, np.nan)
        moved = np.abs(np.log(ratio)) >= float(np.log1p(threshold)) - _EDGE
    return np.nan_to_num(moved, nan=0.0).astype(bool)


def _bad_print_candidates(
    raw: pd.DataFrame,
    high: pd.DataFrame | None,
    low: pd.DataFrame | None,
    params: EngineParams,
    tolerance: float = 0.01,
) -> np.ndarray:
    """Cells the cleaning rules could touch (a superset): gaps after listing, non-positive
    or non-finite closes, closes outside the day's range, inverted ranges, and one-day moves
    of a spike's size (shape (n_days, n_assets), row ``i`` uses rows up to ``i``)."""
    close = raw.to_numpy(dtype=float)
    finite = np.isfinite(close)
    listed = np.cumsum(finite, axis=0) > 0
    later = np.cumsum(finite[::-1], axis=0)[::-1] > 0  # a valid close on or after the row
    suspect = listed & later & ~(finite & (close > 0))
    if high is not None and low is not None:
        hi = high.reindex_like(raw).to_numpy(dtype=float)
        lo = low.reindex_like(raw).to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            suspect |= (hi < lo) | (close > hi * (1 + tolerance)) | (close < lo * (1 - tolerance))
    with np.errstate(divide="ignore", invalid="ignore"):
        move = np.abs(np.diff(np.log(np.where(close > 0, close, np.nan)), axis=0))
    limit = float(np.log1p(params.spike_threshold)) - 1e-6
    suspect[1:] |= np.nan_to_num(move, nan=0.0) >= limit
    candidates: np.ndarray = suspect
    return candidates
