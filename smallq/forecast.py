"""Expected returns and covariance estimators (annualised), pure numpy/pandas.

Conventions shared by every estimator:

* the **estimation window** is the last ``lookback_days + 1`` prices, and only stocks with a
  price on every one of those days take part (:func:`estimation_window`): a stock listed
  later is left out with a note naming it, so it never shortens the others' window. The
  build and the backtest both go through it (:mod:`smallq.decision`);
* daily **simple** returns ``prices.pct_change()``; the first row is dropped and so is any
  row where a ticker has no return, so every estimator sees the same common window;
* annualisation by ``periods_per_year`` (252): means scale by 252, covariances by 252;
* ``ReturnsModel.MEAN`` is the **arithmetic** mean of daily simple returns times 252 (not the
  compounded CAGR). It equals PyPortfolioOpt's
  ``mean_historical_return(prices, compounding=False)``;
* ``ReturnsModel.EMA`` is the exponentially weighted mean (pandas ``ewm(span=span)``, adjusted
  weights) of daily returns at the last date, times 252 — PyPortfolioOpt's
  ``ema_historical_return(prices, span=span, compounding=False)``;
* ``ReturnsModel.CAPM`` is ``rf + beta_i (E[r_m] - rf)`` with ``beta_i = cov(r_i, r_m) /
  var(r_m)`` from daily returns (ddof=1) and ``E[r_m]`` the arithmetic annual mean of the
  benchmark — PyPortfolioOpt's ``capm_return(..., compounding=False)``;
* ``CovModel.SAMPLE`` is the sample covariance (ddof=1); ``CovModel.LEDOIT_WOLF`` shrinks the
  maximum-likelihood covariance of demeaned returns towards a constant-variance target
  (:func:`ledoit_wolf`, the closed form of scikit-learn's ``ledoit_wolf``, tested equal to it
  to 1e-10; the default of PyPortfolioOpt's ``CovarianceShrinkage.ledoit_wolf()``);
  ``CovModel.EXP`` is the exponentially weighted average of the outer products of returns
  demeaned by their full-window mean
  (PyPortfolioOpt's ``exp_cov``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smallq.errors import (
    DataFormatError,
    DataUnavailableError,
    InsufficientHistoryError,
    TooFewCandidatesError,
)
from smallq.models import Settings
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import CovModel, ReturnsModel

#: fewest daily returns any estimator accepts
MIN_OBSERVATIONS: int = 20


@dataclass(frozen=True, slots=True)
class EstimationWindow:
    """The prices the estimates are computed on, and who was left out of them.

    Attributes
    ----------
    window : DataFrame of shape (lookback_days + 1, n_complete)
        The last ``lookback_days + 1`` rows, only the tickers with a price on every one.
    left_out : tuple of str
        Tickers without a complete window.
    notes : tuple of str
        One note naming the left-out tickers, each with its days of prices and first date.
    """

    window: pd.DataFrame
    left_out: tuple[str, ...]
    notes: tuple[str, ...]


def estimation_window(prices: pd.DataFrame, lookback_days: int) -> EstimationWindow:
    """Cut the estimation window and leave out every ticker without a price on each of its days.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Cleaned closes up to the decision date (the last row).
    lookback_days : int
        Daily returns wanted; the window holds ``lookback_days + 1`` prices.

    Returns
    -------
    EstimationWindow

    Raises
    ------
    InsufficientHistoryError
        When ``prices`` has fewer than ``lookback_days + 1`` rows.
    TooFewCandidatesError
        When no ticker has a complete window.
    """
    needed = lookback_days + 1
    window = prices.iloc[-needed:]
    if len(window) < needed:
        raise InsufficientHistoryError(len(window), needed, "lookback history")
    complete = window.notna().all()
    left_out = tuple(str(t) for t in window.columns[~complete.to_numpy()])
    if len(left_out) == window.shape[1]:
        hint = "Choose a shorter lookback or other stocks."
        raise TooFewCandidatesError("estimation window", 0, 1, hint)
    notes = (_left_out_note(window[list(left_out)], needed),) if left_out else ()
    return EstimationWindow(window.loc[:, complete.to_numpy()], left_out, notes)


def _left_out_note(prices: pd.DataFrame, needed: int, limit: int = 10) -> str:
    """One note naming each left-out ticker with its days of prices and its first date."""
    parts = []
    for ticker in prices.columns[:limit]:
        valid = prices[ticker].dropna()
        since = f", from {valid.index[0]:%Y-%m-%d}" if len(valid) else ""
        parts.append(f"{ticker} ({len(valid)} days{since})")
    more = f" and {prices.shape[1] - limit} more" if prices.shape[1] > limit else ""
    return (
        f"Left out for lacking prices on all {needed} days of the estimation window, so the "
        f"other stocks keep their full window: {', '.join(parts)}{more}."
    )


def daily_returns(
    prices: pd.DataFrame, *, min_observations: int = MIN_OBSERVATIONS
) -> pd.DataFrame:
    """Daily simple returns on the common window of all tickers.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes, dates x tickers.
    min_observations : int, default=MIN_OBSERVATIONS
        Fewest complete return rows accepted.

    Returns
    -------
    DataFrame of shape (n_obs, n_assets)
        ``prices.pct_change()`` without the first row and without rows holding a NaN.

    Raises
    ------
    DataUnavailableError
        When a ticker has no price at all.
    DataFormatError
        When a return is infinite (a zero or negative price).
    InsufficientHistoryError
        When fewer than ``min_observations`` complete rows remain.
    """
    values, complete = _returns_array(prices, min_observations)
    return pd.DataFrame(values, index=prices.index[1:][complete], columns=prices.columns)


def _returns_array(prices: pd.DataFrame, min_observations: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`daily_returns` as an array, and which return rows it kept (numpy only)."""
    values = prices.to_numpy(dtype=float)
    empty = [str(t) for t in prices.columns[~np.isfinite(values).any(axis=0)]]
    if empty:
        raise DataUnavailableError(empty, "no prices in the lookback window")
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = values[1:] / values[:-1] - 1.0
    complete = ~np.isnan(changes).any(axis=1)
    returns = changes[complete]
    bad = [str(t) for t in prices.columns[~np.isfinite(returns).all(axis=0)]]
    if bad:
        raise DataFormatError("prices", f"non-finite daily returns for {', '.join(bad)}")
    if len(returns) < min_observations:
        raise InsufficientHistoryError(len(returns), min_observations, "price history")
    return returns, complete


