"""Performance metrics of a return series against a benchmark.

Every function takes simple periodic returns (daily by default, ``periods_per_year=252``)
and an **annual** risk-free rate, converted to a per-period rate ``rf / periods_per_year``.
Definitions (they follow empyrical-reloaded, which the tests use as the reference):

* **CAGR**, **volatility**, **Sharpe** and **max drawdown** (depth and period) are those of
  :mod:`smallq.measures`; the realised Sharpe is
  ``mean(r − rf_p) / std(r − rf_p, ddof=1) · √periods_per_year``.
* **Sortino**: ``mean(r − MAR) · periods_per_year / DD`` with the minimum acceptable return
  ``MAR = rf_p`` and the downside deviation
  ``DD = sqrt(mean(min(r − MAR, 0)²)) · √periods_per_year`` averaged over **all** periods
  (not only the losing ones), as in empyrical.
* **Max drawdown duration** counts trading periods from the peak to the recovery (the first
  period back at the peak), or to the last period when the drawdown is not recovered.
* **Calmar**: ``CAGR / max drawdown``.
* **Alpha and beta**: the CAPM regression ``r − rf_p = α + β (b − rf_p) + ε`` by least
  squares; alpha is compounded to a year, ``(1 + α) ** periods_per_year − 1``.
* **Tracking error**: ``std(r − b, ddof=1) · √periods_per_year``; **information ratio**:
  ``mean(r − b) · periods_per_year / tracking error``.
* **Hit rate**: the share of calendar months (partial first and last months included)
  with a positive compounded return; **best/worst month** are the extremes of those.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from smallq.errors import DataFormatError, InsufficientHistoryError
from smallq.measures import annual_volatility, cagr, max_drawdown, sharpe_ratio


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    """Realised performance of one return series (all rates are fractions).

    ``max_drawdown`` is positive (0.2 is a 20% fall); ``max_drawdown_days`` counts
    trading periods from peak to recovery or to ``end``. Benchmark-relative fields are
    NaN when undefined (for example the benchmark's information ratio against itself).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    n_periods: int
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_days: int
    max_drawdown_recovered: bool
    alpha: float
    beta: float
    information_ratio: float
    tracking_error: float
    hit_rate: float
    best_month: float
    worst_month: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: dates as ``YYYY-MM-DD``, NaN as ``None``."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, pd.Timestamp):
                out[key] = value.strftime("%Y-%m-%d")
            elif isinstance(value, float) and not math.isfinite(value):
                out[key] = None
            else:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class TrackingReport:
    """A stored portfolio against the benchmark since it was created.

    Attributes
    ----------
    metrics, benchmark_metrics : PerformanceMetrics
    total_return, benchmark_total_return : float
        Growth since the first date, fractions.
    excess_return : float
        ``total_return − benchmark_total_return`` (a difference of fractions).
    relative : Series of shape (n_days,)
        Portfolio growth over benchmark growth; 1.0 on the first date, rising when the
        portfolio beats the benchmark.
    growth, benchmark_growth : Series of shape (n_days,)
        Value over its first-day value (1.0 on the first date), portfolio and benchmark.
    """

    metrics: PerformanceMetrics
    benchmark_metrics: PerformanceMetrics
    total_return: float
    benchmark_total_return: float
    excess_return: float
    relative: pd.Series
    growth: pd.Series
    benchmark_growth: pd.Series


# --------------------------------------------------------------------------- single series
def downside_deviation(
    returns: pd.Series, risk_free_rate: float = 0.0, periods_per_year: int = 252
) -> float:
    """``sqrt(mean(min(r − MAR, 0)²)) · √periods_per_year`` over all periods."""
    shortfall = np.minimum(_values(returns) - risk_free_rate / periods_per_year, 0.0)
    return float(math.sqrt(np.mean(shortfall**2) * periods_per_year))


def sortino_ratio(
    returns: pd.Series, risk_free_rate: float = 0.0, periods_per_year: int = 252
) -> float:
    """Annualised mean excess return over the downside deviation (see module docstring)."""
    excess = _values(returns) - risk_free_rate / periods_per_year
    deviation = downside_deviation(returns, risk_free_rate, periods_per_year)
    return _ratio(excess.mean() * periods_per_year, deviation)


def worst_drawdowns(returns: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest separate drawdowns (peak → trough → recovery), deepest first.

    Parameters
    ----------
    returns : Series of shape (n_days,)
        Simple periodic returns with a DatetimeIndex; NaNs are dropped.
    n : int, default=5

    Returns
    -------
    DataFrame of shape (<= n, 5)
        Columns ``peak``, ``trough``, ``recovery`` (NaT while not recovered), ``depth``
        (positive fraction) and ``days`` (periods from the peak to the recovery or the end).
    """
    clean = returns.dropna()
    wealth = pd.concat(
        [pd.Series([1.0], index=clean.index[:1] - pd.Timedelta(days=1)), (1.0 + clean).cumprod()]
    )
    values = wealth.to_numpy()
    rows: list[dict[str, object]] = []
    peak = 0
    for i in range(1, len(values) + 1):
        at_end = i == len(values)
        if not at_end and values[i] < values[peak]:
            continue
        if i - peak > 1:
            trough = peak + int(np.argmin(values[peak:i]))
            rows.append(
                {
                    "peak": wealth.index[peak],
                    "trough": wealth.index[trough],
                    "recovery": pd.NaT if at_end else wealth.index[i],
                    "depth": float(1.0 - values[trough] / values[peak]),
                    "days": (i - 1 if at_end else i) - peak,
                }
            )
        peak = i
    table = pd.DataFrame(rows, columns=["peak", "trough", "recovery", "depth", "days"])
    table = table[table["depth"] > 0]
    return table.sort_values("depth", ascending=False, ignore_index=True).head(n)


def monthly_returns(returns: pd.Series) -> pd.Series:
    """Compounded return of each calendar month, indexed by monthly ``Period``."""
    clean = returns.dropna()
    if not isinstance(clean.index, pd.DatetimeIndex):
        raise DataFormatError("returns", "monthly figures need a DatetimeIndex")
    grouped = (1.0 + clean).groupby(clean.index.to_period("M")).prod() - 1.0
    return grouped.rename("monthly_return")


def monthly_table(returns: pd.Series) -> pd.DataFrame:
    """Monthly returns as a (n_years, 12) table: rows years, columns months 1..12."""
    months = monthly_returns(returns)
    table = pd.DataFrame(
        {"year": months.index.year, "month": months.index.month, "value": months.to_numpy()}
    ).pivot(index="year", columns="month", values="value")
    return table.reindex(columns=range(1, 13))


def yearly_returns(returns: pd.Series) -> pd.Series:
    """Compounded return of each calendar year (partial first and last years as they are)."""
    months = monthly_returns(returns)
    return ((1.0 + months).groupby(months.index.year).prod() - 1.0).rename("yearly_return")


def rolling_volatility(
    returns: pd.Series, window: int = 126, periods_per_year: int = 252
) -> pd.Series:
    """Annualised volatility over a trailing ``window`` of periods (NaN until it is full)."""
    clean = returns.dropna()
    return (clean.rolling(window).std(ddof=1) * np.sqrt(periods_per_year)).rename("volatility")


# --------------------------------------------------------------------------- against a benchmark
def alpha_beta(
    returns: pd.Series,
    benchmark_returns: pd.Series,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 252,
) -> tuple[float, float]:
    """CAPM alpha (compounded to a year) and beta of aligned return series."""
    r, b = _aligned(returns, benchmark_returns)
    rf = risk_free_rate / periods_per_year
    x, y = b - rf, r - rf
    variance = np.mean((x - x.mean()) ** 2)
    if variance < 1e-30:
        return math.nan, math.nan
    beta = float(np.mean((x - x.mean()) * y) / variance)
    alpha = float((1.0 + np.mean(y - beta * x)) ** periods_per_year - 1.0)
    return alpha, beta


def tracking_error(
    returns: pd.Series, benchmark_returns: pd.Series, periods_per_year: int = 252
) -> float:
    """Annualised standard deviation of active returns ``r − b``."""
    r, b = _aligned(returns, benchmark_returns)
    return float(np.std(r - b, ddof=1) * math.sqrt(periods_per_year))


def information_ratio(
    returns: pd.Series, benchmark_returns: pd.Series, periods_per_year: int = 252
) -> float:
    """Annualised mean active return over the tracking error; NaN when they coincide."""
    r, b = _aligned(returns, benchmark_returns)
    active = r - b
    return _ratio(active.mean(), np.std(active, ddof=1)) * math.sqrt(periods_per_year)


def rolling_sharpe(
    returns: pd.Series, window: int = 126, risk_free_rate: float = 0.0, periods_per_year: int = 252
) -> pd.Series:
    """Annualised Sharpe ratio over a trailing window of ``window`` periods."""
    excess = returns.dropna() - risk_free_rate / periods_per_year
    rolling = excess.rolling(window)
    return (rolling.mean() / rolling.std() * math.sqrt(periods_per_year)).rename("sharpe")


def rolling_beta(returns: pd.Series, benchmark_returns: pd.Series, window: int = 126) -> pd.Series:
    """Beta over a trailing window of ``window`` periods."""
    joined = pd.concat([returns, benchmark_returns], axis=1, join="inner").dropna()
    r, b = joined.iloc[:, 0], joined.iloc[:, 1]
    return (r.rolling(window).cov(b) / b.rolling(window).var()).rename("beta")


# --------------------------------------------------------------------------- reports
def performance_metrics(
    returns: pd.Series,
    benchmark_returns: pd.Series,
    *,
    risk_free_rate: float,
    periods_per_year: int = 252,
) -> PerformanceMetrics:
    """Every metric of ``returns`` against ``benchmark_returns`` on their common dates.

    Parameters
    ----------
    returns, benchmark_returns : Series of shape (n_periods,)
        Simple returns with a DatetimeIndex; only dates present in both are used.
    risk_free_rate : float
        Annual, fraction.
    periods_per_year : int

    Returns
    -------
    PerformanceMetrics

    Raises
    ------
    InsufficientHistoryError
        Fewer than two common periods.
    DataFormatError
        The index is not a DatetimeIndex.
    """
    joined = pd.concat([returns, benchmark_returns], axis=1, join="inner").dropna()
    _require(len(joined))
    r, b = joined.iloc[:, 0], joined.iloc[:, 1]
    fall = max_drawdown(r)
    months = monthly_returns(r)
    growth = cagr(r, periods_per_year)
    volatility = annual_volatility(r, periods_per_year)
    alpha, beta = alpha_beta(r, b, risk_free_rate, periods_per_year)
    return PerformanceMetrics(
        start=r.index[0],
        end=r.index[-1],
        n_periods=len(r),
        total_return=float(np.prod(1.0 + r.to_numpy()) - 1.0),
        cagr=growth,
        volatility=volatility,
        sharpe=sharpe_ratio(float(r.mean()) * periods_per_year, volatility, risk_free_rate),
        sortino=sortino_ratio(r, risk_free_rate, periods_per_year),
        calmar=_ratio(growth, fall.depth),
        max_drawdown=fall.depth,
        max_drawdown_days=fall.duration,
        max_drawdown_recovered=fall.recovered,
        alpha=alpha,
        beta=beta,
        information_ratio=information_ratio(r, b, periods_per_year),
        tracking_error=tracking_error(r, b, periods_per_year),
        hit_rate=float((months > 0).mean()),
        best_month=float(months.max()),
        worst_month=float(months.min()),
    )


def compare(
    strategy_returns: pd.Series,
    benchmark_returns: pd.Series,
    *,
    risk_free_rate: float,
    periods_per_year: int = 252,
) -> tuple[PerformanceMetrics, PerformanceMetrics]:
    """Strategy and benchmark metrics side by side, on their common dates.

    The benchmark's own row has beta 1, alpha 0, tracking error 0 and a NaN information
    ratio by construction.

    Raises
    ------
    InsufficientHistoryError, DataFormatError
        As :func:`performance_metrics`.
    """
    joined = pd.concat([strategy_returns, benchmark_returns], axis=1, join="inner").dropna()
    r, b = joined.iloc[:, 0], joined.iloc[:, 1]
    strategy = performance_metrics(
        r, b, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year
    )
    benchmark = performance_metrics(
        b, b, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year
    )
    return strategy, benchmark


def tracking(
    values: pd.Series,
    benchmark: pd.Series,
    *,
    risk_free_rate: float,
    periods_per_year: int = 252,
) -> TrackingReport:
    """Performance of a stored portfolio since creation against the benchmark.

    Parameters
    ----------
    values : Series of shape (n_days,)
        Market value of the portfolio's holdings each day (any currency), first day = creation.
    benchmark : Series
        Benchmark level; carried forward onto ``values``' dates.

    Returns
    -------
    TrackingReport

    Raises
    ------
    InsufficientHistoryError
        Fewer than three values (two returns) after alignment.
    """
    level = values.dropna().sort_index()
    bench = benchmark.dropna().sort_index()
    bench = bench.reindex(bench.index.union(level.index)).ffill().reindex(level.index)
    joined = pd.concat([level, bench], axis=1).dropna()
    _require(len(joined) - 1)
    growth = joined.iloc[:, 0] / joined.iloc[0, 0]
    bench_growth = joined.iloc[:, 1] / joined.iloc[0, 1]
    r, b = growth.pct_change().iloc[1:], bench_growth.pct_change().iloc[1:]
    metrics, bench_metrics = compare(
        r, b, risk_free_rate=risk_free_rate, periods_per_year=periods_per_year
    )
    total, bench_total = float(growth.iloc[-1] - 1.0), float(bench_growth.iloc[-1] - 1.0)
    return TrackingReport(
        metrics=metrics,
        benchmark_metrics=bench_metrics,
        total_return=total,
        benchmark_total_return=bench_total,
        excess_return=total - bench_total,
        relative=(growth / bench_growth).rename("relative"),
        growth=growth.rename("portfolio"),
        benchmark_growth=bench_growth.rename("benchmark"),
    )


# --------------------------------------------------------------------------- helpers
def _values(returns: pd.Series) -> np.ndarray:
    values: np.ndarray = returns.dropna().to_numpy(dtype=float)
    _require(len(values))
    return values


def _aligned(returns: pd.Series, benchmark_returns: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    joined = pd.concat([returns, benchmark_returns], axis=1, join="inner").dropna()
    _require(len(joined))
    return joined.iloc[:, 0].to_numpy(float), joined.iloc[:, 1].to_numpy(float)


def _require(n_periods: int) -> None:
    if n_periods < 2:
        raise InsufficientHistoryError(n_periods, 2, "return periods")


def _ratio(numerator: float, denominator: float) -> float:
    if not math.isfinite(denominator) or abs(denominator) < 1e-15:
        return math.nan
    return float(numerator / denominator)
