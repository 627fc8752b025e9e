"""Frozen value objects that cross layers.

Conventions: prices/returns are ``DataFrame`` of shape (n_days, n_assets) with a tz-naive,
normalised ``DatetimeIndex`` and ticker columns; ``weights`` is a ``Series`` by ticker that
sums to 1; every rate and loss is a fraction (0.031 is 3.1%); losses are positive numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from smallq.types import (
    CovModel,
    MonteCarloMethod,
    Objective,
    ReturnsModel,
    RiskLevel,
    Sector,
    Side,
    Strategy,
    VarMethod,
)

#: columns of the company table (index ``ticker``); numeric columns may be NaN
COMPANY_COLUMNS: tuple[str, ...] = ("name", "sector", "market_cap", "pe", "pb", "dividend_yield")


# --------------------------------------------------------------------------- market data
@dataclass(frozen=True, slots=True)
class PriceData:
    """Daily prices as a source returns them.

    Attributes
    ----------
    close : DataFrame of shape (n_days, n_assets)
        Adjusted close (dividends and splits) where the source has it, else close.
    open, high, low, volume : DataFrame of shape (n_days, n_assets), optional
        OHLCV where the source has it; open/high/low are on the same adjustment basis as
        ``close`` (Yahoo ``auto_adjust``, or scaled by ``adj_close/close`` in CSV), volume raw.
    fetched_at : datetime, optional
        When the provider produced the data (UTC); set by caches to the oldest series' time.
    notes : tuple of str
        Caveats for the user (stale cache, dropped rows, ...).
    """

    close: pd.DataFrame
    open: pd.DataFrame | None = None
    high: pd.DataFrame | None = None
    low: pd.DataFrame | None = None
    volume: pd.DataFrame | None = None
    fetched_at: datetime | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MarketData:
    """Validated prices, benchmark and company table for one request.

    Attributes
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Cleaned adjusted closes on a common calendar.
    benchmark : Series of shape (n_days,)
        Benchmark level (S&P 500 index or SPY) on the same calendar; empty when the source
        has none and the caller did not require one (ranking only).
    companies : DataFrame indexed by ticker
        Columns :data:`COMPANY_COLUMNS`.
    volume : DataFrame of shape (n_days, n_assets), optional
        Share volume, when the source has it.
    source : str
        Source name ("sample", "yahoo", "csv:/path").
    fetched_at : datetime, optional
        When the data was fetched from the provider (for freshness notes).
    notes : tuple of str
        Every dropped ticker or row with its reason, and other caveats.
    raw_prices : DataFrame of shape (n_days, n_assets), optional
        The closes as fetched, before validation, on the same dates and columns. Cleaning
        looks one day ahead (a bad print is one that reverses), so a backtest re-cleans these
        at each decision date with only the data known then.
    raw_high, raw_low : DataFrame of shape (n_days, n_assets), optional
        The day's high and low as fetched (when the source has them), on the same dates and
        columns, so that those re-cleanings apply the low-high range rules too.
    """

    prices: pd.DataFrame
    benchmark: pd.Series
    companies: pd.DataFrame
    volume: pd.DataFrame | None = None
    source: str = ""
    fetched_at: datetime | None = None
    notes: tuple[str, ...] = ()
    raw_prices: pd.DataFrame | None = None
    raw_high: pd.DataFrame | None = None
    raw_low: pd.DataFrame | None = None


# --------------------------------------------------------------------------- request
@dataclass(frozen=True, slots=True)
class Profile:
    """What a user asks for. Build with :func:`smallq.profile.make_profile`, which validates.

    ``None`` means "use the risk level's default" (see :mod:`smallq.profile`).
    """

    sectors: tuple[Sector, ...]
    capital: float
    currency: str = "USD"
    risk_level: RiskLevel = RiskLevel.MODERATE
    strategy: Strategy = Strategy.MOMENTUM
    top_n: int = 10
    per_sector: bool = False
    max_weight: float | None = None
    sector_caps: Mapping[Sector, float] = field(default_factory=dict)
    lookback_days: int = 756
    objective: Objective | None = None
    returns_model: ReturnsModel | None = None
    cov_model: CovModel | None = None
    risk_free_rate: float = 0.02
    target_volatility: float | None = None
    risk_aversion: float | None = None
    fractional: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_market_cap: float | None = None
    max_market_cap: float | None = None
    min_dollar_volume: float | None = None
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """A profile resolved against its risk level's table: every knob has a value."""

    objective: Objective
    returns_model: ReturnsModel
    cov_model: CovModel
    max_weight: float
    min_holdings: int
    risk_free_rate: float
    target_volatility: float
    risk_aversion: float
    #: where a risk level places the portfolio between the capped min-volatility (0.0) and
    #: max-return (1.0) portfolios; None when an explicit objective is used instead
    frontier_fraction: float | None = None