def expected_returns(
    prices: pd.DataFrame,
    model: ReturnsModel,
    *,
    benchmark: pd.Series | None = None,
    risk_free_rate: float,
    periods_per_year: int = 252,
    span: int = 180,
    min_observations: int = MIN_OBSERVATIONS,
) -> pd.Series:
    """Annual expected return of each ticker.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes, dates x tickers.
    model : ReturnsModel
        ``MEAN`` (arithmetic), ``EMA`` (exponentially weighted with ``span``) or ``CAPM``.
    benchmark : Series of shape (n_days,), optional
        Benchmark level (index or ETF price) by date; required for ``CAPM``.
    risk_free_rate : float
        Annual risk-free rate as a fraction (used by ``CAPM``).
    periods_per_year : int, default=252
        Trading days per year.
    span : int, default=180
        EMA span in days.
    min_observations : int, default=MIN_OBSERVATIONS
        Fewest daily returns accepted.

    Returns
    -------
    Series of shape (n_assets,)
        Annual expected returns (fractions) indexed by ticker, in the column order of ``prices``.

    Raises
    ------
    DataUnavailableError
        When ``CAPM`` is asked for without a benchmark, or a ticker has no prices.
    DataFormatError
        On infinite returns or a benchmark with zero variance.
    InsufficientHistoryError
        When too few daily returns remain.
    """
    model = ReturnsModel.parse(model)
    if model is ReturnsModel.CAPM:
        return _capm(prices, benchmark, risk_free_rate, periods_per_year, min_observations)
    values, _complete = _returns_array(prices, min_observations)
    return _mean_returns(values, prices.columns, model, periods_per_year, span)


