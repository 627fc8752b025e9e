"""Weight limits: feasibility, the effective upper bound, and fitting weights to the caps.

Pure numpy/pandas; :mod:`smallq.optimize` hands these limits to PyPortfolioOpt. Every
portfolio is long-only with per-stock weights in ``[0, upper]`` and optional sector caps
(``sum of weights in sector s <= cap_s``).

Checked once
    :func:`feasible_limits` runs :func:`check_feasibility` and returns the
    :class:`WeightLimits` to solve under; the optimizer and the frontier accept those limits
    and then skip their own check, so a build checks feasibility once.

Effective upper bound
    ``min(max_weight, 1 / min_holdings)``: with every weight at most ``1/m`` and weights
    summing to 1, at least ``m`` weights are non-zero, which enforces the minimum number of
    holdings without a mixed-integer program. When sector caps make that bound infeasible, the
    bound is raised to just above the smallest feasible one (never above ``max_weight``), so the
    guarantee is kept as far as the caps allow.

Fitting to the caps
    Weights that ignore the bounds (HRP, equal weight) are fitted to the caps by repeatedly
    clipping and handing the excess to the names with room, in proportion to their weights.

Cleaning
    Weights below a cutoff become 0, the rest are renormalised and fitted to the caps again,
    and the Series follows the input ticker order (zeros kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict, Unpack

import numpy as np
import pandas as pd

from smallq.errors import InfeasibleConstraintsError, InsufficientHistoryError, ProfileError

__all__ = [
    "CHECK_TOL",
    "HISTORY_MARGIN",
    "LimitArgs",
    "WeightGroups",
    "WeightLimits",
    "check_feasibility",
    "clean_weights",
    "effective_upper_bound",
    "feasible_limits",
    "fit_array",
    "fit_to_caps",
    "max_reachable_return",
    "within_limits",
]

#: extra daily observations required beyond the number of assets: n + max(n, margin)
HISTORY_MARGIN: int = 20
#: tolerance when checking weights against the limits
CHECK_TOL: float = 1e-6
_TOL = 1e-9

#: per capped sector: its members (a boolean mask over the tickers) and its cap
WeightGroups = list[tuple[np.ndarray, float]]


@dataclass(frozen=True, slots=True)
class WeightLimits:
    """The per-stock bound and the sector caps that apply to a set of tickers.

    Attributes
    ----------
    upper : float
        Largest weight per stock.
    sector_map : dict of str to str
        Sector of each ticker (``""`` when it has none).
    sector_caps : dict of str to float
        Largest total weight per sector, for the capped sectors present among the tickers.
    """

    upper: float
    sector_map: dict[str, str]
    sector_caps: dict[str, float]

    @classmethod
    def build(
        cls,
        tickers: Sequence[str],
        upper: float,
        sector_map: Mapping[str, str] | None = None,
        sector_caps: Mapping[str, float] | None = None,
    ) -> WeightLimits:
        """Limits for ``tickers``, dropping caps of sectors none of them belongs to."""
        groups = _sector_groups(list(tickers), sector_map, sector_caps)
        mapping = {t: str((sector_map or {}).get(t, "")) for t in tickers}
        caps = {sector: cap for sector, (_, cap) in groups.items()}
        return cls(float(upper), mapping, caps)


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


class LimitArgs(TypedDict):
    """The keyword arguments of :func:`check_feasibility`, which :func:`feasible_limits` takes."""

    max_weight: float
    min_holdings: int
    sector_map: NotRequired[Mapping[str, str] | None]
    sector_caps: NotRequired[Mapping[str, float] | None]
    n_observations: NotRequired[int | None]


def feasible_limits(tickers: Sequence[str], **limits: Unpack[LimitArgs]) -> WeightLimits:
    """Check feasibility once and return the limits to solve under.

    Parameters
    ----------
    tickers : sequence of str of length n_assets
    **limits : LimitArgs
        ``max_weight``, ``min_holdings``, ``sector_map``, ``sector_caps`` and
        ``n_observations``, as :func:`check_feasibility`.

    Returns
    -------
    WeightLimits
        The effective upper bound (:func:`effective_upper_bound`) and the sector caps present
        among ``tickers``; proof that the check passed, for
        :func:`smallq.optimize.optimize_weights` (``limits=``).

    Raises
    ------
    ProfileError, InfeasibleConstraintsError, InsufficientHistoryError
        As :func:`check_feasibility`.
    """
    check_feasibility(tickers, **limits)
    sector_map, sector_caps = limits.get("sector_map"), limits.get("sector_caps")
    upper = effective_upper_bound(
        tickers,
        max_weight=limits["max_weight"],
        min_holdings=limits["min_holdings"],
        sector_map=sector_map,
        sector_caps=sector_caps,
    )
    return WeightLimits.build(tickers, upper, sector_map, sector_caps)


# --------------------------------------------------------------------------- weights
def max_reachable_return(mu: pd.Series, limits: WeightLimits) -> float:
    """Highest expected return under the bounds and caps (greedy is exact for these limits).

    Parameters
    ----------
    mu : Series of shape (n_assets,)
        Annual expected returns by ticker (every ticker in ``limits.sector_map``).
    limits : WeightLimits
    """
    left = 1.0
    sector_left = dict(limits.sector_caps)
    total = 0.0
    for ticker, value in mu.sort_values(ascending=False).items():
        sector = limits.sector_map[str(ticker)]
        take = min(limits.upper, sector_left.get(sector, np.inf), left)
        if take <= 0:
            continue
        total += take * float(value)
        left -= take
        if sector in sector_left:
            sector_left[sector] -= take
    return total


def within_limits(weights: pd.Series, limits: WeightLimits, tol: float = CHECK_TOL) -> bool:
    """Whether ``weights`` are finite, sum to 1, and respect the bound and the caps (± ``tol``).

    Parameters
    ----------
    weights : Series of shape (n_assets,)
    limits : WeightLimits
    tol : float, default=CHECK_TOL
    """
    w = weights.to_numpy(dtype=float)
    if not np.isfinite(w).all() or abs(w.sum() - 1) > tol:
        return False
    if w.min() < -tol or w.max() > limits.upper + tol:
        return False
    sectors = weights.index.map(limits.sector_map)
    return all(w[sectors == s].sum() <= cap + tol for s, cap in limits.sector_caps.items())


def fit_to_caps(weights: pd.Series, limits: WeightLimits) -> pd.Series:
    """Clip to the per-stock bound and sector caps, handing the excess to names with room.

    Parameters
    ----------
    weights : Series of shape (n_assets,)
        Non-negative weights with a positive sum.
    limits : WeightLimits

    Returns
    -------
    Series of shape (n_assets,)
        Weights summing to 1; best effort, so check them with :func:`within_limits`.
    """
    sectors = np.asarray(weights.index.map(limits.sector_map))
    groups = [(sectors == s, cap) for s, cap in limits.sector_caps.items()]
    fitted = fit_array(weights.to_numpy(dtype=float), limits.upper, groups)
    return pd.Series(fitted, index=weights.index)


def fit_array(weights: np.ndarray, upper: float, groups: WeightGroups) -> np.ndarray:
    """:func:`fit_to_caps` on an array, for the fast paths (pandas costs more than a QP there).

    Parameters
    ----------
    weights : ndarray of shape (n_assets,)
        Non-negative weights with a positive sum.
    upper : float
        Largest weight per stock.
    groups : WeightGroups
        Per capped sector, its members as a boolean mask over the assets and its cap.

    Returns
    -------
    ndarray of shape (n_assets,)
        Weights summing to 1; best effort.
    """
    w = weights.clip(min=0.0)
    w = w / w.sum()
    for _ in range(1000):
        w = np.minimum(w, upper)
        for mask, cap in groups:
            total = w[mask].sum()
            if total > cap:
                w[mask] *= cap / total
        gap = 1.0 - w.sum()
        if gap <= _TOL:
            break
        room = upper - w
        for mask, cap in groups:
            room[mask] = np.minimum(room[mask], cap - w[mask].sum())
        open_ = room > _TOL
        base = np.where(open_ & (w > 0), w, 0.0)
        if base.sum() <= 0:
            base = open_.astype(float)
        if base.sum() <= 0:
            break
        w = w + np.minimum(gap * base / base.sum(), room.clip(min=0.0))
    fitted: np.ndarray = w / w.sum()
    return fitted


def clean_weights(weights: pd.Series, limits: WeightLimits, cutoff: float) -> pd.Series:
    """Zero weights below ``cutoff``, renormalise, and fit to the limits again.

    Parameters
    ----------
    weights : Series of shape (n_assets,)
    limits : WeightLimits
    cutoff : float
        Smallest weight kept.

    Returns
    -------
    Series of shape (n_assets,)
        The trimmed weights if they fit the limits, else the untrimmed ones fitted, else the
        untrimmed ones renormalised.
    """
    raw = weights.clip(lower=0.0)
    trimmed = raw.where(raw >= cutoff, 0.0)
    for candidate in (trimmed, raw):
        if candidate.sum() <= 0:
            continue
        fitted = fit_to_caps(candidate / candidate.sum(), limits)
        if within_limits(fitted, limits, CHECK_TOL):
            return fitted
    return raw / raw.sum()
