"""Fast path for backtests: rolling moments updated in place and a warm-started daqp QP.

:class:`RollingMoments` keeps a lookback's sample mean and covariance and updates them a row
at a time; :class:`FastPolicy` solves max Sharpe or min volatility on them with the daqp QPs
of :mod:`smallq.qp`, warm-started from the previous rebalance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smallq.errors import (
    DataUnavailableError,
    InfeasibleConstraintsError,
    InputError,
    InsufficientHistoryError,
    UnknownOptionError,
)
from smallq.qp import max_sharpe_qp, min_volatility_qp
from smallq.types import Objective


class RollingMoments:
    """Sums of returns and of their cross-products over a sliding window.

    The sums are updated as rows enter and leave the window (``O(k n²)`` for ``k`` new
    rows instead of ``O(window n²)``). They are kept around a fixed shift (the mean of
    the first rows seen) so that ``Σ rrᵀ − n m mᵀ`` does not lose precision.

    Parameters
    ----------
    window : int
        Number of most recent return rows kept.
    """

    def __init__(self, window: int) -> None:
        if window < 2:
            raise InputError(f"the rolling window must be at least 2, got {window}", field="window")
        self.window = window
        self._start = 0
        self._count = 0
        # sized on the first push: ring buffer of shifted rows, shift, sums
        self._rows = np.empty((0, 0))
        self._shift = np.empty(0)
        self._sum = np.empty(0)
        self._cross = np.empty((0, 0))

    @property
    def n_observations(self) -> int:
        """Rows currently in the window."""
        return self._count

    def push(self, returns: np.ndarray) -> None:
        """Add rows (oldest first), dropping the oldest rows beyond the window.

        Parameters
        ----------
        returns : ndarray of shape (n_new, n_assets)
            Finite periodic returns.
        """
        new = np.atleast_2d(np.asarray(returns, dtype=float))[-self.window :]
        if self._rows.size == 0:
            self._shift = new.mean(axis=0)
            n_assets = new.shape[1]
            self._rows = np.empty((self.window, n_assets))
            self._sum = np.zeros(n_assets)
            self._cross = np.zeros((n_assets, n_assets))
        shifted = new - self._shift
        n_drop = max(0, self._count + len(shifted) - self.window)
        if n_drop:
            old = self._rows[(self._start + np.arange(n_drop)) % self.window]
            self._sum -= old.sum(axis=0)
            self._cross -= old.T @ old
            self._start = (self._start + n_drop) % self.window
            self._count -= n_drop
        slots = (self._start + self._count + np.arange(len(shifted))) % self.window
        self._rows[slots] = shifted
        self._count += len(shifted)
        self._sum += shifted.sum(axis=0)
        self._cross += shifted.T @ shifted

    def mean(self) -> np.ndarray:
        """Mean return per asset, shape (n_assets,)."""
        self._require_data()
        mean: np.ndarray = self._shift + self._sum / self._count
        return mean

    def cov(self) -> np.ndarray:
        """Sample covariance (``ddof=1``), shape (n_assets, n_assets)."""
        self._require_data()
        centred = self._sum / self._count
        cov = (self._cross - self._count * np.outer(centred, centred)) / (self._count - 1)
        symmetric: np.ndarray = (cov + cov.T) / 2.0
        return symmetric

    def _require_data(self) -> None:
        if self._count < 2:
            raise InsufficientHistoryError(self._count, 2, "returns in the rolling window")


class FastPolicy:
    """Backtest policy: sample mean and covariance over a lookback, then a fast QP.

    Call it with prices up to the decision date (the :data:`smallq.backtest.simulator.Policy`
    signature). Moments are annualised like PyPortfolioOpt's
    ``mean_historical_return(compounding=False)`` and ``sample_cov``. When called on
    successive slices of the same frame, the moments are updated incrementally and the
    solver is warm-started; any other frame triggers a fresh computation. Max Sharpe falls
    back to min volatility when no asset beats the risk-free rate; ``fallbacks`` lists
    those dates.

    Parameters
    ----------
    objective : Objective
        ``MAX_SHARPE`` or ``MIN_VOLATILITY``.
    lookback_days : int
        Return observations used (prices needed: ``lookback_days + 1``).
    max_weight, risk_free_rate : float
        Per-asset cap and annual risk-free rate (fractions).
    periods_per_year : int
    incremental, warm_start : bool, default=True
        Switches for the two speed-ups (the benchmark measures each); turning them off
        gives the same weights, computed from scratch.
    """

    def __init__(
        self,
        objective: Objective = Objective.MAX_SHARPE,
        *,
        lookback_days: int = 252,
        max_weight: float = 0.10,
        risk_free_rate: float = 0.02,
        periods_per_year: int = 252,
        incremental: bool = True,
        warm_start: bool = True,
    ) -> None:
        if objective not in (Objective.MAX_SHARPE, Objective.MIN_VOLATILITY):
            raise UnknownOptionError("fast objective", objective, ["max_sharpe", "min_volatility"])
        self.objective = objective
        self.lookback_days = lookback_days
        self.max_weight = max_weight
        self.risk_free_rate = risk_free_rate
        self.periods_per_year = periods_per_year
        self.incremental = incremental
        self.warm_start = warm_start
        self.iterations: list[int] = []
        self.fallbacks: list[tuple[pd.Timestamp, str]] = []
        self._moments = RollingMoments(lookback_days)
        self._seen: tuple[int, pd.Index, np.ndarray] | None = None
        self._duals: np.ndarray | None = None

    def __call__(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
        """Target weights from ``prices`` (rows up to ``as_of`` only)."""
        self._update_moments(prices)
        mu = self._moments.mean() * self.periods_per_year
        cov = self._moments.cov() * self.periods_per_year
        if self.objective is Objective.MAX_SHARPE:
            try:
                solution = max_sharpe_qp(
                    mu,
                    cov,
                    risk_free_rate=self.risk_free_rate,
                    max_weight=self.max_weight,
                    warm_start=self._duals,
                )
            except InfeasibleConstraintsError as exc:
                self.fallbacks.append((as_of, exc.detail))
                solution = min_volatility_qp(cov, max_weight=self.max_weight)
        else:
            solution = min_volatility_qp(cov, max_weight=self.max_weight, warm_start=self._duals)
        self._duals = solution.duals if self.warm_start else None
        self.iterations.append(solution.iterations)
        return pd.Series(solution.weights, index=prices.columns, name=as_of)

    def _update_moments(self, prices: pd.DataFrame) -> None:
        """Push the returns not seen yet (all of the lookback window on a fresh frame)."""
        n_rows, columns = len(prices), prices.columns
        if n_rows < self.lookback_days + 1:
            raise InsufficientHistoryError(
                n_rows, self.lookback_days + 1, "prices for the lookback"
            )
        first = n_rows - self.lookback_days - 1
        seen = self._seen
        incremental = False
        if (
            self.incremental
            and seen is not None
            and seen[1].equals(columns)
            and first <= seen[0] - 1 < n_rows
        ):
            tail = prices.iloc[seen[0] - 1 :].to_numpy(dtype=float)
            incremental = np.array_equal(tail[0], seen[2])
        if not incremental:
            tail = prices.iloc[first:].to_numpy(dtype=float)
            self._moments = RollingMoments(self.lookback_days)
            self._duals = None
        if not np.isfinite(tail).all():
            bad = columns[~np.isfinite(tail).all(axis=0)]
            raise DataUnavailableError(list(bad), "the fast path needs a complete lookback window")
        if len(tail) > 1:
            self._moments.push(tail[1:] / tail[:-1] - 1.0)
        self._seen = (n_rows, columns, tail[-1].copy())


# --------------------------------------------------------------------------- weights on arrays
# smallq.constraints' within_limits / clean_weights, the same steps on numpy arrays (tested
# equal through the fast paths' equality tests; fit_to_caps runs constraints.fit_array itself);
# pandas costs more than the QP here.