def _mean_returns(
    values: np.ndarray, tickers: pd.Index, model: ReturnsModel, periods_per_year: int, span: int
) -> pd.Series:
    """Annual mean (or EMA, with pandas' recursion) of complete daily returns."""
    if model is ReturnsModel.EMA:
        daily = pd.DataFrame(values, columns=tickers).ewm(span=span).mean().iloc[-1].to_numpy()
    else:
        daily = values.mean(axis=0)
    return pd.Series(daily * periods_per_year, index=tickers, name="expected_return")


def _capm(
    prices: pd.DataFrame,
    benchmark: pd.Series | None,
    risk_free_rate: float,
    periods_per_year: int,
    min_observations: int,
) -> pd.Series:
    if benchmark is None:
        raise DataUnavailableError(["benchmark"], "CAPM expected returns need a benchmark")
    market = "__benchmark__"
    joined = prices.join(benchmark.rename(market), how="left")
    returns = daily_returns(joined, min_observations=min_observations)
    cov = np.cov(returns.to_numpy(), rowvar=False, ddof=1)
    market_var = cov[-1, -1]
    if not market_var > 0:
        raise DataFormatError("benchmark", "the benchmark has zero variance")
    betas = cov[:-1, -1] / market_var
    market_return = returns[market].mean() * periods_per_year
    values = risk_free_rate + betas * (market_return - risk_free_rate)
    return pd.Series(values, index=prices.columns, name="expected_return")


def covariance(
    prices: pd.DataFrame,
    model: CovModel,
    *,
    periods_per_year: int = 252,
    span: int = 180,
    min_observations: int = MIN_OBSERVATIONS,
) -> pd.DataFrame:
    """Annual covariance matrix of daily simple returns.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes, dates x tickers.
    model : CovModel
        ``SAMPLE``, ``LEDOIT_WOLF`` (constant-variance target) or ``EXP`` (span ``span``).
    periods_per_year : int, default=252
        Trading days per year.
    span : int, default=180
        Span in days of the exponential weights (``EXP``).
    min_observations : int, default=MIN_OBSERVATIONS
        Fewest daily returns accepted; at least ``n_assets + 1`` are always required.

    Returns
    -------
    DataFrame of shape (n_assets, n_assets)
        Symmetric positive semi-definite annual covariance, indexed both ways by ticker.

    Raises
    ------
    InsufficientHistoryError
        When fewer than ``max(min_observations, n_assets + 1)`` complete return rows remain.
    DataUnavailableError, DataFormatError
        As :func:`daily_returns`.
    """
    model = CovModel.parse(model)
    required = max(min_observations, prices.shape[1] + 1)
    values, _complete = _returns_array(prices, required)
    annual = covariance_array(values, model, periods_per_year=periods_per_year, span=span)
    return pd.DataFrame(annual, index=prices.columns, columns=prices.columns)


def covariance_array(
    returns: np.ndarray, model: CovModel, *, periods_per_year: int = 252, span: int = 180
) -> np.ndarray:
    """Annual covariance of complete daily returns, the numpy core of :func:`covariance`.

    Parameters
    ----------
    returns : ndarray of shape (n_obs, n_assets)
        Finite daily simple returns (no missing rows).
    model : CovModel
    periods_per_year, span : int

    Returns
    -------
    ndarray of shape (n_assets, n_assets)
        Symmetric annual covariance.
    """
    if model is CovModel.LEDOIT_WOLF:
        daily, _shrinkage = ledoit_wolf(returns)
    elif model is CovModel.EXP:
        daily = _exp_cov(returns, span)
    else:
        daily = np.cov(returns, rowvar=False, ddof=1)
    daily = np.atleast_2d(daily)
    symmetric: np.ndarray = (daily + daily.T) / 2.0 * periods_per_year
    return symmetric


