"""Small dense QPs solved by daqp: the engine's fast solvers for max Sharpe, min volatility
and efficient risk (the risk levels' placement), and the weight steps on arrays.

Max Sharpe with a per-asset cap uses the Cornuejols–Tütüncü transformation, the same
problem PyPortfolioOpt's ``EfficientFrontier.max_sharpe`` builds in cvxpy::

    minimise   yᵀ Σ y
    subject to (μ − r_f)ᵀ y = 1,   y ≥ 0,   y_i ≤ cap · Σ_j y_j,        w = y / Σ y

Min volatility is the plain QP ``min wᵀΣw s.t. Σw = 1, 0 ≤ w ≤ cap``. Efficient risk
(:func:`efficient_risk_qp`, max ``μᵀw`` at ``wᵀΣw ≤ σ²``, the risk levels' placement) is the
mean-variance QP ``min ½ wᵀΣw − t μᵀw`` with ``t`` found so that the volatility
hits the target (volatility never decreases in ``t``; where the constraint binds its KKT point
is that QP's solution), optionally with sector caps. The weights are piecewise affine in
``t``, so ``t`` is found by interpolating the weights between the bracket's ends (exact on
one piece: when both ends hold the same constraints with equality the crossing is returned
without a further QP), safeguarded by bisection: a handful of QPs per target, each on a few
screened assets and checked optimal for all (:class:`ScreenedQp`, shared with the frontier's
:class:`smallq.frontier.LeastVariance`), or on every asset when there are no more than the
screening would start from. All are solved by
daqp (a dual active-set solver) called directly, warm-started from the previous solution's
Lagrange multipliers: between weekly rebalances the active set barely changes, so a warm
solve usually needs one or two iterations. This module is an adapter: daqp is imported
only here and its failures become :mod:`smallq.errors` exceptions. The build
(:mod:`smallq.optimize`), the frontier (:mod:`smallq.frontier`) and the backtest's fast
policies (:mod:`smallq.backtest.fast`, :mod:`smallq.backtest.fast_pipeline`) solve here.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import daqp
import numpy as np

from smallq.constraints import CHECK_TOL, WeightGroups, WeightLimits, fit_array
from smallq.errors import (
    InfeasibleConstraintsError,
    SmallQError,
    SolverError,
)
from smallq.types import Objective

#: daqp exit flags >= 1 mean optimal (1) or optimal with soft constraints (2)
_INFEASIBLE_FLAGS = (-1,)


@dataclass(frozen=True, slots=True)
class QpSolution:
    """Weights from one fast solve.

    Attributes
    ----------
    weights : ndarray of shape (n_assets,)
        Long-only, summing to 1.
    duals : ndarray
        daqp's Lagrange multipliers, the warm start of the next solve.
    iterations : int
        Active-set iterations daqp needed.
    """

    weights: np.ndarray
    duals: np.ndarray
    iterations: int


def _check_cap(n_assets: int, max_weight: float) -> None:
    if not 0 < max_weight <= 1:
        raise InfeasibleConstraintsError(
            "max_weight", f"the cap {max_weight} is not in (0, 1]", "Use a cap between 0 and 1."
        )
    if max_weight * n_assets < 1 - 1e-12:
        raise InfeasibleConstraintsError(
            "max_weight",
            f"{n_assets} assets capped at {max_weight:.0%} cannot add up to 100%",
            "Raise the per-asset cap or add assets.",
        )


def _solve(
    cov: np.ndarray,
    constraints: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
    warm_start: np.ndarray | None,
    objective: Objective,
    linear: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    upper, lower, sense = bounds
    n_assets = cov.shape[0]
    dual = warm_start if warm_start is not None and len(warm_start) == len(upper) else None
    # daqp takes writable C arrays: pass copies, so cached templates and callers' data stay intact
    x, _, flag, info = daqp.solve(
        np.array(cov, dtype=float, order="C"),
        np.zeros(n_assets) if linear is None else np.array(linear, dtype=float),
        np.array(constraints, dtype=float, order="C"),
        upper.copy(),
        lower.copy(),
        sense.copy(),
        dual_start=None if dual is None else np.array(dual, dtype=float),
    )
    if flag in _INFEASIBLE_FLAGS:
        raise InfeasibleConstraintsError(
            str(objective), "daqp found the problem infeasible", "Relax the weight cap."
        )
    if flag < 1:
        raise SolverError(str(objective), f"daqp exit flag {flag}")
    return np.asarray(x), np.asarray(info["lam"]), int(info["iterations"])


def _normalise(x: np.ndarray) -> np.ndarray:
    weights = np.maximum(x, 0.0)  # (np.clip's wrapper costs more than the QP's bookkeeping)
    normalised: np.ndarray = weights / weights.sum()
    return normalised


@functools.lru_cache(maxsize=16)
def _max_sharpe_template(
    n_assets: int, max_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Constraint rows and bounds of the transformed problem (row 0 is set per solve).

    Rows: ``(μ − r_f)ᵀ y = 1`` then ``y_i − cap · Σy ≤ 0``; simple bounds ``y ≥ 0`` first.
    """
    constraints = np.vstack([np.zeros((1, n_assets)), np.eye(n_assets) - max_weight])
    upper = np.concatenate([np.full(n_assets, np.inf), [1.0], np.zeros(n_assets)])
    lower = np.concatenate([np.zeros(n_assets), [1.0], np.full(n_assets, -np.inf)])
    sense = np.zeros(2 * n_assets + 1, dtype=np.int32)
    sense[n_assets] = 5  # equality
    for array in (constraints, upper, lower, sense):
        array.setflags(write=False)
    return constraints, upper, lower, sense


