"""Risk alerts on a user's holdings: pure rules that return :class:`Alert` values.

The portfolio checked is the account as held: ``value_t = cash + sum_i shares_i * price_i,t``
(:func:`smallq.measures.account_values`) over the last ``lookback_days`` prices
(forward-filled), and its daily returns. Rules:

* ``VAR`` / ``CVAR``: historical one-day VaR / CVaR at ``confidence`` (as
  :func:`smallq.risk.value_at_risk`) above the limit;
* ``DRAWDOWN``: the current fall from the highest value in the window beyond the limit
  (the last point of :func:`smallq.measures.drawdown` of the window's returns);
* ``VOL_SPIKE``: volatility of the last ``short_vol_days`` returns over that of the last
  ``long_vol_days`` above a ratio;
* ``CONCENTRATION``: effective holdings (:func:`smallq.measures.effective_holdings`) of the
  invested part below a minimum, or the largest position above a share of the whole account
  (cash included);
* ``STALE_DATA``: a holding's last price is more than ``stale_days`` weekdays before
  ``as_of`` (exchange holidays are not modelled); ``MISSING_DATA``: no price at all.

Default limits by risk level (one-day figures at 95%; overridable per user):

====  ============  =====  =====  ========  =========  =============  ==========  =====
lvl   name          VaR    CVaR   drawdown  vol spike  min eff. hold  max weight  stale
====  ============  =====  =====  ========  =========  =============  ==========  =====
1     conservative  1.5%   2.0%   10%       1.5x       5              25%         3 d
2     cautious      2.0%   2.75%  15%       1.5x       4              30%         3 d
3     moderate      2.5%   3.5%   20%       1.75x      3              35%         3 d
4     growth        3.0%   4.25%  25%       1.75x      3              40%         3 d
5     aggressive    4.0%   5.5%   30%       2.0x       2              50%         3 d
====  ============  =====  =====  ========  =========  =============  ==========  =====

VaR, CVaR and volatility rules need at least ``MIN_RETURNS`` returns; with fewer they are
skipped (no alert). Alert messages are plain text (no markup).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
import pandas as pd

from smallq.errors import InputError
from smallq.measures import account_values, drawdown, effective_holdings
from smallq.risk import cvar, value_at_risk
from smallq.types import RiskLevel

MIN_RETURNS: int = 60


class AlertKind(StrEnum):
    """What an alert is about."""

    VAR = "var"
    CVAR = "cvar"
    DRAWDOWN = "drawdown"
    VOL_SPIKE = "vol_spike"
    CONCENTRATION = "concentration"
    STALE_DATA = "stale_data"
    MISSING_DATA = "missing_data"


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Limits of every rule; fractions except the ratio, counts and days."""

    var_limit: float
    cvar_limit: float
    drawdown_limit: float
    vol_spike_ratio: float
    min_effective_holdings: float
    max_weight: float
    stale_days: int
    confidence: float = 0.95
    short_vol_days: int = 21
    long_vol_days: int = 252
    lookback_days: int = 252
    label: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One fired rule: the measured ``value``, the ``limit`` it crossed, a message for people."""

    kind: AlertKind
    value: float
    limit: float
    message: str
    tickers: tuple[str, ...] = ()


def _limits(level: RiskLevel, *values: float) -> AlertThresholds:
    var, cv, dd, spike, eff, top = values
    return AlertThresholds(var, cv, dd, spike, eff, top, 3, label=level.label)


RISK_LIMITS: Mapping[RiskLevel, AlertThresholds] = {
    RiskLevel.CONSERVATIVE: _limits(RiskLevel.CONSERVATIVE, 0.015, 0.02, 0.10, 1.5, 5, 0.25),
    RiskLevel.CAUTIOUS: _limits(RiskLevel.CAUTIOUS, 0.02, 0.0275, 0.15, 1.5, 4, 0.30),
    RiskLevel.MODERATE: _limits(RiskLevel.MODERATE, 0.025, 0.035, 0.20, 1.75, 3, 0.35),
    RiskLevel.GROWTH: _limits(RiskLevel.GROWTH, 0.03, 0.0425, 0.25, 1.75, 3, 0.40),
    RiskLevel.AGGRESSIVE: _limits(RiskLevel.AGGRESSIVE, 0.04, 0.055, 0.30, 2.0, 2, 0.50),
}

#: user-facing names of the overridable limits -> (field, kind of number, lower, upper)
THRESHOLD_NAMES: Mapping[str, tuple[str, str, float, float]] = {
    "var": ("var_limit", "percent", 0.001, 0.5),
    "cvar": ("cvar_limit", "percent", 0.001, 0.5),
    "drawdown": ("drawdown_limit", "percent", 0.01, 0.95),
    "vol_spike": ("vol_spike_ratio", "ratio", 1.05, 10.0),
    "min_holdings": ("min_effective_holdings", "count", 1.0, 50.0),
    "max_weight": ("max_weight", "percent", 0.05, 1.0),
    "stale_days": ("stale_days", "count", 1.0, 30.0),
}


def thresholds_for(
    risk_level: RiskLevel, overrides: Mapping[str, float] | None = None
) -> AlertThresholds:
    """The risk level's limits with the user's overrides (keyed by field name) applied.

    Raises
    ------
    InputError
        When an override names an unknown field.
    """
    base = RISK_LIMITS[RiskLevel.parse(risk_level)]
    if not overrides:
        return base
    known = {f.name for f in fields(AlertThresholds)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"Unknown alert setting(s): {', '.join(unknown)}.")
    values: dict[str, object] = {
        k: (int(v) if k == "stale_days" else float(v)) for k, v in overrides.items()
    }
    return replace(base, **values)  # type: ignore[arg-type]


def parse_threshold(name: str, text: str) -> tuple[str, float]:
    """Parse ``/alerts set <name> <value>`` into (field name, value).

    Percent limits are always in percent points, with an optional ``%``: ``3`` and ``3%``
    are 3%, ``0.5`` is 0.5% (never 50%), so a value reads the same whatever its size. Ratios
    accept ``1.8`` or ``1.8x``; counts accept whole numbers without a suffix.

    Raises
    ------
    InputError
        Unknown name, unparsable value, a suffix of another unit, or a value outside the
        allowed range.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in THRESHOLD_NAMES:
        raise InputError(f"Unknown alert {name!r}. Choose one of: {', '.join(THRESHOLD_NAMES)}.")
    field, number, lower, upper = THRESHOLD_NAMES[key]
    raw = text.strip().lower()
    suffix = {"percent": "%", "ratio": "x"}.get(number, "")
    if suffix:
        raw = raw.removesuffix(suffix).strip()
    if not re.fullmatch(r"\d+(\.\d+)?", raw, flags=re.ASCII):
        raise InputError(f"{text!r} is not a number I can use for {key}.")
    value = float(raw)
    if number == "percent":
        value /= 100.0
    if number == "count" and value != int(value):
        raise InputError(f"{key} must be a whole number.")
    if not lower <= value <= upper:
        fmt = "{:.1%}" if number == "percent" else "{:g}"
        low, high = fmt.format(lower), fmt.format(upper)
        raise InputError(f"{key} must be between {low} and {high}.")
    return field, value