# --------------------------------------------------------------------------- selection
@dataclass(frozen=True, slots=True)
class Ranking:
    """A point-in-time ranking.

    Attributes
    ----------
    table : DataFrame indexed by ticker, sorted by ``score`` descending
        Columns ``sector``, ``score``, ``rank`` (1 = best), and for each factor used
        ``<factor>`` (raw value) and ``<factor>_z`` (winsorised z-score).
    selected : tuple of str
        The chosen tickers (top N overall or per sector), best first.
    """

    table: pd.DataFrame
    selected: tuple[str, ...]
    strategy: Strategy
    as_of: date
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- optimization
@dataclass(frozen=True, slots=True)
class FallbackStep:
    """One step of the fallback chain that did not produce the weights, and why."""

    objective: Objective
    reason: str


@dataclass(frozen=True, slots=True)
class FrontierPlacement:
    """Where a portfolio was placed on its universe's capped efficient frontier.

    Attributes
    ----------
    fraction : float
        Share of the volatility range used: 0.0 is the min-volatility portfolio, 1.0 the
        max-return portfolio.
    target_volatility : float
        ``min_volatility + fraction * (max_volatility - min_volatility)`` (annual).
    min_volatility, max_volatility : float
        Annual volatility of the capped min-volatility and max-return portfolios.
    requested_fraction : float
        The level's own fraction; ``fraction`` is above it only when the VaR guard moved the
        portfolio up so that its historical VaR is not below a calmer level's.
    """

    fraction: float
    target_volatility: float
    min_volatility: float
    max_volatility: float
    requested_fraction: float


@dataclass(frozen=True, slots=True)
class RiskPlacement:
    """Where a built portfolio sits among the risk levels of its own universe.

    Attributes
    ----------
    level : int
        The risk level, 1 (calmest) to ``levels``.
    levels : int
        How many levels there are (5).
    volatility : float
        Annual ex-ante volatility of the optimized weights.
    min_volatility, max_volatility : float
        Annual volatility of the calmest (capped min-volatility) and most aggressive (capped
        max-return) mixes of the same stocks.
    target_volatility : float
        The volatility the level aimed at.
    """

    level: int
    levels: int
    volatility: float
    min_volatility: float
    max_volatility: float
    target_volatility: float


@dataclass(frozen=True, slots=True)
class OutOfSampleRecord:
    """The walk-forward record of a profile over the years before its decision date.

    Each monthly decision sees only prices up to that day, so the record is out of sample.

    Attributes
    ----------
    start, end : date
        First and last day of the record (``end`` is the decision date).
    years : float
        Length of the record in years.
    cagr, volatility, max_drawdown : float
        The strategy's compound annual growth, annual volatility and worst peak-to-trough
        loss (positive fraction).
    benchmark_cagr, benchmark_volatility, benchmark_max_drawdown : float
        The same for the benchmark (S&P 500 or SPY) over the same days.
    note : str
        Why the record is shorter than asked, or empty.
    """

    start: date
    end: date
    years: float
    cagr: float
    volatility: float
    max_drawdown: float
    benchmark_cagr: float
    benchmark_volatility: float
    benchmark_max_drawdown: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """Optimized weights and how they were obtained.

    Attributes
    ----------
    weights : Series of shape (n_assets,)
        Long-only weights summing to 1.
    objective_requested, objective_used : Objective
        What was asked for and which chain step produced ``weights``.
    fallbacks : tuple of FallbackStep
        Steps tried before ``objective_used``, each with the reason it failed.
    solver : str
        Solver name ("CLARABEL", "OSQP", "hrp", "closed form", ...).
    expected_return, volatility, sharpe : float
        Annualised ex-ante figures from ``mu`` and ``cov``.
    placement : FrontierPlacement, optional
        Set when ``settings.frontier_fraction`` placed the portfolio; ``objective_requested``
        is then the objective that placement resolved to.
    """

    weights: pd.Series
    objective_requested: Objective
    objective_used: Objective
    fallbacks: tuple[FallbackStep, ...]
    solver: str
    expected_return: float
    volatility: float
    sharpe: float
    placement: FrontierPlacement | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    """Capital turned into (whole or fractional) shares.

    Attributes
    ----------
    shares : Series by ticker
        Integer counts (float when ``fractional``); zero rows are dropped.
    prices : Series by ticker
        Latest prices used.
    amounts : Series by ticker
        ``shares * prices`` in the user's currency.
    target_weights, achieved_weights : Series by ticker
        Optimizer weights and the weights actually bought (of ``capital``).
    cash_left : float
        ``capital - amounts.sum()``, never negative; the purchase ``fees`` are paid from it.
    fees : float
        Fees of buying ``shares`` at ``costs_bps`` (:func:`smallq.allocation.allocate_shares`);
        0 when no costs were given.
    """

    shares: pd.Series
    prices: pd.Series
    amounts: pd.Series
    target_weights: pd.Series
    achieved_weights: pd.Series
    cash_left: float
    capital: float
    fractional: bool
    method: str
    fees: float = 0.0