def ledoit_wolf(returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage towards a constant variance, in closed form.

    The same operations as scikit-learn's ``sklearn.covariance.ledoit_wolf`` (one block,
    which scikit-learn uses below 1,000 assets), without importing scikit-learn (0.6 s).

    Parameters
    ----------
    returns : ndarray of shape (n_obs, n_assets)
        Observations; they are demeaned here.

    Returns
    -------
    cov : ndarray of shape (n_assets, n_assets)
        ``(1 - s) * S + s * trace(S) / n_assets * I`` with ``S`` the maximum-likelihood
        covariance (divided by ``n_obs``).
    shrinkage : float
        ``s`` in [0, 1].
    """
    x = np.asarray(returns, dtype=float)
    x = x - x.mean(axis=0)
    n_obs, n_assets = x.shape
    if n_assets == 1:
        return np.atleast_2d((x**2).mean()), 0.0
    x2 = x**2
    trace_terms = np.sum(x2, axis=0) / n_obs
    mu = np.sum(trace_terms) / n_assets
    beta_sum = float(np.sum(np.dot(x2.T, x2)))
    gram = np.dot(x.T, x)
    delta_sum = float(np.sum(gram**2)) / n_obs**2
    beta = 1.0 / (n_assets * n_obs) * (beta_sum / n_obs - delta_sum)
    delta = (delta_sum - 2.0 * mu * trace_terms.sum() + n_assets * mu**2) / n_assets
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    emp_cov = gram / n_obs
    shrunk: np.ndarray = (1.0 - shrinkage) * emp_cov
    shrunk.flat[:: n_assets + 1] += shrinkage * (np.sum(np.trace(emp_cov)) / n_assets)
    return shrunk, float(shrinkage)


def _exp_cov(values: np.ndarray, span: int) -> np.ndarray:
    """Exponentially weighted mean of outer products of demeaned rows (latest weighs most)."""
    alpha = 2.0 / (span + 1.0)
    n_obs = values.shape[0]
    weights = (1.0 - alpha) ** np.arange(n_obs - 1, -1, -1, dtype=float)
    demeaned = values - values.mean(axis=0)
    result: np.ndarray = (demeaned * weights[:, None]).T @ demeaned / weights.sum()
    return result


def forecast_moments(
    prices: pd.DataFrame,
    settings: Settings,
    *,
    benchmark: pd.Series | None = None,
    params: EngineParams = DEFAULT_PARAMS,
) -> tuple[pd.Series, pd.DataFrame]:
    """Expected returns and covariance with the models and rate that ``settings`` name.

    The one estimation step of the build and of the backtest policy.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        The estimation window of adjusted closes.
    settings : Settings
        Supplies ``returns_model``, ``cov_model`` and ``risk_free_rate``.
    benchmark : Series of shape (n_days,), optional
        Benchmark level on the window's dates; required for ``CAPM``.
    params : EngineParams, default=DEFAULT_PARAMS
        Supplies ``periods_per_year`` and ``ema_span_days``.

    Returns
    -------
    mu : Series of shape (n_assets,)
    cov : DataFrame of shape (n_assets, n_assets)

    Raises
    ------
    DataUnavailableError, InsufficientHistoryError, DataFormatError
        As :func:`expected_returns` and :func:`covariance`.
    """
    periods, span = params.periods_per_year, params.ema_span_days
    if settings.returns_model is ReturnsModel.CAPM:
        mu = expected_returns(
            prices,
            settings.returns_model,
            benchmark=benchmark,
            risk_free_rate=settings.risk_free_rate,
            periods_per_year=periods,
            span=span,
        )
        return mu, covariance(prices, settings.cov_model, periods_per_year=periods, span=span)
    # the returns are computed once for both estimates (same checks, in the same order)
    values, _complete = _returns_array(prices, MIN_OBSERVATIONS)
    mu = _mean_returns(values, prices.columns, settings.returns_model, periods, span)
    required = max(MIN_OBSERVATIONS, prices.shape[1] + 1)
    if len(values) < required:
        raise InsufficientHistoryError(len(values), required, "price history")
    annual = covariance_array(values, settings.cov_model, periods_per_year=periods, span=span)
    return mu, pd.DataFrame(annual, index=prices.columns, columns=prices.columns)
