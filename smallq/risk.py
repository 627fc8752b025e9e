"""Risk measures of a fixed-weight portfolio: VaR/CVaR, beta, risk contributions, the report.

Sharpe, drawdown, CAGR, volatility and effective holdings come from :mod:`smallq.measures`.

Pure functions on pandas objects (numpy and the standard library's ``NormalDist``, so
importing this module does not pull in scipy.stats). Conventions:

* returns are simple periodic (daily) returns; every loss is a **positive** fraction
  (``value_at_risk(...) == 0.031`` means a 3.1% loss);
* the portfolio is held at **fixed weights, rebalanced daily**: its return on a day is
  ``sum_i w_i r_i`` (see :func:`portfolio_returns`);
* weights are fractions of the **account** (shares plus cash). A built portfolio is measured
  as bought (:func:`compute_risk_metrics` gets ``amount / capital``), so weights may sum to
  less than 1 and the rest is **cash earning nothing** (as in the backtest and tracking):
  it adds no return, no volatility and no loss;
* VaR methods (:class:`~smallq.types.VarMethod`):

  - ``HISTORICAL``: VaR is the empirical ``confidence`` quantile of losses taken as an order
    statistic without interpolation, ``L_(k)`` with ``k = ceil(n * confidence)`` in ascending
    order (numpy's ``method="inverted_cdf"``, i.e. ``inf{l : F_n(l) >= confidence}``); CVaR is
    the mean of all losses at or beyond VaR. For ``horizon_days = h > 1`` it uses overlapping
    ``h``-day compounded returns when there are at least ``MIN_PERIODS_PER_HORIZON * h``
    daily observations, else the one-day figures scaled by ``sqrt(h)``.
  - ``PARAMETRIC``: normal with the sample mean and standard deviation (ddof=1); the mean scales
    by ``h`` and the standard deviation by ``sqrt(h)``.
    ``VaR = -(mu_h + sigma_h z_a)`` and ``CVaR = -mu_h + sigma_h phi(z_a) / a`` with
    ``a = 1 - confidence`` and ``z_a = Phi^-1(a)``.
  - ``CORNISH_FISHER``: the normal quantile ``z_a`` corrected for the sample skewness ``S`` and
    excess kurtosis ``K`` (pandas' bias-corrected estimators). For ``h > 1`` the moments are
    aggregated as for a sum of ``h`` i.i.d. days: mean ``h mu``, std ``sqrt(h) sigma``, skew
    ``S / sqrt(h)``, excess kurtosis ``K / h``. CVaR integrates the CF quantile over the tail
    exactly (the CF quantile is a cubic in ``z``, so ``int z^k phi(z) dz`` has closed forms).

  CVaR is never below VaR: where a distorted CF expansion would say otherwise, CVaR = VaR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from smallq.errors import (
    DataFormatError,
    DataUnavailableError,
    InputError,
    InsufficientHistoryError,
)
from smallq.measures import annual_volatility, cagr, effective_holdings, max_drawdown, sharpe_ratio
from smallq.models import RiskMetrics, VarEstimate
from smallq.types import VarMethod

#: overlapping h-day returns are used when n_days >= MIN_PERIODS_PER_HORIZON * h
MIN_PERIODS_PER_HORIZON: int = 50
_MIN_OBSERVATIONS: dict[VarMethod, int] = {
    VarMethod.HISTORICAL: 2,
    VarMethod.PARAMETRIC: 2,
    VarMethod.CORNISH_FISHER: 4,
}
#: the standard normal distribution (stdlib: equal to scipy.stats.norm to about 1e-15)
_NORMAL = NormalDist()


# --------------------------------------------------------------------------- portfolio returns
def portfolio_returns(returns: pd.DataFrame, weights: pd.Series) -> pd.Series:
    """Daily returns of a portfolio held at fixed weights and rebalanced every day.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Simple daily returns by ticker; may hold tickers that are not in ``weights``.
    weights : Series of shape (n_holdings,)
        Weights by ticker (normally summing to 1).

    Returns
    -------
    Series of shape (n_valid_days,)
        ``sum_i w_i r_i`` on each day where every held ticker has a return (other days dropped).

    Raises
    ------
    DataUnavailableError
        When a ticker in ``weights`` has no column in ``returns``.
    """
    missing = [t for t in weights.index if t not in returns.columns]
    if missing:
        raise DataUnavailableError(missing, "no returns for a held ticker")
    held = returns.loc[:, list(weights.index)].dropna(how="any")
    values = held.to_numpy(dtype=float) @ weights.to_numpy(dtype=float)
    return pd.Series(values, index=held.index, name="portfolio")


def _clean(returns: pd.Series, required: int) -> np.ndarray:
    values: np.ndarray = pd.Series(returns, dtype=float).dropna().to_numpy()
    _require(values, required)
    return values


def _require(values: np.ndarray, required: int) -> None:
    if values.size < required:
        raise InsufficientHistoryError(values.size, required, "return history")


def _check_confidence(confidence: float, horizon_days: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must lie in (0, 1), got {confidence}", field="confidence")
    if horizon_days < 1:
        raise InputError(f"horizon_days must be >= 1, got {horizon_days}", field="horizon_days")


# --------------------------------------------------------------------------- Cornish-Fisher
def cornish_fisher_z(probability: float, skew: float, excess_kurtosis: float) -> float:
    """Cornish-Fisher quantile of a standardised variable at ``probability``.

    ``z + (z^2 - 1) S / 6 + (z^3 - 3 z) K / 24 - (2 z^3 - 5 z) S^2 / 36`` with
    ``z = Phi^-1(probability)``; equals ``Phi^-1(probability)`` when ``S = K = 0``.
    """
    z = float(_NORMAL.inv_cdf(probability))
    return float(np.polyval(_cf_coefficients(skew, excess_kurtosis), z))


def _cf_coefficients(skew: float, kurt: float) -> tuple[float, float, float, float]:
    """Coefficients (z^3, z^2, z, 1) of the Cornish-Fisher cubic."""
    return (
        kurt / 24.0 - skew**2 / 18.0,
        skew / 6.0,
        1.0 - kurt / 8.0 + 5.0 * skew**2 / 36.0,
        -skew / 6.0,
    )


def cornish_fisher_tail_mean(probability: float, skew: float, excess_kurtosis: float) -> float:
    """Mean of the Cornish-Fisher quantile over the lower tail ``(0, probability)``.

    ``(1 / a) int_0^a z_CF(p) dp = (1 / a) int_{-inf}^{z_a} g(z) phi(z) dz`` for the CF cubic
    ``g``, integrated exactly with ``int_{-inf}^{x} z^k phi(z) dz``: ``Phi(x)``, ``-phi(x)``,
    ``Phi(x) - x phi(x)``, ``-(x^2 + 2) phi(x)`` for ``k = 0..3``. Equals ``-phi(z_a) / a``
    when ``S = K = 0``.
    """
    x = float(_NORMAL.inv_cdf(probability))
    cdf, pdf = float(_NORMAL.cdf(x)), float(_NORMAL.pdf(x))
    c3, c2, c1, c0 = _cf_coefficients(skew, excess_kurtosis)
    integral = c3 * -(x * x + 2.0) * pdf + c2 * (cdf - x * pdf) + c1 * -pdf + c0 * cdf
    return integral / probability


def cornish_fisher_in_domain(skew: float, excess_kurtosis: float) -> bool:
    """Whether the Cornish-Fisher cubic is increasing in ``z``, i.e. a quantile function.

    ``g'(z) = 3 c3 z^2 + 2 c2 z + c1 > 0`` for every ``z`` (Maillard 2012, "A user's guide
    to the Cornish Fisher expansion"); with no skew this is ``0 <= K <= 8``. Outside it the
    expansion describes no distribution, and its tail figures over- or understate the risk.
    """
    c3, c2, c1, _ = _cf_coefficients(skew, excess_kurtosis)
    if c3 == 0.0:
        return c2 == 0.0 and c1 > 0.0
    return c3 > 0.0 and c2 * c2 < 3.0 * c3 * c1


def cornish_fisher_note(returns: pd.Series) -> str:
    """A plain note when the skew-adjusted figures of ``returns`` are outside their domain.

    Returns ``""`` when :func:`cornish_fisher_in_domain` holds for the sample skewness and
    excess kurtosis of ``returns`` (or there are fewer than 4 returns).
    """
    values = pd.Series(returns, dtype=float).dropna()
    if len(values) < _MIN_OBSERVATIONS[VarMethod.CORNISH_FISHER]:
        return ""
    skew, kurt = float(values.skew()), float(values.kurt())
    if not (math.isfinite(skew) and math.isfinite(kurt)) or cornish_fisher_in_domain(skew, kurt):
        return ""
    return (
        "The skew-adjusted VaR and CVaR assume mildly fat tails; these daily returns have much "
        f"fatter ones (excess kurtosis {kurt:.1f}, skew {skew:+.2f}), where that adjustment no "
        "longer describes a distribution and over- or understates the risk: read the "
        "historical rows instead."
    )


# --------------------------------------------------------------------------- VaR and CVaR
def _historical(values: np.ndarray, confidence: float, horizon_days: int) -> tuple[float, float]:
    scale = 1.0
    if horizon_days > 1:
        if values.size >= MIN_PERIODS_PER_HORIZON * horizon_days:
            windows = np.lib.stride_tricks.sliding_window_view(1.0 + values, horizon_days)
            values = windows.prod(axis=1) - 1.0
        else:
            scale = math.sqrt(horizon_days)
    losses = np.sort(-values)
    k = math.ceil(losses.size * confidence - 1e-9)
    var = float(losses[min(max(k, 1), losses.size) - 1])
    tail = float(losses[losses >= var].mean())
    return var * scale, tail * scale


def historical_var_cvar(returns: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """One-day historical VaR and CVaR of finite returns, as :func:`value_at_risk` and :func:`cvar`.

    The array form for callers that check many accounts (``smallq.assessment``).

    Parameters
    ----------
    returns : ndarray of shape (n_days,)
        Simple daily returns, no NaNs.

    Raises
    ------
    InsufficientHistoryError
        Fewer than 2 returns.
    InputError
        ``confidence`` outside (0, 1).
    """
    _check_confidence(confidence, 1)
    if returns.size < _MIN_OBSERVATIONS[VarMethod.HISTORICAL]:
        raise InsufficientHistoryError(returns.size, 2, "return history")
    return _historical(returns, confidence, 1)


def _daily_moments(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, standard deviation (ddof=1), skewness and excess kurtosis (pandas' estimators)."""
    series = pd.Series(values)
    mean, std = float(series.mean()), float(series.std(ddof=1))
    return mean, std, float(series.skew()), float(series.kurt())


