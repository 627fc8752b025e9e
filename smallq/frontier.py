"""The efficient frontier's fast path: least-variance QPs solved on a screened set of assets.

Each frontier point is the least-variance portfolio at a target return (PyPortfolioOpt's
``efficient_return``)::

    minimise   wᵀ Σ w
    subject to Σw = 1,   μᵀw ≥ target,   0 ≤ w ≤ cap,   Σ_{i∈s} w_i ≤ cap_s (sector caps)

Most assets hold nothing there (a few dozen of 500), and a daqp solve of the whole problem
costs about as much as the active bounds it factorises: some 470 at 500 assets, about 0.1 s a
point even warm-started. So :class:`LeastVariance` solves each point on a few **candidates**:
the last point's holdings, the assets nearest to entering, and the assets the highest returns
need (so that every target below the highest reachable return stays reachable). It then
checks the candidates' solution against **every** asset: an asset left out, at zero weight,
is optimal there when its reduced gradient

    g_i = (Σw)_i + γ + Σ_s λ_s [i ∈ s] + λ_μ μ_i

is not negative, ``γ``, ``λ_s`` and ``λ_μ`` being the small solve's multipliers of the budget,
the sector caps and the target (daqp's signs: ``Σw + Aᵀλ = 0``, ``λ ≤ 0`` at a lower bound).
The assets that fail join the candidates and the point is solved again. What is returned thus
satisfies the whole problem's optimality (KKT) conditions: with Σ positive definite it is the
unique solution, the one a solve of the whole problem gives (to daqp's tolerance).
"""

from __future__ import annotations

import numpy as np

from smallq.backtest.fast import min_volatility_qp
from smallq.errors import SmallQError

__all__ = ["SCREEN_TOLERANCE", "LeastVariance"]

#: an asset left out is optimal at zero while its reduced gradient is above ``-tolerance``
#: (covariance units: a violation this small would move a weight by about 1e-8)
SCREEN_TOLERANCE: float = 1e-10
#: assets nearest to entering added to the next point's candidates
NEAR_ENTERING: int = 10
#: fewest candidates of the first (min-volatility) solve: the lowest-variance assets
FIRST_CANDIDATES: int = 30


class LeastVariance:
    """Least-variance weights at a sequence of target returns, each solve seeded by the last.

    Parameters
    ----------
    cov : ndarray of shape (n_assets, n_assets)
        Covariance (positive definite, as Ledoit-Wolf and the sample's of enough days are).
    mu : ndarray of shape (n_assets,)
        Expected returns, in the units of the targets.
    max_weight : float
        Per-asset cap.
    reachable : ndarray of bool, shape (n_assets,)
        The holdings of the highest-return portfolio under the limits: always candidates.
    sector_rows : ndarray of shape (n_sectors, n_assets), optional
        0/1 membership of each capped sector.
    sector_caps : ndarray of shape (n_sectors,), optional
    """

    def __init__(
        self,
        cov: np.ndarray,
        mu: np.ndarray,
        *,
        max_weight: float,
        reachable: np.ndarray,
        sector_rows: np.ndarray | None = None,
        sector_caps: np.ndarray | None = None,
    ) -> None:
        self.cov, self.mu, self.max_weight = cov, mu, max_weight
        n_assets = len(mu)
        self.sector_rows = (
            np.zeros((0, n_assets)) if sector_rows is None else np.asarray(sector_rows, float)
        )
        self.sector_caps = np.zeros(0) if sector_caps is None else np.asarray(sector_caps, float)
        self.reachable = np.asarray(reachable, dtype=bool)
        first = max(FIRST_CANDIDATES, int(np.ceil(2.0 / max_weight)))
        self._guess = np.zeros(n_assets, dtype=bool)
        self._guess[np.argsort(np.diag(cov), kind="stable")[:first]] = True
        # the last solve's candidates and multipliers
        self._last: tuple[np.ndarray, np.ndarray] = (np.empty(0, dtype=np.intp), np.empty(0))

    def solve(self, target_return: float | None = None) -> np.ndarray:
        """Least-variance weights with ``μᵀw ≥ target_return`` (none: min volatility).

        Returns
        -------
        ndarray of shape (n_assets,)

        Raises
        ------
        InfeasibleConstraintsError, SolverError
            When daqp cannot solve even the whole problem.
        """
        candidates = self._guess | self.reachable
        while True:
            try:
                weights, gradient = self._solve_on(np.flatnonzero(candidates), target_return)
            except SmallQError:
                if candidates.all():
                    raise
                candidates[:] = True  # the whole problem, as a plain solve would
                continue
            entering = gradient < -SCREEN_TOLERANCE
            if not entering.any():
                break
            candidates |= entering
        near = np.argsort(gradient, kind="stable")[:NEAR_ENTERING]
        self._guess = weights > 0
        self._guess[near] = True
        return weights

    def _solve_on(
        self, candidates: np.ndarray, target_return: float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weights of the QP on ``candidates`` (zero elsewhere) and every asset's reduced gradient.

        The gradient is ``+inf`` on the candidates (they need no check).
        """
        every = len(candidates) == len(self.mu)  # the whole problem: nothing to check
        rows = self.sector_rows if every else self.sector_rows[:, candidates]
        capped = rows.any(axis=1)  # a sector without candidates constrains nothing
        with_target = target_return is not None
        last_candidates, last_duals = self._last
        # the same candidates as the last solve: start from its active set (daqp's adapter
        # ignores multipliers of another size, as after the min-volatility solve)
        warm = last_duals if np.array_equal(candidates, last_candidates) else None
        solution = min_volatility_qp(
            self.cov if every else self.cov[np.ix_(candidates, candidates)],
            max_weight=self.max_weight,
            sector_rows=rows[capped],
            sector_caps=self.sector_caps[capped],
            mu=self.mu[candidates] if with_target else None,
            target_return=target_return,
            warm_start=warm,
        )
        self._last = (candidates, solution.duals)
        if every:
            return solution.weights, np.full(len(self.mu), np.inf)
        n_candidates = len(candidates)
        duals = solution.duals[n_candidates:]  # budget, the sectors kept, then the target
        sector_duals = np.zeros(len(self.sector_caps))
        sector_duals[capped] = duals[1 : 1 + int(capped.sum())]
        gradient = self.cov[:, candidates] @ solution.weights + duals[0]
        gradient += sector_duals @ self.sector_rows
        if with_target:
            gradient += duals[-1] * self.mu
        gradient[candidates] = np.inf
        weights = np.zeros(len(self.mu))
        weights[candidates] = solution.weights
        return weights, gradient