# --------------------------------------------------------------------------- evaluation
def check_alerts(
    prices: pd.DataFrame,
    shares: pd.Series,
    cash: float,
    *,
    as_of: date,
    thresholds: AlertThresholds,
) -> tuple[Alert, ...]:
    """Evaluate every rule on an account; return the alerts that fire (at most one per kind).

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes up to ``as_of``, tz-naive DatetimeIndex.
    shares : Series by ticker
        Held share counts.
    cash : float
        Cash in the account.
    as_of : date
        The day of the check (for stale data).
    thresholds : AlertThresholds

    Returns
    -------
    tuple of Alert
    """
    held = shares[shares != 0]
    if held.empty:
        return ()
    prices = prices.loc[prices.index <= pd.Timestamp(as_of)]
    alerts: list[Alert | None] = [*_data_alerts(prices, held, as_of, thresholds)]
    values = account_values(held, prices, cash).iloc[-(thresholds.lookback_days + 1) :]
    returns = values.pct_change().dropna()
    if len(returns) >= MIN_RETURNS:
        alerts += [_var_alert(returns, thresholds, float(values.iloc[-1]))]
        alerts += [_vol_alert(returns, thresholds)]
    if len(values) >= 2:
        alerts.append(_drawdown_alert(values, returns, thresholds))
    alerts.append(_concentration_alert(prices, held, cash, thresholds))
    return tuple(a for a in alerts if a is not None)