def _moments(
    daily: tuple[float, float, float, float], horizon_days: int
) -> tuple[float, float, float, float]:
    """The :func:`_daily_moments` of ``h`` i.i.d. days (see the module docstring)."""
    h = float(horizon_days)
    mean, std, skew, kurt = daily
    skew = 0.0 if math.isnan(skew) else skew / math.sqrt(h)
    kurt = 0.0 if math.isnan(kurt) else kurt / h
    return mean * h, std * math.sqrt(h), skew, kurt


def _var_cvar(
    returns: pd.Series, confidence: float, method: VarMethod, horizon_days: int
) -> tuple[float, float]:
    _check_confidence(confidence, horizon_days)
    method = VarMethod.parse(method)
    values = _clean(returns, _MIN_OBSERVATIONS[method])
    return _var_cvar_of(values, confidence, method, horizon_days, _MomentsOf(values))


class _MomentsOf:
    """The daily moments of one array of returns, computed on first use and then kept."""

    __slots__ = ("_daily", "_values")

    def __init__(self, values: np.ndarray) -> None:
        self._values = values
        self._daily: tuple[float, float, float, float] | None = None

    def over(self, horizon_days: int) -> tuple[float, float, float, float]:
        if self._daily is None:
            self._daily = _daily_moments(self._values)
        return _moments(self._daily, horizon_days)


