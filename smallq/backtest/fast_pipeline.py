"""The pipeline policy on the fast path: the backtest that ``smallq backtest`` and /backtest run.

:class:`FastPipelinePolicy` makes the same decisions as ``point_in_time(PipelinePolicy(...))``
(:mod:`smallq.backtest.policy`: :func:`smallq.decision.prices_known_at` then
:func:`smallq.decision.decide_weights`, the reference) with numpy instead of pandas and
PyPortfolioOpt at each decision:

1. **Cleaning, incrementally.** The raw closes are cleaned and aligned once over the whole
   period. A decision at ``t`` uses those rows as they are when, in every ticker alive then,
   rows ``t - 5 .. t`` hold no bad-print candidate (no gap, no non-positive close, no close
   outside the day's range, no one-day move of a spike's size) and no ticker stopped trading
   in them: the cleaning rules look one valid close to each side and the calendar fills gaps
   of at most five days, so cleaning ``raw[:t]`` gives the same rows. Otherwise that decision
   cleans ``raw[:t]`` as the reference does. (Whether a ticker trades again later decides only
   which of the two equal computations runs.)
2. **Filters, window rule and ranking in numpy**: minimum history and dollar volume, the
   complete estimation window, then momentum or low volatility (winsorised z-scores, the
   same order and ties as :func:`smallq.ranking.rank_stocks`); value and composite rank with
   :func:`~smallq.ranking.rank_stocks` itself.
3. **Estimation in numpy** (:func:`smallq.forecast.covariance_array`; mean and EMA returns);
   CAPM returns use :func:`smallq.forecast.forecast_moments`.
4. **Max Sharpe and min volatility as small dense QPs** solved by daqp, warm-started from
   the previous decision (:mod:`smallq.qp`), with the same checks, fallback to
   min volatility, limits and weight cleaning as :func:`smallq.optimize.optimize_weights`.

Other objectives, forced includes, and any decision where a fast step fails or a filter
leaves too few stocks run the reference for that decision; :attr:`reference_dates` lists
them. Tests check that the equity equals the reference's (``tests/smallq/backtest``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd

from smallq.backtest.policy import PipelinePolicy
from smallq.constraints import CHECK_TOL, WeightLimits, feasible_limits, max_reachable_return
from smallq.data.validation import align_calendar, clean_prices
from smallq.decision import history_rows, prices_known_at
from smallq.errors import SmallQError
from smallq.filters import apply_filters
from smallq.forecast import MIN_OBSERVATIONS, covariance_array, forecast_moments
from smallq.models import MarketData, PriceData, Settings
from smallq.optimize import optimize_arrays
from smallq.params import EngineParams
from smallq.profile import fit_min_holdings
from smallq.qp import (
    QpSolution,
    clean_array,
    max_sharpe_qp,
    min_volatility_qp,
    weight_groups,
    within_caps,
)
from smallq.ranking import rank_stocks
from smallq.types import Objective, ReturnsModel, Strategy
from smallq.universe import companies_as_of

__all__ = ["FastPipelinePolicy"]

_EDGE = 1e-9  # as smallq.data.validation: thresholds are met a hair early
_QUIET_ROWS = 6  # rows t-5 .. t: the bad-print rules' reach and the calendar's 5-day fill
_FAST_OBJECTIVES = (Objective.MAX_SHARPE, Objective.MIN_VOLATILITY)
#: rows cleaned before the first row a decision reads, when a decision is cleaned point in time
_TAIL_MARGIN = 20


class FastPipelinePolicy:
    """The reference pipeline policy's decisions, made with numpy and a warm-started QP.

    Parameters
    ----------
    reference : PipelinePolicy
        Its rule, company table, benchmark and volume are used, and its ``decisions`` and
        ``left_out`` lists are shared: each decision is recorded there, made here or by it.
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
        self._index, self._columns = raw.index, raw.columns
        self._names = [str(c) for c in raw.columns]
        self._names_array = np.array(self._names, dtype=object)
        full = PriceData(close=raw, high=market.raw_high, low=market.raw_low)
        benchmark = None if market.benchmark.empty else market.benchmark
        # with the benchmark, as the reference cleans: a round trip on a crash day is kept
        cleaned = clean_prices(full, params, market=benchmark).close
        aligned, _, _ = align_calendar(cleaned, benchmark)
        if not aligned.index.equals(raw.index):
            raise SmallQError("the aligned calendar differs from the raw one")
        aligned = aligned.reindex(columns=raw.columns)
        self._history = aligned.to_numpy(dtype=float)
        self._carried = aligned.ffill().to_numpy(dtype=float)
        self._suspect = _bad_print_candidates(raw, market.raw_high, market.raw_low, params)
        closes = raw.to_numpy(dtype=float)
        valid = np.isfinite(closes)
        n_rows = len(raw)
        self._first_valid = np.where(valid.any(axis=0), valid.argmax(axis=0), n_rows)
        self._last_valid = np.where(valid.any(axis=0), n_rows - 1 - valid[::-1].argmax(axis=0), -1)
        self._quiet = _quiet_rows(self._suspect, self._first_valid, self._last_valid)
        self._moved_at = np.zeros_like(valid)
        self._moved_at[1:] = _moved(self._history[1:], self._carried[:-1], params.spike_threshold)
        with np.errstate(invalid="ignore"):
            solid = valid & (closes > 0) & ~self._suspect
        pairs = np.zeros_like(valid)
        pairs[1:] = solid[1:] & solid[:-1]
        self._anchors = np.cumsum(pairs, axis=0)  # rows a <= i with solid closes at a-1 and a
        volume = reference.volume
        self._volume = None if volume is None else volume.reindex_like(raw).to_numpy(dtype=float)
        rule = reference.rule
        self._rows = history_rows(rule.lookback_days, params)
        criteria = rule.criteria
        # the market-cap band reads the caps known on each decision date (as a build on it
        # does), so with dated fundamentals the price-free screen is redone per decision
        self._dated_screen = reference.fundamentals is not None and (
            criteria.min_market_cap is not None or criteria.max_market_cap is not None
        )
        self._base = self._price_free_screen(raw.columns, reference.companies)
        self._sectors = reference.companies["sector"].reindex(raw.columns).to_numpy(object)
        self._duals: np.ndarray | None = None
        self._as_of = pd.Timestamp(0)
        self._target_columns: tuple[pd.Index, dict[str, int]] | None = None
        self._label_cache: dict[tuple[str, ...], pd.Index] = {}

    def _price_free_screen(self, columns: pd.Index, companies: pd.DataFrame) -> np.ndarray | None:
        """Tickers the price-free filters keep (None: forced includes, use the reference)."""
        rule = self.reference.rule
        if rule.criteria.include:
            return None
        known = [t for t in columns if t in companies.index]
        criteria = replace(rule.criteria, min_history_days=None, min_dollar_volume=None)
        try:
            kept = set(apply_filters(companies.loc[known], criteria).tickers)
        except SmallQError:
            return None
        return np.array([str(t) in kept for t in columns])

    @property
    def decisions(self) -> list[tuple[pd.Timestamp, tuple[str, ...], str]]:
        """Per decision: its date, the tickers optimized and the objective used."""
        return self.reference.decisions

    def fallback_dates(self) -> tuple[tuple[date, str], ...]:
        """Decisions whose weights came from a fallback objective, with the objective used."""
        return self.reference.fallback_dates()

    def left_out_notes(self) -> list[str]:
        """As :meth:`PipelinePolicy.left_out_notes` (the lists are shared)."""
        return self.reference.left_out_notes()

    def __call__(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series | np.ndarray:
        """Target weights on ``as_of``: an array over ``prices``' columns (see
        :data:`smallq.backtest.simulator.Policy`); the raw closes are cut at ``as_of``."""
        row = int(self._index.get_loc(as_of))
        self._as_of = as_of
        history, columns, keep = self._known(row, as_of)
        try:
            weights, chosen, used, left_out = self._decide(history, columns, keep, as_of)
        except (SmallQError, ValueError, np.linalg.LinAlgError) as exc:
            weights, chosen, used, left_out = None, keep, str(exc), ()
        if weights is None:
            self.reference_dates.append((as_of, used))
            frame = pd.DataFrame(
                history[:, keep], index=self._index[: len(history)], columns=columns[keep]
            )
            return self.reference(frame, as_of)
        names = [self._names[i] for i in chosen]
        self.decisions.append((as_of, tuple(names), used))
        if left_out:
            self.reference.left_out.append((as_of, left_out))
        return self._aligned(weights, names, prices.columns)

    def _aligned(
        self, weights: np.ndarray, names: list[str], columns: pd.Index
    ) -> pd.Series | np.ndarray:
        """The weights as a vector over the simulator's columns (no alignment needed there)."""
        cached = self._target_columns
        if cached is None or not (cached[0] is columns or cached[0].equals(columns)):
            cached = self._target_columns = (columns, {str(c): i for i, c in enumerate(columns)})
        where = cached[1]
        if any(t not in where for t in names):
            return pd.Series(weights, index=names)
        vector = np.zeros(len(columns))
        vector[[where[t] for t in names]] = weights
        return vector

    # ------------------------------------------------------------------ stage 1: cleaning
    def _known(self, row: int, as_of: pd.Timestamp) -> tuple[np.ndarray, pd.Index, np.ndarray]:
        """Cleaned, aligned closes up to ``row`` on the raw columns, those columns, and the
        positions of the tickers kept (an unconfirmed decision-day move leaves one out), as
        :func:`smallq.decision.prices_known_at` gives them. Nothing is copied on the fast path;
        near a bad-print candidate the rows a decision reads are cleaned point in time."""
        listed = self._first_valid <= row
        if self._quiet[row]:
            keep = np.flatnonzero(listed & ~self._moved_at[row])
            return self._history[: row + 1], self._columns, keep
        start = row + 1 - self._rows - _TAIL_MARGIN
        if not self._anchored(start, row + 1 - self._rows):
            start = 0
        frame, _volume = prices_known_at(self._tail(start), as_of, self.params)
        if not frame.index.equals(self._index[start : row + 1]):
            raise SmallQError("the point-in-time calendar differs from the raw one")
        kept = self._columns.get_indexer(frame.columns)
        history = np.full((row + 1, len(self._columns)), np.nan)
        history[:start] = self._history[:start]  # never read: the decision reads the tail
        history[start:, kept] = frame.to_numpy(dtype=float)
        return history, self._columns, np.sort(kept)

    def _anchored(self, start: int, needed: int) -> bool:
        """Whether cleaning from ``start`` gives the rows from ``needed`` on as cleaning from
        the first row does: every ticker listed before ``start`` has two solid closes in a row
        (finite, positive, no bad-print candidate) at rows ``a - 1, a`` with
        ``start < a <= needed``. No cleaning rule at a row after ``a`` reads past such a
        close (the rules read the nearest valid closes, the calendar fill the last one), and
        a ticker listed at ``start`` or later has no earlier close to read."""
        if start < 1:
            return False
        listed = self._first_valid < start
        found = self._anchors[needed, listed] - self._anchors[start, listed]
        return bool((found > 0).all())

    def _tail(self, start: int) -> MarketData:
        """The market data from row ``start`` on (all of it for 0)."""
        market = self._market
        if start == 0:
            return market

        def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else frame.iloc[start:]

        raw = market.raw_prices if market.raw_prices is not None else market.prices
        first = self._index[start]
        return replace(
            market,
            prices=raw.iloc[start:],
            raw_prices=raw.iloc[start:],
            raw_high=cut(market.raw_high),
            raw_low=cut(market.raw_low),
            volume=None,
            benchmark=market.benchmark if market.benchmark.empty else market.benchmark.loc[first:],
        )

    # ------------------------------------------------------------------ stages 2-4
    def _screen(
        self, history: np.ndarray, columns: pd.Index, keep: np.ndarray
    ) -> np.ndarray | None:
        """Positions (in ``columns``) the decision's filters keep; None: use the reference."""
        base = self._base
        fundamentals = self.reference.fundamentals
        if self._dated_screen and fundamentals is not None:
            companies, _ = companies_as_of(
                self.reference.companies, fundamentals, self._as_of.date()
            )
            base = self._price_free_screen(self._columns, companies)
        if base is None:
            return None
        where = keep  # columns are the raw columns
        criteria = self.reference.rule.criteria
        passed = base[where]
        recent = history[-self._rows :, keep]
        if criteria.min_history_days is not None:
            passed &= np.isfinite(recent).sum(axis=0) >= criteria.min_history_days
        if criteria.min_dollar_volume is not None and self._volume is not None:
            days = criteria.dollar_volume_window_days
            shares = self._volume[len(history) - len(recent) : len(history), where][-days:]
            traded = recent[-days:] * shares
            count = np.isfinite(traded).sum(axis=0)
            total = np.nansum(traded, axis=0)
            dollars = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            passed &= np.isnan(dollars) | (dollars >= float(criteria.min_dollar_volume))
        if passed.sum() < criteria.min_count:
            return None
        screened: np.ndarray = keep[passed]
        return screened

    def _decide(
        self, history: np.ndarray, columns: pd.Index, keep: np.ndarray, as_of: pd.Timestamp
    ) -> tuple[np.ndarray | None, np.ndarray, str, tuple[str, ...]]:
        """Weights of the chosen tickers, their positions in ``columns``, the objective used
        and the tickers left out for an incomplete window (None: use the reference, for the
        reason given)."""
        rule = self.reference.rule
        screened = self._screen(history, columns, keep)
        lookback = rule.lookback_days
        if screened is None or len(history) < lookback + 1:
            return None, keep, "filters need the reference", ()
        complete = np.isfinite(history[-(lookback + 1) :, screened]).all(axis=0)
        eligible = screened[complete]
        if not len(eligible):
            return None, keep, "no complete estimation window", ()
        left_out = tuple(self._names[i] for i in screened[~complete])
        chosen = eligible[self._rank(history, columns, eligible, as_of)]
        window = history[-(lookback + 1) :, chosen]
        tickers = [self._names[i] for i in chosen]
        settings = fit_min_holdings(rule.settings, len(tickers))
        returns = window[1:] / window[:-1] - 1.0
        if len(returns) < max(MIN_OBSERVATIONS, len(tickers) + 1):
            return None, chosen, "too few returns for the covariance", ()
        limits = feasible_limits(
            tickers,
            max_weight=settings.max_weight,
            min_holdings=settings.min_holdings,
            sector_map=self._sector_map(chosen),
            sector_caps=rule.sector_caps or None,
            n_observations=len(window) - 1,
        )
        mu = self._expected_returns(window, returns, tickers, len(history))
        cov = covariance_array(
            returns,
            settings.cov_model,
            periods_per_year=self.params.periods_per_year,
            span=self.params.ema_span_days,
        )
        if settings.objective not in _FAST_OBJECTIVES or settings.frontier_fraction is not None:
            weights, used = self._optimize_weights(mu, cov, returns, tickers, limits, settings)
            return weights, chosen, used, left_out
        solution, used = self._optimize(mu, tickers, cov, limits, settings.risk_free_rate)
        groups = weight_groups(limits, tickers)
        if solution is None or not within_caps(solution.weights, limits.upper, groups):
            return None, chosen, "the fast solution is outside the limits", ()
        weights = clean_array(solution.weights, limits.upper, groups, self.params.weight_cutoff)
        return weights, chosen, used, left_out

    def _optimize_weights(
        self,
        mu: np.ndarray,
        cov: np.ndarray,
        returns: np.ndarray,
        tickers: list[str],
        limits: WeightLimits,
        settings: Settings,
    ) -> tuple[np.ndarray, str]:
        """:func:`smallq.optimize.optimize_arrays` on the fast path (daqp for the risk level's
        place on the frontier, max Sharpe and min volatility); a step it lacks (HRP, an
        explicit efficient risk or utility) runs PyPortfolioOpt and is counted as such."""
        result = optimize_arrays(
            mu,
            cov,
            settings,
            limits,
            tickers=self._labels(tickers),
            returns=returns,
            chain=self.params.fallback_chain,
            params=self.params,  # the build's placement path: the same decision as a build
            fast=True,
        )
        used = result.objective_used.value
        if result.solver not in ("daqp", "closed form"):
            self.reference_dates.append((self._as_of, f"{used} has no fast path"))
        return result.weights.to_numpy(dtype=float), used

    def _labels(self, tickers: list[str]) -> pd.Index:
        """One object index per set of tickers (weekly decisions mostly repeat them)."""
        key = tuple(tickers)
        labels = self._label_cache.get(key)
        if labels is None:
            labels = self._label_cache[key] = pd.Index(tickers, dtype=object)
        return labels

    def _sector_map(self, chosen: np.ndarray) -> dict[str, str]:
        """As :func:`smallq.decision._sectors`: the known sectors of the chosen tickers."""
        return {self._names[i]: s for i in chosen if isinstance(s := self._sectors[i], str)}

    def _rank(
        self, history: np.ndarray, columns: pd.Index, eligible: np.ndarray, as_of: pd.Timestamp
    ) -> np.ndarray:
        """Positions in ``eligible`` of the selected tickers, best first."""
        rule, params = self.reference.rule, self.params
        if rule.strategy not in (Strategy.MOMENTUM, Strategy.LOW_VOL):
            names = columns[eligible]
            recent = history[-self._rows :, eligible]
            dates = self._index[len(history) - len(recent) : len(history)]
            frame = pd.DataFrame(recent, index=dates, columns=names)
            ranking = rank_stocks(
                frame,
                self.reference.companies.loc[list(names)],
                rule.strategy,
                as_of.date(),
                top_n=rule.top_n,
                per_sector=rule.per_sector,
                fundamentals=self.reference.fundamentals,
                params=params,
            )
            return np.asarray(names.get_indexer(list(ranking.selected)))
        needed = max(params.momentum_lookback_days, params.low_vol_window_days) + 1
        return rank_prices(
            history[-min(needed, self._rows) :, eligible],
            self._names_array[eligible],
            self._sectors[eligible],
            rule.strategy,
            top_n=rule.top_n,
            per_sector=rule.per_sector,
            params=params,
        )

    def _expected_returns(
        self, window: np.ndarray, returns: np.ndarray, tickers: list[str], n_rows: int
    ) -> np.ndarray:
        settings, periods = self.reference.rule.settings, self.params.periods_per_year
        model = settings.returns_model
        if model is ReturnsModel.CAPM:
            dates = self._index[n_rows - len(window) : n_rows]
            frame = pd.DataFrame(window, index=dates, columns=tickers)
            level = self.reference.benchmark
            benchmark = None if level is None else level.loc[: dates[-1]].reindex(dates)
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
        wanted = self.reference.rule.settings.objective
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


def rank_prices(
    history: np.ndarray,
    columns: pd.Index | np.ndarray,
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
    columns : Index or ndarray of shape (n_assets,)
        Ticker names.
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
    names = np.asarray(columns, dtype=str)[keep]
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
    # np.mean and np.std(ddof=0) spelled out: the same reductions (the same bits), without
    # their per-call overhead (this runs at every decision)
    mean = np.add.reduce(values) / len(values)
    centred = values - mean
    std = float(np.sqrt(np.add.reduce(centred * centred) / len(values)))
    scale = max(1.0, float(np.abs(values).max()))
    if not np.isfinite(std) or std <= 1e-12 * scale:
        flat: np.ndarray = values - values
        return flat
    scored: np.ndarray = centred / std
    return scored


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


def _quiet_rows(suspect: np.ndarray, first_valid: np.ndarray, last_valid: np.ndarray) -> np.ndarray:
    """Rows ``t`` whose rows ``t - 5 .. t`` hold no bad-print candidate in a ticker listed by
    ``t`` and in which no listed ticker stopped trading (the full cleaning's rows are then the
    point-in-time ones), shape (n_days,)."""
    n_rows = len(suspect)
    rows = np.arange(n_rows)
    listed = first_valid[None, :] <= rows[:, None]
    counts = np.cumsum(suspect, axis=0)
    before = np.zeros_like(counts)
    before[_QUIET_ROWS:] = counts[:-_QUIET_ROWS]
    touched = ((counts - before) > 0) & listed
    gone = listed & (last_valid[None, :] >= (rows - _QUIET_ROWS + 1)[:, None])
    gone &= last_valid[None, :] < rows[:, None]
    quiet: np.ndarray = (rows >= _QUIET_ROWS) & ~touched.any(axis=1) & ~gone.any(axis=1)
    return quiet


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