def _var_alert(returns: pd.Series, th: AlertThresholds, value: float) -> Alert | None:
    c = th.confidence
    return var_alert(value_at_risk(returns, c), cvar(returns, c), th, value)


# The rules' verdicts and messages, from measured numbers. check_alerts measures with pandas;
# the sweep's lean path (smallq.assessment) measures with numpy and words alerts here, so the
# two paths send the same text.
def var_alert(var: float, tail: float, th: AlertThresholds, value: float) -> Alert | None:
    """The VaR alert, else the CVaR alert, else ``None`` (``var``, ``tail``: loss fractions)."""
    c = th.confidence
    odds = round(1 / (1 - c))
    profile = f" for a {th.label} profile" if th.label else ""
    if var > th.var_limit:
        return Alert(
            AlertKind.VAR,
            var,
            th.var_limit,
            f"Value at risk is high: on a bad day (1 in {odds}) the portfolio could lose "
            f"{var:.1%} (about {var * value:,.0f}), above your limit of {th.var_limit:.1%}"
            f"{profile}. Consider moving to a lower risk level and rebalancing (/rebalance), "
            "or raise the limit with /alerts set var <value>.",
        )
    if tail > th.cvar_limit:
        return Alert(
            AlertKind.CVAR,
            tail,
            th.cvar_limit,
            f"Tail risk is high: on the worst 1-in-{odds} days the portfolio lost {tail:.1%} on "
            f"average (about {tail * value:,.0f}), above your limit of {th.cvar_limit:.1%}"
            f"{profile}. Consider a lower risk level and /rebalance, or raise the limit with "
            "/alerts set cvar <value>.",
        )
    return None


def _vol_alert(returns: pd.Series, th: AlertThresholds) -> Alert | None:
    short = float(returns.iloc[-th.short_vol_days :].std(ddof=1))
    long = float(returns.iloc[-th.long_vol_days :].std(ddof=1))
    return vol_alert(short, long, th)


def vol_alert(short: float, long: float, th: AlertThresholds) -> Alert | None:
    """The volatility-spike alert from the short and long daily standard deviations."""
    if not (long > 0 and math.isfinite(short)):
        return None
    ratio = short / long
    if ratio <= th.vol_spike_ratio:
        return None
    annual = short * math.sqrt(252)
    return Alert(
        AlertKind.VOL_SPIKE,
        ratio,
        th.vol_spike_ratio,
        f"Volatility spiked: the last {th.short_vol_days} trading days moved {ratio:.1f}x as "
        f"much as usual (now {annual:.0%} a year; alert above {th.vol_spike_ratio:.2g}x). "
        "Expect bigger swings; avoid panic selling, and check /holdings and /rebalance.",
    )


def _drawdown_alert(values: pd.Series, returns: pd.Series, th: AlertThresholds) -> Alert | None:
    peak = float(values.max())
    depth = float(drawdown(returns).iloc[-1]) if peak > 0 and len(returns) else 0.0
    return drawdown_alert(depth, peak, len(values) - 1, th)