def _var_cvar_of(
    values: np.ndarray,
    confidence: float,
    method: VarMethod,
    horizon_days: int,
    moments: _MomentsOf,
) -> tuple[float, float]:
    """VaR and CVaR of clean ``values`` (``moments`` of the same values, for the curves)."""
    if method is VarMethod.HISTORICAL:
        return _historical(values, confidence, horizon_days)
    tail = 1.0 - confidence
    mean, std, skew, kurt = moments.over(horizon_days)
    if method is VarMethod.CORNISH_FISHER:
        z = cornish_fisher_z(tail, skew, kurt)
        tail_z = cornish_fisher_tail_mean(tail, skew, kurt)
    else:
        z = float(_NORMAL.inv_cdf(tail))
        tail_z = -float(_NORMAL.pdf(z)) / tail
    var = -(mean + std * z)
    return var, max(var, -(mean + std * tail_z))


def value_at_risk(
    returns: pd.Series,
    confidence: float = 0.95,
    *,
    method: VarMethod = VarMethod.HISTORICAL,
    horizon_days: int = 1,
) -> float:
    """Value at risk of a return series (see the module docstring for each method).

    Parameters
    ----------
    returns : Series of shape (n_days,)
        Simple daily portfolio returns; NaNs are dropped.
    confidence : float, default=0.95
        The tail is the worst ``1 - confidence`` share of outcomes.
    method : VarMethod, default=HISTORICAL
    horizon_days : int, default=1

    Returns
    -------
    float
        Loss over ``horizon_days`` not exceeded with probability ``confidence``, as a positive
        fraction (negative when even the tail is a gain).

    Raises
    ------
    InsufficientHistoryError
        Fewer than 2 returns (4 for Cornish-Fisher).
    InputError
        ``confidence`` outside (0, 1) or ``horizon_days < 1``.
    """
    return _var_cvar(returns, confidence, method, horizon_days)[0]


