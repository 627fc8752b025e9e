"""The mean-variance path walked exactly, piece by piece (a parametric QP, Markowitz's critical
line algorithm with the sector caps as general rows).

The risk levels' placement solves ``w(t) = argmin ½ wᵀΣw − t μᵀw`` subject to ``Σw = 1``,
``0 ≤ w ≤ cap`` and ``Σ_{i∈s} w_i ≤ cap_s``, for the ``t`` at which the volatility hits a
target. With Σ positive definite ``w(t)`` is unique and piecewise affine in ``t``: while the
**active set** (the weights at 0, those at the cap, the binding sector rows) stays the same,
the free weights and the multipliers ``ν = (γ, λ_s)`` of the budget and the binding sectors
solve one small linear (KKT) system

    [ Σ_FF  E_Fᵀ ] [ w_F ]   [ −Σ_FU cap ]       [ μ_F ]
    [ E_F    0   ] [  ν  ] = [ e − E_U cap ] + t [  0  ]

(``F`` free, ``U`` at the cap, ``E`` the budget row and the binding sector rows, ``e`` their
right-hand sides), so both are affine in ``t``. So is every KKT inequality: a free weight within
``[0, cap]``, an inactive sector within its cap, the multiplier ``r_i = (Σw − tμ + Eᵀν)_i`` of a
weight at 0 non-negative (at the cap non-positive), a binding sector's ``λ_s`` non-negative.
The piece ends at the first ``t`` where one of them reaches its bound (a ratio test); that one
changes side and the next piece starts there. Along a piece the variance is a quadratic in
``t``, so a volatility target inside it is a closed-form root: no QP at all.

Every piece is **certified**, not trusted: its affine weights and multipliers satisfy all the
whole problem's KKT conditions at its start (to :data:`KKT_TOL`), hence on the whole piece,
which makes them the unique optimum there whatever the active set was guessed from. When a
piece cannot be certified (a singular or ill-conditioned KKT matrix, a sector row that repeats
the budget on the free weights, a tie that does not resolve, too many steps), the walker stops
and says so; :class:`smallq.qp.FrontierPath` then finds the target by its bracketing search.
Pure numpy: no solver here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

#: a KKT inequality may be violated by this much (weights; multipliers in units of the largest
#: variance) and still count as met (daqp's own accuracy is about 1e-12)
KKT_TOL: float = 1e-9
#: weights this close to 0 or the cap start at that bound
BOUND_TOL: float = 1e-9
#: a piece still reaching past this ``t`` is the last (the bracketing search's limit as well)
T_LIMIT: float = 1e9
#: above this many assets the gradients are computed from the held weights' columns only
SUPPORT_FROM: int = 64
#: the relative residual a KKT solve may leave before its matrix counts as ill-conditioned
SOLVE_TOL: float = 1e-10


@dataclass(frozen=True, slots=True)
class Piece:
    """One affine piece ``w(t) = weights + (t − start) slope`` on ``[start, end]``.

    Attributes
    ----------
    start, end : float
        The piece's range of ``t`` (``end`` is ``inf`` for the last).
    weights : ndarray of shape (n_assets,)
        ``w(start)``.
    slope : ndarray of shape (n_assets,)
        ``dw/dt`` (zero on the last piece).
    variance, end_variance : float
        ``wᵀΣw`` at ``start`` and at ``end`` (the same on the last piece).
    """

    start: float
    end: float
    weights: np.ndarray
    slope: np.ndarray
    variance: float
    end_variance: float

    def at_variance(self, variance: float, cov: np.ndarray) -> np.ndarray:
        """The weights on this piece whose variance is ``variance`` (clamped to the piece).

        At ``start + s`` the variance is ``variance + 2 s wᵀΣ slope + s² slopeᵀΣ slope``;
        the root is taken in the form that does not cancel.
        """
        gap = variance - self.variance
        if gap <= 0.0 or not np.isfinite(self.end):
            return self.weights
        product = cov @ self.slope
        cross, curvature = float(self.weights @ product), float(self.slope @ product)
        denominator = cross + float(np.sqrt(max(cross * cross + curvature * gap, 0.0)))
        step = gap / denominator if denominator > 0.0 else 0.0
        return self.weights + min(step, self.end - self.start) * self.slope


class PathWalker:
    """The path's pieces from a solved point upwards in ``t``, walked as targets ask.

    The KKT system is kept whole, ``[[Σ, Aᵀ], [A, 0]]`` with ``A`` the budget row and every
    sector row (Σ and μ divided by Σ's largest variance, so multipliers and weights share one
    tolerance); a piece solves its rows and columns of the free weights and the binding rows.

    Parameters
    ----------
    mu : ndarray of shape (n_assets,)
    cov : ndarray of shape (n_assets, n_assets)
        Positive definite.
    max_weight : float
        Per-asset cap.
    sector_rows : ndarray of shape (n_sectors, n_assets)
        0/1 membership of each capped sector (no rows without caps).
    sector_caps : ndarray of shape (n_sectors,)
    """

    def __init__(
        self,
        mu: np.ndarray,
        cov: np.ndarray,
        *,
        max_weight: float,
        sector_rows: np.ndarray,
        sector_caps: np.ndarray,
    ) -> None:
        n_assets, n_rows = len(mu), 1 + len(sector_caps)
        self.cov, self.cap, self.caps = cov, max_weight, sector_caps
        scale = max(float(np.max(np.diag(cov))), 1e-300)  # multipliers in units of variance
        rows = np.vstack([np.ones((1, n_assets)), sector_rows])  # the budget, then the sectors
        self._kkt = np.zeros((n_assets + n_rows, n_assets + n_rows))
        self._kkt[:n_assets, :n_assets] = cov / scale
        self._kkt[:n_assets, n_assets:] = rows.T
        self._kkt[n_assets:, :n_assets] = rows
        # right-hand sides: the rows' bounds (constant part) and μ (the part times t)
        self._fixed = np.zeros((n_assets + n_rows, 2))
        self._fixed[n_assets:, 0] = np.concatenate([[1.0], sector_caps])
        self._fixed[:n_assets, 1] = mu / scale
        self._minus_mu = self._fixed * [0.0, 1.0]  # what turns K x into the gradients r
        self._solve_tol = SOLVE_TOL * max(1.0, float(np.abs(self._fixed).max()))
        self._cap_room = np.array([max_weight, 0.0])  # the cap's inequality: cap − w ≥ 0
        self._sector_room = np.column_stack([sector_caps, np.zeros(len(sector_caps))])
        self._never = np.array([1.0, 0.0])  # an inequality that holds and never ends a piece
        self._budget = np.ones(1, dtype=bool)
        self._support = n_assets > SUPPORT_FROM  # multiply only the columns that are not zero
        self.pieces: list[Piece] = []
        self._ends: list[float] = []  # each piece's end variance (non-decreasing)
        self._next: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._steps_left = 4 * (n_assets + n_rows) + 16
        self._partners: dict[int, int] = {}  # at a vertex: each weight at 0's partner at the cap
        self.stuck = False
        self.solves = 0  # KKT linear solves so far (for benchmarks)

    def start(self, t: float, weights: np.ndarray) -> bool:
        """Start the walk at a solved point ``(t, w(t))``; False when it cannot be certified."""
        lower = weights <= BOUND_TOL
        upper = ~lower & (weights >= self.cap - BOUND_TOL)
        sums = self._kkt[len(weights) + 1 :, : len(weights)] @ weights
        self._next = (t, lower, upper, sums >= self.caps - BOUND_TOL)
        piece = self._step()
        if piece is None or np.abs(piece.weights - weights).max() > 1e-8:
            self.stuck, self._next = True, None
            self.pieces, self._ends = [], []
            return False
        return True

    def at_variance(self, variance: float) -> np.ndarray | None:
        """The path's weights at ``variance`` (its top when beyond), or None when stuck first."""
        while not self._ends or self._ends[-1] < variance:
            if self._next is None:  # the last piece is walked: the target is beyond the top
                return self.pieces[-1].weights if self.pieces and not self.stuck else None
            if self._step() is None:
                return None
        piece = self.pieces[bisect.bisect_left(self._ends, variance)]
        return piece.at_variance(variance, self.cov)

    def _step(self) -> Piece | None:
        """Certify and keep the piece of the next active set; None (stuck) when it fails."""
        while not self.stuck and self._next is not None and self._steps_left > 0:
            self._steps_left -= 1
            t, lower, upper, binding = self._next
            found = self._inequalities(lower, upper, binding)
            if found is None:
                break
            solution, c, d = found
            if (c + t * d).min(initial=0.0) < -KKT_TOL:  # a KKT condition fails at the start
                break
            ends = np.full(len(c), np.inf)
            np.divide(c, -d, out=ends, where=d < 0.0)
            event = int(np.argmin(ends)) if len(ends) else 0
            end = max(float(ends[event]), t) if len(ends) else np.inf
            if end > T_LIMIT:
                self._next = None
                return self._keep(t, np.inf, solution)
            self._next = self._switch(end, lower, upper, binding, event)
            if end > t:
                return self._keep(t, end, solution)
        self.stuck, self._next = True, None
        return None

    def _keep(self, start: float, end: float, solution: np.ndarray) -> Piece:
        """Keep the piece ``w = w0 + t w1`` (the columns of ``solution``) on ``[start, end]``."""
        weights = solution[: len(self.cov), 0] + start * solution[: len(self.cov), 1]
        if self.pieces:  # continuous: where the last piece ended
            variance = self._ends[-1]
        else:
            variance = float(weights @ self.cov @ weights)
        if np.isfinite(end):
            slope = solution[: len(self.cov), 1]
            at_end = weights + (end - start) * slope
            end_variance = float(at_end @ self.cov @ at_end)
        else:  # the last piece does not move (its slope is rounding)
            slope, end_variance = np.zeros(len(weights)), variance
        piece = Piece(start, end, weights, slope, variance, end_variance)
        self.pieces.append(piece)
        self._ends.append(end_variance)
        return piece

    def _inequalities(
        self, lower: np.ndarray, upper: np.ndarray, binding: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The piece of one active set and its KKT inequalities ``c + t d ≥ 0``.

        Returns the solution ``x = x0 + t x1`` (columns; weights then the multipliers of the
        budget and the sectors, zero where not binding) and ``c``, ``d``: entry ``i < n`` is the
        lower bound of a free weight ``i``, else the multiplier of weight ``i`` at its bound;
        ``n + i`` the cap of a free weight ``i``; ``2n + s`` sector ``s``'s multiplier when
        binding, else its room. None when the KKT matrix is singular.
        """
        n_assets = len(lower)
        free = ~(lower | upper)
        start = np.zeros((len(self._kkt), 2))
        start[:n_assets, 0] = upper * self.cap
        index = np.flatnonzero(np.concatenate((free, self._budget, binding)))
        if index[0] >= n_assets:
            # a vertex; with a binding sector its multipliers are not unique
            return None if binding.any() else self._vertex(lower, upper, start)
        rows = self._kkt[index]
        matrix = rows[:, index]
        rhs = self._fixed[index]
        rhs[:, 0] -= rows @ start[:, 0]
        self.solves += 1
        try:
            solved = np.linalg.solve(matrix, rhs)
        except np.linalg.LinAlgError:
            return None
        # with the budget row alone the matrix is regular (Σ positive definite); a binding
        # sector may repeat the budget on the free weights: then the solve is not to be trusted
        if len(index) > 1 + index.searchsorted(n_assets) and not (
            np.abs(matrix @ solved - rhs).max() <= self._solve_tol
        ):
            return None
        start[index] = solved
        if self._support:  # from the columns that are not zero: a few dozen of 500 assets
            support = np.flatnonzero(np.concatenate((~lower, self._budget, binding)))
            image = self._kkt[:, support] @ start[support] - self._minus_mu
        else:
            image = self._kkt @ start - self._minus_mu  # the gradients r, then the rows' sums
        weights = start[:n_assets]
        sign = (1.0 - 2.0 * upper)[:, None]  # a weight at 0 needs r ≥ 0, at the cap r ≤ 0
        column = free[:, None]
        both = np.concatenate(
            (
                np.where(column, weights, sign * image[:n_assets]),
                np.where(column, self._cap_room - weights, self._never),
                np.where(
                    binding[:, None], start[n_assets + 1 :], self._sector_room - image[n_assets + 1 :]
                ),
            )
        )
        return start, both[:, 0], both[:, 1]

    def _vertex(
        self, lower: np.ndarray, upper: np.ndarray, start: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every weight at a bound (no sector binding): some γ must leave ``r_i + γ ≥ 0`` at 0 and
        ``≤ 0`` at the cap, i.e. ``r_i − r_j ≥ 0`` for each pair (i at 0, j at the cap).

        The pairs' inequalities take the entries ``i < n`` and ``n + j`` (the others can never
        end the piece); as an event, a pair frees both weights.
        """
        n_assets = len(lower)
        image = self._kkt[:n_assets] @ start - self._minus_mu[:n_assets]
        at_zero, at_cap = np.flatnonzero(lower), np.flatnonzero(upper)
        c, d = np.ones(2 * n_assets + len(self.caps)), np.zeros(2 * n_assets + len(self.caps))
        if len(at_zero) and len(at_cap):
            pair = image[at_zero][:, None, :] - image[at_cap][None, :, :]  # (zero, cap, 2)
            # only the tightest pair per weight at 0 can end the piece; its partner is kept
            ends = np.full(pair.shape[:2], np.inf)
            np.divide(pair[..., 0], -pair[..., 1], out=ends, where=pair[..., 1] < 0.0)
            partner = np.argmin(ends, axis=1)
            chosen = pair[np.arange(len(at_zero)), partner]
            c[at_zero], d[at_zero] = chosen[:, 0], chosen[:, 1]
            self._partners = dict(zip(at_zero.tolist(), at_cap[partner].tolist(), strict=True))
        sums = self._kkt[n_assets + 1 :, :n_assets] @ start[:n_assets]
        c[2 * n_assets :], d[2 * n_assets :] = self.caps - sums[:, 0], -sums[:, 1]
        return start, c, d

    def _switch(
        self, t: float, lower: np.ndarray, upper: np.ndarray, binding: np.ndarray, event: int
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """The active set after ``event`` at ``t`` (entries as :meth:`_inequalities`)."""
        n_assets = len(lower)
        lower, upper, binding = lower.copy(), upper.copy(), binding.copy()
        if event >= 2 * n_assets:
            binding[event - 2 * n_assets] ^= True
        elif event >= n_assets:
            upper[event - n_assets] = True
        elif lower[event] and not (lower | upper).all():
            lower[event] = False
        elif upper[event]:
            upper[event] = False
        elif lower[event]:  # a vertex's pair: both weights free
            lower[event], upper[self._partners[event]] = False, False
        else:
            lower[event] = True
        return t, lower, upper, binding