def drawdown_alert(depth: float, peak: float, n_days: int, th: AlertThresholds) -> Alert | None:
    """The drawdown alert: ``depth`` below the ``peak`` value over the last ``n_days``."""
    if depth <= th.drawdown_limit:
        return None
    return Alert(
        AlertKind.DRAWDOWN,
        depth,
        th.drawdown_limit,
        f"Drawdown: the portfolio is {depth:.1%} below its high of {peak:,.0f} in the last "
        f"{n_days} trading days (alert at {th.drawdown_limit:.0%}). Review whether the "
        "risk level still suits you; /rebalance shows what would bring it back on target.",
    )


def _concentration_alert(
    prices: pd.DataFrame, held: pd.Series, cash: float, th: AlertThresholds
) -> Alert | None:
    last = prices.ffill().iloc[-1] if len(prices) else pd.Series(dtype=float)
    known = held[held.index.isin(last.dropna().index)]
    amounts = known.astype(float) * last.reindex(known.index)
    invested = float(amounts.sum())
    if invested <= 0:
        return None
    effective = effective_holdings(amounts / invested)
    top_share = float(amounts.max()) / (invested + float(cash))
    top = str(amounts.idxmax())
    return concentration_alert(top, top_share, effective, [str(t) for t in amounts.index], th)


def concentration_alert(
    top: str, top_share: float, effective: float, tickers: list[str], th: AlertThresholds
) -> Alert | None:
    """The concentration alert: the largest position's share, else the effective count."""
    if top_share > th.max_weight:
        return Alert(
            AlertKind.CONCENTRATION,
            top_share,
            th.max_weight,
            f"Concentration: {top} is {top_share:.0%} of the account (limit {th.max_weight:.0%})."
            " One stock's bad news would hit hard; /rebalance spreads it out.",
            (top,),
        )
    if effective < th.min_effective_holdings:
        return Alert(
            AlertKind.CONCENTRATION,
            effective,
            th.min_effective_holdings,
            f"Concentration: the holdings behave like only {effective:.1f} equally weighted "
            f"stocks (minimum {th.min_effective_holdings:g}). Consider more stocks or sectors, "
            "then /rebalance.",
            tuple(tickers),
        )
    return None


def _data_alerts(
    prices: pd.DataFrame, held: pd.Series, as_of: date, th: AlertThresholds
) -> list[Alert]:
    missing, stale, worst = [], [], 0
    for ticker in held.index:
        column = prices[ticker].dropna() if ticker in prices.columns else pd.Series(dtype=float)
        if column.empty:
            missing.append(str(ticker))
            continue
        last = column.index[-1].date()
        age = int(np.busday_count(last + timedelta(days=1), as_of + timedelta(days=1)))
        if age > th.stale_days:
            stale.append(f"{ticker} ({last:%Y-%m-%d})")
            worst = max(worst, age)
    return data_alerts(missing, stale, worst, th)


def data_alerts(
    missing: list[str], stale: list[str], worst: int, th: AlertThresholds
) -> list[Alert]:
    """Missing and stale price alerts (``stale`` items read "TICKER (YYYY-MM-DD)")."""
    alerts = []
    if missing:
        alerts.append(
            Alert(
                AlertKind.MISSING_DATA,
                float(len(missing)),
                0.0,
                f"No prices for {', '.join(missing)}: their value and risk are left out of the "
                "other checks. Check the ticker (delisted or renamed?) and consider selling it.",
                tuple(missing),
            )
        )
    if stale:
        alerts.append(
            Alert(
                AlertKind.STALE_DATA,
                float(worst),
                float(th.stale_days),
                f"Stale prices: the last price of {', '.join(stale)} is up to {worst} trading days "
                f"old (alert after {th.stale_days}). Figures may be out of date; check for a halt "
                "or delisting before trading.",
                tuple(s.split(" ")[0] for s in stale),
            )
        )
    return alerts
