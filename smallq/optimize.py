"""The PyPortfolioOpt adapter: the only pypfopt/cvxpy import in the engine.

Every optimization is long-only with per-stock weights in ``[0, upper]`` and optional sector
caps (``sum of weights in sector s <= cap_s``). PyPortfolioOpt and cvxpy exceptions are
translated here into :mod:`smallq.errors`; nothing third-party escapes.

Fallback chain
    ``optimize_weights`` runs ``settings.objective`` first. If it fails, it walks the declared
    chain (default ``EngineParams.fallback_chain``: max Sharpe -> min volatility -> HRP ->
    equal weight) from the step after the requested objective; objectives outside the chain
    (``EFFICIENT_RISK``, ``MAX_UTILITY``) continue with the chain minus ``MAX_SHARPE``
    (min volatility -> HRP -> equal weight). Each failed step is recorded as a
    :class:`~smallq.models.FallbackStep` with a human reason; a fallback is never silent.

Effective upper bound
    ``min(max_weight, 1 / min_holdings)``: with every weight at most ``1/m`` and weights
    summing to 1, at least ``m`` weights are non-zero, which enforces the minimum number of
    holdings without a mixed-integer program. When sector caps make that bound infeasible, the
    bound is raised to just above the smallest feasible one (never above ``max_weight``), so the
    guarantee is kept as far as the caps allow.

HRP and equal weight
    HRP (PyPortfolioOpt's ``HRPOpt`` on daily returns, or on ``cov`` when no returns are
    given) and equal weight ignore bounds; their weights are fitted to the caps by repeatedly
    clipping and handing the excess to the names with room, in proportion to their weights.

Cleaning
    Weights below ``params.weight_cutoff`` become 0, the rest are renormalised and fitted to
    the caps again, and the Series follows the input ticker order (zeros kept).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, HRPOpt
from pypfopt.exceptions import OptimizationError as PypfoptOptimizationError

from smallq.errors import (
    DataFormatError,
    InfeasibleConstraintsError,
    InsufficientHistoryError,
    ProfileError,
    SolverError,
)
from smallq.models import FallbackStep, OptimizationResult, Settings
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import CovModel, Objective, ReturnsModel

#: cvxpy solvers tried in order (those not installed are skipped)
SOLVER_PREFERENCE: tuple[str, ...] = ("CLARABEL", "OSQP", "ECOS", "SCS")
#: extra daily observations required beyond the number of assets: n + max(n, margin)
HISTORY_MARGIN: int = 20
_TOL = 1e-9
_CHECK_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class _Problem:
    mu: pd.Series
    cov: pd.DataFrame
    upper: float
    sector_map: dict[str, str]
    sector_caps: dict[str, float]
    settings: Settings
    returns: pd.DataFrame | None


# --------------------------------------------------------------------------- feasibility
def check_feasibility(
    tickers: Sequence[str],
    *,
    max_weight: float,
    min_holdings: int,
    sector_map: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, float] | None = None,
    n_observations: int | None = None,
) -> None:
    """Raise when the limits cannot all hold for these tickers.

    Parameters
    ----------
    tickers : sequence of str of length n_assets
        The candidates.
    max_weight : float
        Largest weight per stock, in ``(0, 1]``.
    min_holdings : int
        Fewest stocks with a positive weight, at least 1.
    sector_map : mapping of str to str, optional
        Sector of each ticker (tickers absent from it are in no capped sector).
    sector_caps : mapping of str to float, optional
        Largest total weight per sector, each in ``[0, 1]``.
    n_observations : int, optional
        Daily returns behind the estimates; ``n + max(n, HISTORY_MARGIN)`` are required.

    Raises
    ------
    ProfileError
        When ``max_weight``, ``min_holdings`` or a cap is out of range.
    InfeasibleConstraintsError
        When ``n * max_weight < 1``, ``min_holdings > n``, or the sector caps (with the per-stock
        limit) cannot reach 100%; ``suggestion`` says what to relax.
    InsufficientHistoryError
        When ``n_observations`` is too small for the number of assets.
    """
    n = len(tickers)
    _check_ranges(max_weight, min_holdings, sector_caps)
    if n == 0:
        raise InfeasibleConstraintsError(
            "tickers", "there are no candidate stocks", "Choose more sectors or relax the filters."
        )
    if n * max_weight < 1 - _TOL:
        raise InfeasibleConstraintsError(
            "max_weight",
            f"{n} stocks at most {max_weight:.1%} each cover only {n * max_weight:.1%}",
            f"Raise the max weight to at least 1/{n} = {1 / n:.1%} or add stocks.",
        )
    if min_holdings > n:
        raise InfeasibleConstraintsError(
            "min_holdings",
            f"at least {min_holdings} holdings were asked for but there are only {n} candidates",
            f"Lower the minimum number of holdings to {n} or add stocks.",
        )
    groups = _sector_groups(list(tickers), sector_map, sector_caps)
    reach = _reachable_total(n, max_weight, groups)
    if reach < 1 - _TOL:
        capped = ", ".join(f"{s} ≤ {cap:.0%}" for s, (_, cap) in groups.items())
        raise InfeasibleConstraintsError(
            "sector_caps",
            f"the sector caps ({capped}) with at most {max_weight:.1%} per stock allow only "
            f"{reach:.1%} in total",
            "Raise the sector caps or the max weight, or add stocks from other sectors.",
        )
    if n_observations is not None:
        required = n + max(n, HISTORY_MARGIN)
        if n_observations < required:
            raise InsufficientHistoryError(n_observations, required, f"history for {n} stocks")


def _check_ranges(
    max_weight: float, min_holdings: int, sector_caps: Mapping[str, float] | None
) -> None:
    if not (np.isfinite(max_weight) and 0 < max_weight <= 1):
        raise ProfileError("max_weight", max_weight, "must be above 0% and at most 100%")
    if min_holdings < 1:
        raise ProfileError("min_holdings", min_holdings, "must be at least 1")
    for sector, cap in (sector_caps or {}).items():
        if not (np.isfinite(cap) and 0 <= cap <= 1):
            raise ProfileError("sector_caps", {sector: cap}, "each cap must be in 0%..100%")


def _sector_groups(
    tickers: list[str],
    sector_map: Mapping[str, str] | None,
    sector_caps: Mapping[str, float] | None,
) -> dict[str, tuple[np.ndarray, float]]:
    """Capped sectors present among ``tickers``: sector -> (boolean mask, cap)."""
    sectors = np.array([str((sector_map or {}).get(t, "")) for t in tickers], dtype=object)
    groups: dict[str, tuple[np.ndarray, float]] = {}
    for sector, cap in (sector_caps or {}).items():
        mask = sectors == str(sector)
        if mask.any():
            groups[str(sector)] = (mask, float(cap))
    return groups


def _reachable_total(n: int, upper: float, groups: Mapping[str, tuple[np.ndarray, float]]) -> float:
    """Largest total weight allowed by the per-stock bound and the sector caps."""
    in_groups = sum(int(mask.sum()) for mask, _ in groups.values())
    capped = sum(min(cap, int(mask.sum()) * upper) for mask, cap in groups.values())
    return float((n - in_groups) * upper + capped)


def effective_upper_bound(
    tickers: Sequence[str],
    *,
    max_weight: float,
    min_holdings: int,
    sector_map: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, float] | None = None,
) -> float:
    """Per-stock bound ``min(max_weight, 1/min_holdings)``, raised only if caps require it.

    Returns
    -------
    float
        The bound passed to the optimizer; see the module docstring.
    """
    groups = _sector_groups(list(tickers), sector_map, sector_caps)
    n = len(tickers)
    upper = min(max_weight, 1.0 / min_holdings)
    if _reachable_total(n, upper, groups) >= 1 - _TOL:
        return upper
    low, high = upper, max_weight
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (low, mid) if _reachable_total(n, mid, groups) >= 1 else (mid, high)
    return min(max_weight, high * 1.01)


# --------------------------------------------------------------------------- optimize
def optimize_weights(
    mu: pd.Series,
    cov: pd.DataFrame,
    settings: Settings,
    *,
    returns: pd.DataFrame | None = None,
    sector_map: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, float] | None = None,
    chain: Sequence[Objective] | None = None,
    params: EngineParams = DEFAULT_PARAMS,
) -> OptimizationResult:
    """Long-only weights for ``settings.objective``, degrading along the fallback chain.

    Parameters
    ----------
    mu : Series of shape (n_assets,)
        Annual expected returns by ticker.
    cov : DataFrame of shape (n_assets, n_assets)
        Annual covariance, indexed both ways by the tickers of ``mu``.
    settings : Settings
        Objective, ``max_weight``, ``min_holdings``, ``risk_free_rate`` (annual),
        ``target_volatility`` (annual, for ``EFFICIENT_RISK``), ``risk_aversion``.
    returns : DataFrame of shape (n_days, n_assets), optional
        Daily returns behind the estimates: used by HRP and for the history check.
    sector_map : mapping of str to str, optional
        Sector of each ticker.
    sector_caps : mapping of str to float, optional
        Largest total weight per sector.
    chain : sequence of Objective, optional
        Fallback chain; defaults to ``params.fallback_chain``.
    params : EngineParams, default=DEFAULT_PARAMS
        Supplies ``weight_cutoff`` and the default chain.

    Returns
    -------
    OptimizationResult
        Weights in the order of ``mu`` (zeros kept), the step used, the failed steps with
        reasons, the solver, and ex-ante annual return, volatility and Sharpe ratio.

    Raises
    ------
    DataFormatError
        When ``mu`` and ``cov`` disagree or hold non-finite values.
    ProfileError, InfeasibleConstraintsError, InsufficientHistoryError
        From :func:`check_feasibility`; no chain step can help then.
    SolverError
        When every step of the chain failed (``detail`` lists the reasons).
    """
    mu, cov = _validate_inputs(mu, cov)
    tickers = list(mu.index)
    history = None
    if returns is not None and set(tickers) <= set(returns.columns):
        history = returns.loc[:, tickers].dropna(how="any")
    check_feasibility(
        tickers,
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=sector_map,
        sector_caps=sector_caps,
        n_observations=None if history is None else len(history),
    )
    upper = effective_upper_bound(
        tickers,
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=sector_map,
        sector_caps=sector_caps,
    )
    problem = _problem(mu, cov, upper, sector_map, sector_caps, settings, history)
    failures: list[FallbackStep] = []
    for objective in _plan(settings.objective, params.fallback_chain if chain is None else chain):
        try:
            weights, solver = _STEPS[objective](problem)
        except SolverError as exc:
            failures.append(FallbackStep(objective, exc.detail))
            continue
        weights = _clean(weights, problem, params.weight_cutoff)
        return _result(weights, problem, objective, tuple(failures), solver)
    reasons = "; ".join(f"{f.objective.value}: {f.reason}" for f in failures)
    raise SolverError(settings.objective.value, f"every fallback step failed ({reasons})")


def _validate_inputs(mu: pd.Series, cov: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    tickers = list(mu.index)
    if len(set(tickers)) != len(tickers):
        raise DataFormatError("mu", "duplicate tickers")
    if set(cov.index) != set(tickers) or set(cov.columns) != set(tickers):
        raise DataFormatError("cov", "covariance tickers differ from expected-return tickers")
    cov = cov.loc[tickers, tickers].astype(float)
    mu = mu.astype(float)
    if not (np.isfinite(mu.to_numpy()).all() and np.isfinite(cov.to_numpy()).all()):
        raise DataFormatError("mu/cov", "expected returns or covariance hold NaN or inf")
    return mu, cov


def _problem(
    mu: pd.Series,
    cov: pd.DataFrame,
    upper: float,
    sector_map: Mapping[str, str] | None,
    sector_caps: Mapping[str, float] | None,
    settings: Settings,
    returns: pd.DataFrame | None,
) -> _Problem:
    tickers = list(mu.index)
    groups = _sector_groups(tickers, sector_map, sector_caps)
    mapping = {t: str((sector_map or {}).get(t, "")) for t in tickers}
    caps = {sector: cap for sector, (_, cap) in groups.items()}
    return _Problem(mu, cov, float(upper), mapping, caps, settings, returns)


def _plan(requested: Objective, chain: Sequence[Objective]) -> list[Objective]:
    """Return the requested objective, then the chain steps that follow it."""
    steps = list(chain)
    if requested in steps:
        return [requested, *steps[steps.index(requested) + 1 :]]
    return [requested, *[s for s in steps if s not in (Objective.MAX_SHARPE, requested)]]


def _result(
    weights: pd.Series,
    problem: _Problem,
    objective: Objective,
    fallbacks: tuple[FallbackStep, ...],
    solver: str,
) -> OptimizationResult:
    annual_return, volatility = _performance(weights, problem)
    rf = problem.settings.risk_free_rate
    sharpe = (annual_return - rf) / volatility if volatility > 0 else float("nan")
    return OptimizationResult(
        weights=weights,
        objective_requested=problem.settings.objective,
        objective_used=objective,
        fallbacks=fallbacks,
        solver=solver,
        expected_return=annual_return,
        volatility=volatility,
        sharpe=float(sharpe),
    )


def _performance(weights: pd.Series, problem: _Problem) -> tuple[float, float]:
    w = weights.to_numpy(dtype=float)
    variance = float(w @ problem.cov.to_numpy() @ w)
    return float(w @ problem.mu.to_numpy()), float(np.sqrt(max(variance, 0.0)))


# --------------------------------------------------------------------------- chain steps
def _solvers() -> tuple[str, ...]:
    installed = set(cp.installed_solvers())  # type: ignore[no-untyped-call]
    return tuple(s for s in SOLVER_PREFERENCE if s in installed)


def _frontier(problem: _Problem, solver: str) -> EfficientFrontier:
    ef = EfficientFrontier(
        problem.mu, problem.cov, weight_bounds=(0.0, problem.upper), solver=solver
    )
    if problem.sector_caps:
        ef.add_sector_constraints(problem.sector_map, {}, problem.sector_caps)
    return ef


def _solve(
    problem: _Problem, objective: Objective, call: Callable[[EfficientFrontier], object]
) -> tuple[pd.Series, str]:
    """Run ``call`` on a fresh EfficientFrontier with each solver until one succeeds."""
    errors: list[str] = []
    for solver in _solvers():
        ef = _frontier(problem, solver)
        try:
            call(ef)
        except (PypfoptOptimizationError, cp.error.SolverError) as exc:
            errors.append(f"{solver}: {_status(exc)}")
            continue
        except ValueError as exc:
            raise SolverError(objective.value, f"PyPortfolioOpt refused: {exc}") from exc
        weights = pd.Series(np.asarray(ef.weights, dtype=float), index=problem.mu.index)
        if _within_limits(weights, problem, _CHECK_TOL):
            return weights, solver
        errors.append(f"{solver}: returned weights outside the limits")
    detail = "; ".join(errors) or "no solver installed"
    raise SolverError(objective.value, f"the solver found no solution ({detail})")


def _status(exc: Exception) -> str:
    text = str(exc.args[-1]) if exc.args else type(exc).__name__
    return text.replace("Solver status: ", "") or type(exc).__name__


def _max_sharpe(problem: _Problem) -> tuple[pd.Series, str]:
    rf = float(problem.settings.risk_free_rate)
    best = float(problem.mu.max())
    if best <= rf:
        raise SolverError(
            Objective.MAX_SHARPE.value,
            f"max Sharpe is undefined: every expected return (best {best:.1%}) is below "
            f"the risk-free rate {rf:.1%}",
        )
    reach = _max_reachable_return(problem)
    if reach <= rf + _CHECK_TOL:
        raise SolverError(
            Objective.MAX_SHARPE.value,
            f"max Sharpe is undefined: with at most {problem.upper:.1%} per stock and the "
            f"sector caps, the best reachable expected return ({reach:.1%}) is not above "
            f"the risk-free rate {rf:.1%}",
        )
    return _solve(problem, Objective.MAX_SHARPE, lambda ef: ef.max_sharpe(risk_free_rate=rf))


def _min_volatility(problem: _Problem) -> tuple[pd.Series, str]:
    return _solve(problem, Objective.MIN_VOLATILITY, lambda ef: ef.min_volatility())


def _efficient_risk(problem: _Problem) -> tuple[pd.Series, str]:
    target = float(problem.settings.target_volatility)
    if not (np.isfinite(target) and target > 0):
        raise SolverError(
            Objective.EFFICIENT_RISK.value, f"target volatility {target} is not positive"
        )
    floor_weights, _ = _min_volatility(problem)
    floor = _performance(floor_weights, problem)[1]
    if target < floor * (1 - _CHECK_TOL):
        raise SolverError(
            Objective.EFFICIENT_RISK.value,
            f"the target volatility {target:.1%} is below the lowest volatility reachable "
            f"under these limits ({floor:.1%})",
        )
    return _solve(problem, Objective.EFFICIENT_RISK, lambda ef: ef.efficient_risk(target))


def _max_utility(problem: _Problem) -> tuple[pd.Series, str]:
    delta = float(problem.settings.risk_aversion)
    if not (np.isfinite(delta) and delta > 0):
        raise SolverError(Objective.MAX_UTILITY.value, f"risk aversion {delta} is not positive")
    return _solve(
        problem, Objective.MAX_UTILITY, lambda ef: ef.max_quadratic_utility(risk_aversion=delta)
    )


def _hrp(problem: _Problem) -> tuple[pd.Series, str]:
    if len(problem.mu) < 2:
        raise SolverError(Objective.HRP.value, "HRP needs at least two stocks")
    try:
        raw = HRPOpt(returns=problem.returns, cov_matrix=problem.cov).optimize()
    except (ValueError, TypeError, np.linalg.LinAlgError) as exc:
        raise SolverError(Objective.HRP.value, f"hierarchical risk parity failed: {exc}") from exc
    weights = pd.Series(raw, dtype=float).reindex(problem.mu.index).fillna(0.0)
    return _fit_to_caps(weights, problem, Objective.HRP), "hrp"


def _equal_weight(problem: _Problem) -> tuple[pd.Series, str]:
    weights = pd.Series(1.0 / len(problem.mu), index=problem.mu.index)
    return _fit_to_caps(weights, problem, Objective.EQUAL_WEIGHT), "closed form"


_STEPS: dict[Objective, Callable[[_Problem], tuple[pd.Series, str]]] = {
    Objective.MAX_SHARPE: _max_sharpe,
    Objective.MIN_VOLATILITY: _min_volatility,
    Objective.EFFICIENT_RISK: _efficient_risk,
    Objective.MAX_UTILITY: _max_utility,
    Objective.HRP: _hrp,
    Objective.EQUAL_WEIGHT: _equal_weight,
}


# --------------------------------------------------------------------------- limits
def _max_reachable_return(problem: _Problem) -> float:
    """Highest expected return under the bounds and caps (greedy is exact for these limits)."""
    left = 1.0
    sector_left = dict(problem.sector_caps)
    total = 0.0
    for ticker, value in problem.mu.sort_values(ascending=False).items():
        sector = problem.sector_map[str(ticker)]
        take = min(problem.upper, sector_left.get(sector, np.inf), left)
        if take <= 0:
            continue
        total += take * float(value)
        left -= take
        if sector in sector_left:
            sector_left[sector] -= take
    return total


def _within_limits(weights: pd.Series, problem: _Problem, tol: float) -> bool:
    w = weights.to_numpy(dtype=float)
    if not np.isfinite(w).all() or abs(w.sum() - 1) > tol:
        return False
    if w.min() < -tol or w.max() > problem.upper + tol:
        return False
    sectors = weights.index.map(problem.sector_map)
    return all(w[sectors == s].sum() <= cap + tol for s, cap in problem.sector_caps.items())


def _fit_to_caps(weights: pd.Series, problem: _Problem, objective: Objective) -> pd.Series:
    """Clip to the per-stock bound and sector caps, handing the excess to names with room."""
    w = weights.to_numpy(dtype=float).clip(min=0.0)
    w = w / w.sum()
    sectors = np.asarray(weights.index.map(problem.sector_map))
    groups = [(sectors == s, cap) for s, cap in problem.sector_caps.items()]
    for _ in range(1000):
        w = np.minimum(w, problem.upper)
        for mask, cap in groups:
            total = w[mask].sum()
            if total > cap:
                w[mask] *= cap / total
        gap = 1.0 - w.sum()
        if gap <= _TOL:
            break
        room = problem.upper - w
        for mask, cap in groups:
            room[mask] = np.minimum(room[mask], cap - w[mask].sum())
        open_ = room > _TOL
        base = np.where(open_ & (w > 0), w, 0.0)
        if base.sum() <= 0:
            base = open_.astype(float)
        if base.sum() <= 0:
            break
        w = w + np.minimum(gap * base / base.sum(), room.clip(min=0.0))
    fitted = pd.Series(w / w.sum(), index=weights.index)
    if not _within_limits(fitted, problem, _CHECK_TOL):
        raise SolverError(objective.value, "the weights could not be fitted to the limits")
    return fitted


def _clean(weights: pd.Series, problem: _Problem, cutoff: float) -> pd.Series:
    """Zero weights below ``cutoff``, renormalise, and fit to the limits again."""
    raw = weights.clip(lower=0.0)
    trimmed = raw.where(raw >= cutoff, 0.0)
    for candidate in (trimmed, raw):
        if candidate.sum() <= 0:
            continue
        try:
            return _fit_to_caps(candidate / candidate.sum(), problem, problem.settings.objective)
        except SolverError:
            continue
    return raw / raw.sum()


# --------------------------------------------------------------------------- frontier
def efficient_frontier(
    mu: pd.Series,
    cov: pd.DataFrame,
    *,
    max_weight: float,
    n_points: int = 40,
    sector_map: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Long-only efficient frontier from the min-volatility return to the highest reachable one.

    Parameters
    ----------
    mu : Series of shape (n_assets,)
        Annual expected returns.
    cov : DataFrame of shape (n_assets, n_assets)
        Annual covariance.
    max_weight : float
        Per-stock upper bound (pass the effective bound used by the optimizer).
    n_points : int, default=40
        Target returns, evenly spaced; targets the solver cannot reach are skipped.
    sector_map, sector_caps : mapping, optional
        Sector limits as in :func:`optimize_weights`.

    Returns
    -------
    DataFrame of shape (n_found, 2)
        Columns ``volatility`` and ``expected_return`` (annual), ascending in volatility.

    Raises
    ------
    DataFormatError, ProfileError, InfeasibleConstraintsError
        On inconsistent inputs or limits that cannot hold.
    SolverError
        When even the min-volatility portfolio cannot be found.
    """
    mu, cov = _validate_inputs(mu, cov)
    tickers = list(mu.index)
    check_feasibility(
        tickers,
        max_weight=max_weight,
        min_holdings=1,
        sector_map=sector_map,
        sector_caps=sector_caps,
    )
    settings = Settings(
        objective=Objective.MIN_VOLATILITY,
        returns_model=ReturnsModel.MEAN,
        cov_model=CovModel.SAMPLE,
        max_weight=max_weight,
        min_holdings=1,
        risk_free_rate=0.0,
        target_volatility=1.0,
        risk_aversion=1.0,
    )
    problem = _problem(mu, cov, max_weight, sector_map, sector_caps, settings, None)
    low_weights, solver = _min_volatility(problem)
    low = _performance(low_weights, problem)
    high = _max_reachable_return(problem)
    points = [low]
    if high - low[0] > 1e-9:
        ef = _frontier(problem, solver)
        span = high - low[0]
        for target in np.linspace(low[0], high - 1e-6 * span, n_points)[1:]:
            try:
                ef.efficient_return(float(target))
            except (PypfoptOptimizationError, cp.error.SolverError, ValueError):
                continue
            weights = pd.Series(np.asarray(ef.weights, dtype=float), index=mu.index)
            points.append(_performance(weights, problem))
    frame = pd.DataFrame(points, columns=["expected_return", "volatility"])
    return frame.loc[:, ["volatility", "expected_return"]].sort_values(
        "volatility", ignore_index=True
    )