def _sector_rows(
    sector_rows: np.ndarray | None, sector_caps: np.ndarray | None, n_assets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Membership rows (n_sectors, n_assets) of 0/1 and their caps; empty without caps."""
    if sector_rows is None or sector_caps is None or len(sector_caps) == 0:
        return np.zeros((0, n_assets)), np.zeros(0)
    return np.asarray(sector_rows, dtype=float), np.asarray(sector_caps, dtype=float)


def max_sharpe_qp(
    mu: np.ndarray,
    cov: np.ndarray,
    *,
    risk_free_rate: float,
    max_weight: float,
    warm_start: np.ndarray | None = None,
    sector_rows: np.ndarray | None = None,
    sector_caps: np.ndarray | None = None,
) -> QpSolution:
    """Long-only maximum Sharpe ratio weights with a per-asset cap (and sector caps).

    Parameters
    ----------
    mu : ndarray of shape (n_assets,)
        Expected returns, in the same (e.g. annual) units as ``cov`` and ``risk_free_rate``.
    cov : ndarray of shape (n_assets, n_assets)
        Covariance matrix (positive semidefinite).
    risk_free_rate : float
        Risk-free rate (fraction, same period as ``mu``).
    max_weight : float
        Per-asset cap, e.g. 0.10.
    warm_start : ndarray, optional
        ``duals`` of a previous solve of the same size.
    sector_rows : ndarray of shape (n_sectors, n_assets), optional
        1 where an asset belongs to a capped sector, else 0.
    sector_caps : ndarray of shape (n_sectors,), optional
        Largest total weight of each row's sector (homogenised like PyPortfolioOpt:
        ``Σ_{i∈s} y_i ≤ cap_s · Σ y``).

    Returns
    -------
    QpSolution

    Raises
    ------
    InfeasibleConstraintsError
        When no asset beats the risk-free rate, or the cap cannot be met.
    SolverError
        When daqp fails for another reason.
    """
    n_assets = len(mu)
    _check_cap(n_assets, max_weight)
    excess = np.asarray(mu, dtype=float) - risk_free_rate
    if excess.max() <= 0:
        raise InfeasibleConstraintsError(
            "max_sharpe",
            "no asset is expected to beat the risk-free rate",
            "Use min volatility instead.",
        )
    template, upper, lower, sense = _max_sharpe_template(n_assets, max_weight)
    rows, caps = _sector_rows(sector_rows, sector_caps, n_assets)
    constraints = np.vstack([template, rows - caps[:, None]])
    constraints[0] = excess
    if len(caps):
        upper = np.concatenate([upper, np.zeros(len(caps))])
        lower = np.concatenate([lower, np.full(len(caps), -np.inf)])
        sense = np.concatenate([sense, np.zeros(len(caps), dtype=np.int32)])
    x, duals, iterations = _solve(
        cov, constraints, (upper, lower, sense), warm_start, Objective.MAX_SHARPE
    )
    return QpSolution(_normalise(x), duals, iterations)


def min_volatility_qp(
    cov: np.ndarray,
    *,
    max_weight: float,
    warm_start: np.ndarray | None = None,
    sector_rows: np.ndarray | None = None,
    sector_caps: np.ndarray | None = None,
    mu: np.ndarray | None = None,
    target_return: float | None = None,
) -> QpSolution:
    """Long-only minimum variance weights with a per-asset cap (and sector caps).

    With ``mu`` and ``target_return`` it is PyPortfolioOpt's ``efficient_return``: the least
    variance with ``μᵀw ≥ target_return``.

    Parameters
    ----------
    cov : ndarray of shape (n_assets, n_assets)
    max_weight : float
    warm_start : ndarray, optional
    sector_rows, sector_caps : ndarray, optional
        As :func:`max_sharpe_qp` (here ``Σ_{i∈s} w_i ≤ cap_s``).
    mu : ndarray of shape (n_assets,), optional
    target_return : float, optional

    Returns
    -------
    QpSolution

    Raises
    ------
    InfeasibleConstraintsError, SolverError
    """
    n_assets = cov.shape[0]
    _check_cap(n_assets, max_weight)
    rows, caps = _sector_rows(sector_rows, sector_caps, n_assets)
    target = None if mu is None else target_return
    constraints, bounds = _capped_constraints(n_assets, max_weight, rows, caps, mu, target)
    x, duals, iterations = _solve(cov, constraints, bounds, warm_start, Objective.MIN_VOLATILITY)
    return QpSolution(_normalise(x), duals, iterations)


def _capped_constraints(
    n_assets: int,
    max_weight: float,
    rows: np.ndarray,
    caps: np.ndarray,
    mu: np.ndarray | None,
    target_return: float | None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """daqp's rows and bounds of ``Σw = 1, 0 ≤ w ≤ cap, rows·w ≤ caps`` (and ``μᵀw ≥ target``).

    Multipliers come in this order: the simple bounds, the budget, the sectors, the target.
    """
    blocks, upper, lower = [np.ones((1, n_assets)), rows], [[1.0], caps], [[1.0], -np.inf * caps]
    equality = [5] + [0] * len(caps)
    if mu is not None and target_return is not None:
        blocks.append(np.asarray(mu, dtype=float)[None, :])
        upper.append([np.inf])
        lower.append([target_return])
        equality.append(0)
    sense = np.zeros(n_assets + len(equality), dtype=np.int32)
    sense[n_assets:] = equality
    bounds = (
        np.concatenate([np.full(n_assets, max_weight), *map(np.asarray, upper)]),
        np.concatenate([np.zeros(n_assets), *map(np.asarray, lower)]),
        sense,
    )
    return np.vstack(blocks), bounds


# --------------------------------------------------------------------------- screened QPs
#: an asset left out is optimal at zero while its reduced gradient is above ``-tolerance``
#: (covariance units: a violation this small would move a weight by about 1e-8)
SCREEN_TOLERANCE: float = 1e-10
#: assets nearest to entering added to the next solve's candidates
NEAR_ENTERING: int = 10
#: fewest candidates of a first solve: the lowest-variance assets
FIRST_CANDIDATES: int = 30
#: a weight (or a sector's total) this close to its bound counts as held there when two path
#: points are compared for the same active set (daqp leaves bound weights within about 1e-16)
TIGHT_TOL: float = 1e-10
#: weights above this are the holdings a next solve starts from (daqp leaves assets at their
#: bound with weights of 1e-17 or so; counting them would double the candidates)
HELD_WEIGHT: float = 1e-12


#: a candidate set's capped sectors, daqp's rows and bounds, and its covariance block
_Problem = tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class ScreenedQp:
    """One capped long-only QP, solved on a few **candidate** assets and checked on all.

    ::

        minimise   ½ wᵀΣw + qᵀw
        subject to Σw = 1,   0 ≤ w ≤ cap,   Σ_{i∈s} w_i ≤ cap_s (sector caps),   [μᵀw ≥ r]

    with the linear term ``q`` (the mean-variance path's ``-t μ``) and the target ``r`` (the
    frontier's least variance at a return) given per solve. Most assets hold nothing there (a
    few dozen of 500), and a daqp solve of the whole problem costs about as much as the active
    bounds it factorises: some 470 at 500 assets, about 0.1 s even warm-started. So each solve
    runs on the candidates, then checks their solution against **every** asset: an asset left
    out, at zero weight, is optimal there when its reduced gradient

        g_i = (Σw)_i + q_i + γ + Σ_s λ_s [i ∈ s] + λ_μ μ_i

    is not negative, ``γ``, ``λ_s`` and ``λ_μ`` being the small solve's multipliers of the
    budget, the sector caps and the target (daqp's signs: ``Σw + q + Aᵀλ = 0``, ``λ ≤ 0`` at a
    lower bound). The assets that fail join the candidates and the problem is solved again;
    should the candidates make it infeasible (too few for the caps), the whole problem is
    solved. What is returned thus satisfies the whole problem's optimality (KKT) conditions:
    with Σ positive definite it is the unique solution, the one a solve of the whole problem
    gives (to daqp's tolerance).

    Parameters
    ----------
    cov : ndarray of shape (n_assets, n_assets)
        Covariance (positive definite, as Ledoit-Wolf and the sample's of enough days are).
    max_weight : float
        Per-asset cap.
    sector_rows : ndarray of shape (n_sectors, n_assets), optional
        0/1 membership of each capped sector.
    sector_caps : ndarray of shape (n_sectors,), optional
    """

    def __init__(
        self,
        cov: np.ndarray,
        *,
        max_weight: float,
        sector_rows: np.ndarray | None = None,
        sector_caps: np.ndarray | None = None,
    ) -> None:
        self.cov, self.max_weight = np.asarray(cov, dtype=float), max_weight
        _check_cap(len(self.cov), max_weight)
        self.sector_rows, self.sector_caps = _sector_rows(sector_rows, sector_caps, len(self.cov))
        # the last solve's candidates, multipliers of the simple bounds, the budget, every
        # sector (zero where not capped) and the target (zero without one): the next warm start
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        # per candidate set (without a target): the capped sectors, daqp's rows and bounds
        # and the covariance block, which the mean-variance path's points all share
        self._problems: dict[bytes, _Problem] = {}

    def first_candidates(self) -> np.ndarray:
        """The lowest-variance assets (at least twice as many as the cap needs), as a mask."""
        count = max(FIRST_CANDIDATES, int(np.ceil(2.0 / self.max_weight)))
        candidates = np.zeros(len(self.cov), dtype=bool)
        candidates[np.argsort(np.diag(self.cov), kind="stable")[:count]] = True
        return candidates

    def solve(
        self,
        candidates: np.ndarray,
        *,
        linear: np.ndarray | None = None,
        mu: np.ndarray | None = None,
        target_return: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The whole problem's weights, solved on ``candidates`` grown until every asset passes.

        Parameters
        ----------
        candidates : ndarray of bool, shape (n_assets,)
            The first guess (not modified).
        linear : ndarray of shape (n_assets,), optional
            The linear term ``q``.
        mu : ndarray of shape (n_assets,), optional
        target_return : float, optional
            With ``mu``: the constraint ``μᵀw ≥ target_return``.

        Returns
        -------
        weights : ndarray of shape (n_assets,)
        guess : ndarray of bool, shape (n_assets,)
            The holdings and the assets nearest to entering: a next solve's candidates.

        Raises
        ------
        InfeasibleConstraintsError, SolverError
            When daqp cannot solve even the whole problem.
        """
        candidates = np.array(candidates, dtype=bool)
        target = None if mu is None else target_return
        while True:
            try:
                weights, gradient = self._solve_on(np.flatnonzero(candidates), linear, mu, target)
            except SmallQError:
                if candidates.all():
                    raise
                candidates[:] = True  # the whole problem, as a plain solve would
                continue
            entering = gradient < -SCREEN_TOLERANCE
            if not entering.any():
                break
            candidates |= entering
        guess = weights > HELD_WEIGHT
        guess[np.argsort(gradient, kind="stable")[:NEAR_ENTERING]] = True
        return weights, guess

    def _solve_on(
        self,
        candidates: np.ndarray,
        linear: np.ndarray | None,
        mu: np.ndarray | None,
        target_return: float | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weights of the QP on ``candidates`` (zero elsewhere) and every asset's reduced gradient.

        The gradient is ``+inf`` on the candidates (they need no check).
        """
        n_assets, n_candidates = len(self.cov), len(candidates)
        every = n_candidates == n_assets  # the whole problem: nothing to check
        with_target = mu is not None and target_return is not None
        key = None if with_target else candidates.tobytes()
        problem = self._problems.get(key) if key is not None else None
        if problem is None:
            _check_cap(n_candidates, self.max_weight)
            rows = self.sector_rows if every else self.sector_rows[:, candidates]
            capped = np.asarray(rows.any(axis=1))  # a sector without candidates constrains nothing
            constraints, bounds = _capped_constraints(
                n_candidates,
                self.max_weight,
                rows[capped],
                self.sector_caps[capped],
                None if mu is None else np.asarray(mu, dtype=float)[candidates],
                target_return,
            )
            sub_cov = self.cov if every else self.cov[np.ix_(candidates, candidates)]
            problem = (capped, constraints, bounds, sub_cov)
            if key is not None:  # the path's points share the candidates' rows and bounds
                self._problems[key] = problem
        capped, constraints, bounds, sub_cov = problem
        x, duals, _ = _solve(
            sub_cov,
            constraints,
            bounds,
            self._warm_start(candidates, capped, with_target),
            Objective.MIN_VOLATILITY if linear is None else Objective.EFFICIENT_RISK,
            None if linear is None else linear[candidates],
        )
        general = duals[n_candidates:]  # budget, the sectors kept, then the target
        sector_duals = np.zeros(len(self.sector_caps))
        sector_duals[capped] = general[1 : 1 + int(capped.sum())]
        target_dual = general[-1] if with_target else 0.0
        # (np.concatenate, not np.r_: a solve is a few hundred microseconds, np.r_ ten of them)
        last = np.concatenate([duals[: n_candidates + 1], sector_duals, [target_dual]])
        self._last = (candidates, last)
        weights = np.zeros(n_assets)
        weights[candidates] = _normalise(x)
        if every:
            return weights, np.full(n_assets, np.inf)
        gradient = self.cov[:, candidates] @ weights[candidates] + general[0]
        gradient += sector_duals @ self.sector_rows
        if linear is not None:
            gradient += linear
        if with_target:
            gradient += target_dual * np.asarray(mu, dtype=float)
        gradient[candidates] = np.inf
        return weights, gradient

    def _warm_start(
        self, candidates: np.ndarray, capped: np.ndarray, with_target: bool
    ) -> np.ndarray | None:
        """The last solve's multipliers laid out for this one (daqp starts from their signs).

        An asset new to the candidates starts at its lower bound (most of them stay at zero; a
        small negative multiplier, above daqp's zero tolerance), a target new to the problem
        inactive. The start only saves iterations: daqp's answer is the optimum from any start.
        """
        if self._last is None:
            return None
        last_candidates, last = self._last
        n_last, n_sectors = len(last_candidates), len(self.sector_caps)
        position = np.minimum(np.searchsorted(last_candidates, candidates), n_last - 1)
        kept = last_candidates[position] == candidates
        bounds = np.where(kept, last[position], -1e-9)
        sectors = last[n_last + 1 : n_last + 1 + n_sectors][capped]
        target = last[-1:] if with_target else last[:0]
        return np.concatenate([bounds, last[n_last : n_last + 1], sectors, target])


def efficient_risk_qp(
    mu: np.ndarray,
    cov: np.ndarray,
    *,
    target_volatility: float,
    max_weight: float,
    groups: tuple[tuple[np.ndarray, float], ...] = (),
    tol: float = 1e-12,
) -> np.ndarray:
    """Long-only maximum expected return at a volatility target, with caps (fast path).

    Equal to PyPortfolioOpt's ``EfficientFrontier.efficient_risk`` (the reference path in
    :mod:`smallq.optimize`) to solver precision; see the module docstring for the method.

    Parameters
    ----------
    mu : ndarray of shape (n_assets,)
        Annual expected returns.
    cov : ndarray of shape (n_assets, n_assets)
        Annual covariance (positive definite, e.g. Ledoit-Wolf).
    target_volatility : float
        Annual volatility target; below the minimum the min-volatility weights are returned,
        above the max-return portfolio's the (approximate) max-return weights.
    max_weight : float
        Per-asset cap.
    groups : tuple of (ndarray of bool of shape (n_assets,), float)
        Sector masks and their caps.
    tol : float, default=1e-12
        Bisection stops when the volatility is this close to the target.

    Returns
    -------
    ndarray of shape (n_assets,)
        Weights summing to 1.

    Raises
    ------
    InfeasibleConstraintsError, SolverError
        When daqp cannot solve the QP.
    """
    path = FrontierPath(mu, cov, max_weight=max_weight, groups=groups)
    return path.at_volatility(target_volatility, tol=tol)


class FrontierPath:
    """The mean-variance path ``w(t) = argmin ½ wᵀΣw − t μᵀw`` of one capped problem.

    Every solved point ``(t, w, volatility)`` is kept, so successive targets on the same
    problem (a risk level's VaR guard walks several) start from the tightest known bracket
    instead of from ``t = 0``. Each point is a :class:`ScreenedQp` solve whose first
    candidates are the holdings and nearest entrants of the known points either side of ``t``
    (``w(t)`` moves little between them). A problem with no more assets than the screening's
    first candidates (the backtest's ten or so) would be solved whole anyway: there each point
    is one daqp solve on rows built once, warm-started from the previous point's multipliers,
    without the screening's bookkeeping (about half the CPU per point at eight assets). A
    point depends only on ``t``, so neither the cache nor the screening changes a result
    beyond solver precision.

    Parameters
    ----------
    mu, cov, max_weight, groups
        As :func:`efficient_risk_qp`.
    """

    def __init__(
        self,
        mu: np.ndarray,
        cov: np.ndarray,
        *,
        max_weight: float,
        groups: tuple[tuple[np.ndarray, float], ...] = (),
    ) -> None:
        self.mu = np.asarray(mu, dtype=float)
        self.cov = np.asarray(cov, dtype=float)
        n_assets = len(self.mu)
        self._qp = ScreenedQp(
            self.cov,
            max_weight=max_weight,
            sector_rows=np.array([mask for mask, _ in groups], float).reshape(-1, n_assets),
            sector_caps=np.array([cap for _, cap in groups], float),
        )
        self._points: list[tuple[float, np.ndarray, float]] = []  # sorted by t
        self._ts: list[float] = []  # the points' t, in that order
        self._guesses: list[np.ndarray] = []  # the next candidates of each point, in that order
        # a problem the screening would solve whole anyway (as many assets as its first
        # candidates): daqp on its prebuilt rows, without the screening's bookkeeping
        self._whole: tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._duals: np.ndarray | None = None
        if n_assets <= max(FIRST_CANDIDATES, int(np.ceil(2.0 / max_weight))):
            rows, caps = self._qp.sector_rows, self._qp.sector_caps
            kept = rows.any(axis=1)  # a sector without assets constrains nothing
            self._whole = _capped_constraints(
                n_assets, max_weight, rows[kept], caps[kept], None, None
            )

    def at(self, t: float) -> tuple[np.ndarray, float]:
        """The weights at ``t`` and their volatility (solved once per ``t``)."""
        position = bisect.bisect_left(self._ts, t)
        if position < len(self._points) and self._points[position][0] == t:
            _, weights, vol = self._points[position]
            return weights, vol
        if self._whole is not None:
            x, self._duals, _ = _solve(
                self.cov,
                *self._whole,
                self._duals,
                Objective.EFFICIENT_RISK,
                -t * self.mu,
            )
            weights, guess = _normalise(x), np.ones(len(x), dtype=bool)
        else:
            either_side = self._guesses[max(position - 1, 0) : position + 1]
            candidates = (
                np.logical_or.reduce(either_side) if either_side else self._qp.first_candidates()
            )
            weights, guess = self._qp.solve(candidates, linear=-t * self.mu)
        vol = math.sqrt(max(float(weights @ self.cov @ weights), 0.0))
        self._ts.insert(position, t)
        self._points.insert(position, (t, weights, vol))
        self._guesses.insert(position, guess)
        return weights, vol

    def _scale(self) -> float:
        """A first upper end for ``t``: the variance of the least-variance mix over the return
        the best asset adds to it (where ``t μ`` starts to outweigh ``Σw``), so the search starts
        near the path's bends instead of at ``t = 1``, far past where its weights stop moving."""
        _, low_w, low_vol = self._points[0]
        gain = float(self.mu.max() - self.mu @ low_w)
        return low_vol * low_vol / gain if gain > 1e-12 else 1.0

    def at_volatility(self, target: float, *, tol: float = 1e-12) -> np.ndarray:
        """Max ``μᵀw`` at volatility ``target`` (see :func:`efficient_risk_qp`)."""
        low_w, vol = self.at(0.0)
        if vol >= target - tol:
            return low_w
        below = [(t, w) for t, w, v in self._points if v < target]
        above = [(t, w, v) for t, w, v in self._points if v >= target]
        (low_t, low_w), bracket = below[-1], above[0] if above else None
        if bracket is None:
            high_t = max(self._scale(), 2.0 * low_t)
            while True:
                high_w, vol = self.at(high_t)
                if vol >= target or high_t > 1e9:
                    break
                low_t, low_w, high_t = high_t, high_w, high_t * 2.0
            if vol < target:
                return high_w
        else:
            high_t, high_w, vol = bracket
        if abs(vol - target) <= tol:
            return high_w
        # w(t) is piecewise affine in t (affine while the active set stays the same), so the
        # crossing of the line between the bracket's ends is exact once both ends lie on one
        # piece; a step that does not halve the bracket is followed by a bisection
        bisect = False
        weights = high_w
        low_tight, high_tight = self._tight(low_w), self._tight(high_w)
        for _ in range(200):
            width = high_t - low_t
            share = None if bisect else _crossing(low_w, high_w, self.cov, target)
            if share is not None and low_tight == high_tight:
                # the same constraints hold with equality at both ends: the KKT conditions of
                # that active set are linear in (t, w, multipliers), so every mix of the two
                # solutions solves the QP at the same mix of t, and the chord is the path
                return _normalise(low_w + share * (high_w - low_w))
            t = low_t + width * (0.5 if share is None else share)
            weights, vol = self.at(t)
            if abs(vol - target) <= tol or width <= 1e-15 * high_t:
                break
            if vol < target:
                low_t, low_w, low_tight = t, weights, self._tight(weights)
            else:
                high_t, high_w, high_tight = t, weights, self._tight(weights)
            bisect = share is not None and high_t - low_t > 0.5 * width
        return weights

    def _tight(self, weights: np.ndarray) -> bytes:
        """Which constraints hold with equality: weights at 0, at the cap, sectors at their cap."""
        qp = self._qp
        return np.concatenate(
            (
                weights <= TIGHT_TOL,
                weights >= qp.max_weight - TIGHT_TOL,
                qp.sector_rows @ weights >= qp.sector_caps - TIGHT_TOL,
            )
        ).tobytes()


def _crossing(low: np.ndarray, high: np.ndarray, cov: np.ndarray, target: float) -> float | None:
    """Where on the segment ``low + s (high - low)``, ``s`` in (0, 1), the volatility hits
    ``target`` (None when it does not cross inside)."""
    step = high - low
    a = float(low @ cov @ low) - target * target
    b = float(low @ cov @ step)
    c = float(step @ cov @ step)
    if c <= 0.0:
        share = -a / (2.0 * b) if b > 0 else None
    else:
        root = b * b - c * a
        share = (-b + float(np.sqrt(root))) / c if root >= 0 else None
    if share is None or not 0.0 < share < 1.0:
        return None
    return share


def weight_groups(limits: WeightLimits, tickers: list[str]) -> WeightGroups:
    """The sector caps of ``limits`` as masks over ``tickers``."""
    sectors = np.array([limits.sector_map.get(t, "") for t in tickers], dtype=object)
    return [(sectors == s, cap) for s, cap in limits.sector_caps.items()]


def within_caps(w: np.ndarray, upper: float, groups: WeightGroups, tol: float = CHECK_TOL) -> bool:
    """:func:`smallq.constraints.within_limits` on an array."""
    if not np.isfinite(w).all() or abs(w.sum() - 1) > tol:
        return False
    if w.min() < -tol or w.max() > upper + tol:
        return False
    return all(w[mask].sum() <= cap + tol for mask, cap in groups)


def clean_array(
    weights: np.ndarray, upper: float, groups: WeightGroups, cutoff: float
) -> np.ndarray:
    """:func:`smallq.constraints.clean_weights` on an array (the same steps)."""
    raw = np.maximum(weights, 0.0)
    trimmed = np.where(raw >= cutoff, raw, 0.0)
    for candidate in (trimmed, raw):
        if candidate.sum() <= 0:
            continue
        fitted = fit_array(candidate / candidate.sum(), upper, groups)
        if within_caps(fitted, upper, groups):
            return fitted
    cleaned: np.ndarray = raw / raw.sum()
    return cleaned