def cvar(
    returns: pd.Series,
    confidence: float = 0.95,
    *,
    method: VarMethod = VarMethod.HISTORICAL,
    horizon_days: int = 1,
) -> float:
    """Conditional value at risk (expected shortfall): the mean loss at or beyond VaR.

    Same parameters and errors as :func:`value_at_risk`; the result is never below it.
    """
    return _var_cvar(returns, confidence, method, horizon_days)[1]


def var_table(
    portfolio_returns: pd.Series,
    *,
    confidences: Sequence[float] = (0.95, 0.99),
    horizons: Sequence[int] = (1, 10),
    methods: Sequence[VarMethod] = tuple(VarMethod),
) -> tuple[VarEstimate, ...]:
    """VaR and CVaR for every (method, confidence, horizon), in that nesting order.

    Raises
    ------
    InsufficientHistoryError
        See :func:`value_at_risk`.
    """
    values = _clean(portfolio_returns, 0)  # each method's minimum is checked below
    moments = _MomentsOf(values)  # the daily moments once for every curve and horizon
    table = []
    for method in map(VarMethod.parse, methods):
        for confidence in confidences:
            for horizon in horizons:
                _check_confidence(confidence, horizon)
                _require(values, _MIN_OBSERVATIONS[method])
                var, tail = _var_cvar_of(values, confidence, method, horizon, moments)
                table.append(VarEstimate(method, confidence, horizon, var, tail))
    return tuple(table)


# --------------------------------------------------------------------------- other measures
def beta(portfolio_returns: pd.Series, benchmark_returns: pd.Series) -> float:
    """OLS beta ``cov(r_p, r_b) / var(r_b)`` on the dates both series have (ddof=1).

    Raises
    ------
    InsufficientHistoryError
        Fewer than 3 common dates.
    DataFormatError
        When the benchmark returns are constant.
    """
    mine, theirs = portfolio_returns.index, benchmark_returns.index
    if mine.is_unique and theirs.is_unique:  # the rows an inner join gives, on arrays
        common = mine.intersection(theirs)
        joined = np.column_stack(
            [portfolio_returns.reindex(common).to_numpy(float),
             benchmark_returns.reindex(common).to_numpy(float)]
        )  # fmt: skip
        joined = joined[~np.isnan(joined).any(axis=1)]
    else:
        frame = pd.concat([portfolio_returns, benchmark_returns], axis=1, join="inner")
        joined = frame.dropna().to_numpy(float)
    if len(joined) < 3:
        raise InsufficientHistoryError(len(joined), 3, "overlapping benchmark history")
    return ols_beta(joined[:, 0], joined[:, 1])