# --------------------------------------------------------------------------- risk
@dataclass(frozen=True, slots=True)
class VarEstimate:
    """Value at risk and CVaR for one method, confidence and horizon (positive loss fractions)."""

    method: VarMethod
    confidence: float
    horizon_days: int
    var: float
    cvar: float


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    """Risk figures of a portfolio.

    Attributes
    ----------
    expected_return, volatility, sharpe : float
        Annualised, ex ante (from ``mu`` and ``cov``).
    beta : float
        Beta of the historical portfolio returns against the benchmark.
    realized_return, realized_volatility : float
        Annualised from the lookback's historical daily portfolio returns.
    max_drawdown : float
        Worst peak-to-trough loss of the historical portfolio, positive fraction.
    var : tuple of VarEstimate
        Every (method, confidence, horizon) combination computed.
    risk_contributions : Series by ticker
        Share of portfolio variance from each holding; sums to 1.
    effective_holdings : float
        ``1 / sum(w**2)``.
    """

    expected_return: float
    volatility: float
    sharpe: float
    beta: float
    realized_return: float
    realized_volatility: float
    max_drawdown: float
    var: tuple[VarEstimate, ...]
    risk_contributions: pd.Series
    effective_holdings: float

    def var_at(
        self,
        confidence: float,
        horizon_days: int = 1,
        method: VarMethod = VarMethod.HISTORICAL,
    ) -> VarEstimate:
        """Return the estimate for one method, confidence and horizon."""
        for estimate in self.var:
            if (
                estimate.method == method
                and abs(estimate.confidence - confidence) < 1e-9
                and estimate.horizon_days == horizon_days
            ):
                return estimate
        raise KeyError((method, confidence, horizon_days))


# --------------------------------------------------------------------------- stress
@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """The portfolio's return in one stress scenario (negative is a loss).

    ``estimated`` is True when the data did not cover the window and the loss was
    estimated through beta to the index; ``note`` says so.
    """

    name: str
    kind: str
    portfolio_return: float
    benchmark_return: float | None
    estimated: bool
    start: date | None = None
    end: date | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class MonteCarloResult:
    """Simulated value paths over a horizon.

    Attributes
    ----------
    percentiles : mapping of float to float
        Terminal return quantiles (0.05 -> -0.21 means a 5% chance of losing 21% or more).
    loss_probabilities : mapping of float to float
        P(terminal return < -x) for x in (0.0, 0.10, 0.20, 0.30).
    fan : DataFrame of shape (horizon_days + 1, n_bands)
        Portfolio value (start 1.0) percentiles by day; columns are 0.05, 0.25, 0.5, 0.75, 0.95.
    """

    method: MonteCarloMethod
    n_paths: int
    horizon_days: int
    mean_return: float
    percentiles: Mapping[float, float]
    loss_probabilities: Mapping[float, float]
    fan: pd.DataFrame


@dataclass(frozen=True, slots=True)
class StressReport:
    """Historical and hypothetical scenarios, and Monte Carlo simulations.

    Attributes
    ----------
    monte_carlo : tuple of MonteCarloResult
        One per method simulated (a report runs one; :func:`smallq.simulation.simulate_methods`
        adds the others).
    daily_returns : Series of shape (n_days,), optional
        The portfolio's daily returns over the lookback that the simulations draw from.
    """

    scenarios: tuple[ScenarioResult, ...]
    monte_carlo: tuple[MonteCarloResult, ...]
    daily_returns: pd.Series | None = None


