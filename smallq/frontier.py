"""The efficient frontier's fast path: least-variance QPs solved on a screened set of assets.

Each frontier point is the least-variance portfolio at a target return (PyPortfolioOpt's
``efficient_return``)::

    minimise   wᵀ Σ w
    subject to Σw = 1,   μᵀw ≥ target,   0 ≤ w ≤ cap,   Σ_{i∈s} w_i ≤ cap_s (sector caps)

Most assets hold nothing there (a few dozen of 500), so :class:`LeastVariance` solves each
point with :class:`smallq.qp.ScreenedQp` (the same screening as the risk levels'
placement, :class:`smallq.qp.FrontierPath`): on a few **candidates** (the last
point's holdings, the assets nearest to entering, and the assets the highest returns need, so
that every target below the highest reachable return stays reachable), checked optimal for
**every** asset through its reduced gradient and grown where the check fails. What is
returned satisfies the whole problem's optimality (KKT) conditions: with Σ positive definite
it is the unique solution, the one a solve of the whole problem gives (to daqp's tolerance).
"""

from __future__ import annotations

import numpy as np

from smallq.qp import SCREEN_TOLERANCE, ScreenedQp

__all__ = ["SCREEN_TOLERANCE", "LeastVariance"]


class LeastVariance:
    """Least-variance weights at a sequence of target returns, each solve seeded by the last.

    Parameters
    ----------
    cov : ndarray of shape (n_assets, n_assets)
    mu : ndarray of shape (n_assets,)
        Expected returns, in the units of the targets.
    max_weight : float
    reachable : ndarray of bool, shape (n_assets,)
        The holdings of the highest-return portfolio under the limits: always candidates.
    sector_rows, sector_caps : ndarray, optional
        As :class:`smallq.qp.ScreenedQp` (``cov`` and ``max_weight`` too).
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
        self.mu = np.asarray(mu, dtype=float)
        self.reachable = np.asarray(reachable, dtype=bool)
        self._qp = ScreenedQp(
            cov, max_weight=max_weight, sector_rows=sector_rows, sector_caps=sector_caps
        )
        self._guess = self._qp.first_candidates()

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
        weights, self._guess = self._qp.solve(
            self._guess | self.reachable, mu=self.mu, target_return=target_return
        )
        return weights