def ols_beta(returns: np.ndarray, benchmark_returns: np.ndarray) -> float:
    """OLS beta ``cov(r, r_b) / var(r_b)`` (ddof=1) of returns already aligned by day.

    Parameters
    ----------
    returns, benchmark_returns : ndarray of shape (n_days,)
        Finite returns of the same days.

    Raises
    ------
    DataFormatError
        When the benchmark returns are constant.
    """
    variance = float(np.var(benchmark_returns, ddof=1))
    if variance <= 0.0:
        raise DataFormatError("benchmark", "constant benchmark returns; beta is undefined")
    return float(np.cov(returns, benchmark_returns, ddof=1)[0, 1] / variance)


def risk_contributions(weights: pd.Series, cov: pd.DataFrame) -> pd.Series:
    """Share of portfolio variance from each holding: ``w_i (cov w)_i / (w' cov w)``.

    Raises
    ------
    DataUnavailableError
        When a held ticker is missing from ``cov``.
    DataFormatError
        When the portfolio variance is not positive.
    """
    missing = [t for t in weights.index if t not in cov.index or t not in cov.columns]
    if missing:
        raise DataUnavailableError(missing, "no covariance for a held ticker")
    w = weights.to_numpy(dtype=float)
    sigma = cov.loc[weights.index, weights.index].to_numpy(dtype=float)
    marginal = sigma @ w
    variance = float(w @ marginal)
    if variance <= 0.0:
        raise DataFormatError("cov", "portfolio variance is not positive")
    return pd.Series(w * marginal / variance, index=weights.index, name="risk_contribution")


def compute_risk_metrics(
    weights: pd.Series,
    prices: pd.DataFrame,
    benchmark: pd.Series,
    mu: pd.Series,
    cov: pd.DataFrame,
    *,
    risk_free_rate: float,
    periods_per_year: int = 252,
    returns: pd.DataFrame | None = None,
    daily: pd.Series | None = None,
) -> RiskMetrics:
    """Ex-ante and historical risk figures of a fixed-weight portfolio and its cash.

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
        Fractions of the account by ticker (for a build: amount bought / capital); they may
        sum to less than 1, the rest being cash that earns nothing. Every rate and loss is
        then a fraction of the whole account, so times the capital it is money.
    prices : DataFrame of shape (n_days, n_assets)
        Lookback prices; the historical figures use the daily-rebalanced portfolio over them.
    benchmark : Series of shape (n_days,)
        Benchmark level, for beta.
    mu : Series, cov : DataFrame
        Annual expected returns and covariance (the ex-ante figures).
    risk_free_rate : float
        Annual, as a fraction.
    periods_per_year : int, default=252
    returns : DataFrame of shape (n_days - 1, n_assets), optional
        ``prices.pct_change()`` without its first row, when the caller has it (a build
        computes its window's returns once).
    daily : Series, optional
        ``portfolio_returns(returns, weights)``, when the caller has it (a build computes
        the portfolio's daily returns once for the risk figures, the stress tests and notes).

    Returns
    -------
    RiskMetrics

    Raises
    ------
    DataUnavailableError
        When a held ticker is missing from ``prices``, ``mu`` or ``cov``.
    InsufficientHistoryError
        When the prices or the benchmark overlap are too short.
    """
    missing = [t for t in weights.index if t not in mu.index]
    if missing:
        raise DataUnavailableError(missing, "no expected return for a held ticker")
    contributions = risk_contributions(weights, cov)
    if daily is None:
        if returns is None:
            returns = prices.pct_change(fill_method=None).iloc[1:]
        daily = portfolio_returns(returns, weights)
    w = weights.to_numpy(dtype=float)
    sigma = cov.loc[weights.index, weights.index].to_numpy(dtype=float)
    expected = float(w @ mu.loc[weights.index].to_numpy(dtype=float))
    volatility = math.sqrt(max(float(w @ sigma @ w), 0.0))
    return RiskMetrics(
        expected_return=expected,
        volatility=volatility,
        sharpe=sharpe_ratio(expected, volatility, risk_free_rate),
        beta=beta(daily, benchmark.pct_change(fill_method=None)),
        realized_return=cagr(daily, periods_per_year),
        realized_volatility=annual_volatility(daily, periods_per_year),
        max_drawdown=max_drawdown(daily).depth,
        var=var_table(daily),
        risk_contributions=contributions,
        effective_holdings=effective_holdings(weights / float(weights.sum())),
    )