# --------------------------------------------------------------------------- notes
class NoteKind(StrEnum):
    """What a note of a build is about; front ends choose what to show by kind, never by text."""

    DATA = "data"  # prices, companies, filters, ranking: what was dropped, repaired or skipped
    CONSTRAINT = "constraint"  # a limit the user asked for was adjusted
    STRESS = "stress"  # a stress window the data does not cover
    FALLBACK = "fallback"  # an optimizer step that did not produce the weights, and why
    FRESHNESS = "freshness"  # where the prices come from and their last date
    ALLOCATION = "allocation"  # what whole shares could not buy
    STALE = "stale"  # the prices are old at the time of showing (set by a front end)
    RISK = "risk"  # a risk figure to read with care (e.g. skew-adjusted VaR out of its domain)


@dataclass(frozen=True, slots=True)
class Note:
    """A caveat the user should see.

    Attributes
    ----------
    kind : NoteKind
        What the note is about.
    text : str
        One plain-text sentence for people.
    fields : tuple of (str, str)
        The structured values the text was written from (``("objective", "max_sharpe")``),
        so that front ends can render the note their own way.
    """

    kind: NoteKind
    text: str
    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of one field, or ``None``."""
        return dict(self.fields).get(name)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "text", "fields"}`` with ``fields`` as an object (JSON-ready)."""
        return {"kind": self.kind.value, "text": self.text, "fields": dict(self.fields)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Note:
        """Rebuild a note written by :meth:`to_dict`; an unknown kind reads as ``DATA``."""
        kind = str(data.get("kind"))
        known = kind in {k.value for k in NoteKind}
        fields = tuple((str(k), str(v)) for k, v in dict(data.get("fields") or {}).items())
        return cls(NoteKind(kind) if known else NoteKind.DATA, str(data.get("text", "")), fields)


# --------------------------------------------------------------------------- report
@dataclass(frozen=True, slots=True)
class Report:
    """Everything one portfolio build produced. The CLI, bot and scheduler all read this.

    Attributes
    ----------
    as_of : date
        Decision date: the last price date used.
    mu : Series by candidate
        Annual expected returns.
    cov : DataFrame (n_candidates, n_candidates)
        Annual covariance.
    frontier : DataFrame with columns ``volatility``, ``expected_return``, optional
        Points on the efficient frontier under the same bounds.
    sectors : Series by ticker
        Sector of each candidate.
    notes : tuple of Note
        Every caveat, each with its kind (see :class:`NoteKind`).
    risk_placement : RiskPlacement, optional
        Where the portfolio sits between the calmest and most aggressive mixes of its
        candidates; None when an explicit objective chose the weights.
    out_of_sample : OutOfSampleRecord, optional
        The profile's walk-forward record before ``as_of``, when it was asked for.
    """

    as_of: date
    profile: Profile
    settings: Settings
    ranking: Ranking
    mu: pd.Series
    cov: pd.DataFrame
    optimization: OptimizationResult
    allocation: Allocation
    metrics: RiskMetrics
    stress: StressReport
    sectors: pd.Series
    frontier: pd.DataFrame | None
    source: str
    fetched_at: datetime | None
    notes: tuple[Note, ...]
    risk_placement: RiskPlacement | None = None
    out_of_sample: OutOfSampleRecord | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Tickers that entered the optimizer."""
        return self.ranking.selected

    @property
    def weights(self) -> pd.Series:
        """Optimized weights (shortcut)."""
        return self.optimization.weights


# --------------------------------------------------------------------------- rebalancing
@dataclass(frozen=True, slots=True)
class Order:
    """One whole-share order; ``value = shares * price``; ``fee`` is paid from cash."""

    ticker: str
    side: Side
    shares: int
    price: float
    value: float
    fee: float


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """Orders that move holdings toward a target, and what they do.

    Attributes
    ----------
    orders : tuple of Order
        Sells first, then buys, each group sorted by ticker.
    current_weights, target_weights, post_weights : Series by ticker
        Fractions of the account value (cash is the remainder) before, wanted, after.
    drift, drift_after : float
        Half the total absolute weight gap (cash included) before and after the orders.
    turnover : float
        One-way traded value over the account value.
    fees : float
        Sum of order fees.
    cash_before, cash_after : float
        Cash before and after; ``cash_after >= 0``.
    value_before : float
        Account value (cash plus positions) at ``prices`` before trading.
    """

    orders: tuple[Order, ...]
    current_weights: pd.Series
    target_weights: pd.Series
    post_weights: pd.Series
    drift: float
    drift_after: float
    turnover: float
    fees: float
    cash_before: float
    cash_after: float
    value_before: float

    @property
    def sells(self) -> tuple[Order, ...]:
        """The sell orders."""
        return tuple(o for o in self.orders if o.side is Side.SELL)

    @property
    def buys(self) -> tuple[Order, ...]:
        """The buy orders."""
        return tuple(o for o in self.orders if o.side is Side.BUY)
