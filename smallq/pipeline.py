"""The one entry point that the CLI, the bot and the scheduler all call.

``build_portfolio`` runs every stage in order and returns one :class:`~smallq.models.Report`:

1. universe  – the source's company table, normalised;
2. filters   – sectors, market-cap band, include/exclude (no prices needed);
3. data      – prices for the survivors, cleaned and aligned (every drop is a note);
4. filters   – minimum history and dollar volume;
5. ranking   – point-in-time factor scores, top N;
6. forecast  – expected returns and covariance over the lookback;
7. optimize  – feasibility checks, the objective, the declared fallback chain;
8. allocate  – whole (or fractional) shares for the capital;
9. risk      – ex-ante and historical figures, VaR/CVaR;
10. stress   – historical windows, hypothetical shocks, Monte Carlo.

This is the only engine module that wires adapters together; it holds no clock:
``today`` is a parameter (the CLI and bot pass the real date).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandas as pd

from smallq.allocation import allocate_shares
from smallq.backtest import BacktestResult, Policy, RebalanceRule, run_backtest
from smallq.data.base import PriceSource
from smallq.data.validation import align_calendar, clean_prices, require_history, tidy_frame
from smallq.errors import (
    DataError,
    InsufficientHistoryError,
    OptimizationError,
    ProfileError,
    SmallQError,
)
from smallq.filters import FilterCriteria, FilterResult, apply_filters
from smallq.forecast import covariance, expected_returns
from smallq.levels import LevelComparison, level_outcomes
from smallq.measures import account_values
from smallq.models import (
    MarketData,
    OptimizationResult,
    OutOfSampleRecord,
    PriceData,
    Profile,
    Ranking,
    Report,
    RiskPlacement,
    Settings,
    StressReport,
)
from smallq.optimize import check_feasibility, efficient_frontier, optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.performance import PerformanceMetrics, TrackingReport, tracking
from smallq.policy import PipelinePolicy
from smallq.profile import LEVEL_MAX_WEIGHT, resolve_settings
from smallq.ranking import rank_stocks
from smallq.risk import compute_risk_metrics
from smallq.stress import run_stress_tests, uncovered_window_notes
from smallq.types import RiskLevel
from smallq.universe import normalise_companies

#: prefixes of the notes that repeat structured fields (``optimization.fallbacks``, ``as_of``
#: and ``fetched_at``); presenters that render those fields themselves may skip these notes
FALLBACK_NOTE = "Fallback: "
FRESHNESS_NOTE = "Prices from "

#: earliest date fetched for historical stress windows (the dot-com crash starts in 2000)
STRESS_HISTORY_START = date(1999, 6, 1)


@dataclass(frozen=True, slots=True)
class Selection:
    """Output of the selection stages: ranking plus the market data it used."""

    ranking: Ranking
    market: MarketData


def history_start(end: date, trading_days: int) -> date:
    """Calendar start that covers ``trading_days`` trading days before ``end`` (with margin)."""
    return end - timedelta(days=int(trading_days * 365 / 252 * 1.08) + 10)


def decision_end(profile: Profile, source: PriceSource, today: date) -> date:
    """The last date to fetch: the profile's as-of date, else today or the source's last date."""
    return data_end(source, profile.as_of or today)


def data_end(source: PriceSource, wanted: date) -> date:
    """``wanted``, or the source's last date when the data ends earlier."""
    last = source.last_date()
    return wanted if last is None else min(wanted, last)


def load_market_data(
    source: PriceSource,
    tickers: tuple[str, ...],
    companies: pd.DataFrame,
    *,
    start: date,
    end: date,
    params: EngineParams = DEFAULT_PARAMS,
    require_benchmark: bool = True,
) -> MarketData:
    """Fetch, clean and align prices and the benchmark for ``tickers``.

    Parameters
    ----------
    require_benchmark : bool, default=True
        When False (ranking only), a source without a benchmark is fine: the prices keep
        their own calendar and a note says so.

    Raises
    ------
    DataError
        When the source has no usable data (or no benchmark and one is required).
    """
    raw = source.fetch_prices(tickers, start, end)
    cleaned = clean_prices(raw, params)
    notes: list[str] = [*cleaned.notes]
    try:
        benchmark: pd.Series | None = source.fetch_benchmark(start, end)
    except DataError as exc:
        if require_benchmark:
            raise
        benchmark = None
        notes.append(f"No benchmark: {exc.user_message()}")
    if benchmark is not None:
        notes += benchmark.attrs.get("notes", ())
    prices, aligned, align_notes = align_calendar(cleaned.close, benchmark)
    prices, history_notes = require_history(prices, params.min_history_days)
    volume = cleaned.volume
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    return MarketData(
        prices=prices,
        benchmark=aligned if aligned is not None else pd.Series(dtype="float64", name="none"),
        companies=companies,
        volume=volume,
        source=source.name,
        fetched_at=raw.fetched_at,
        notes=(*notes, *align_notes, *history_notes),
        raw_prices=tidy_frame(raw.close).reindex(index=prices.index, columns=prices.columns),
    )


def _universe(
    profile: Profile, source: PriceSource
) -> tuple[pd.DataFrame, pd.DataFrame, FilterCriteria, FilterResult]:
    """The source's company table (raw and normalised) and the filters that need no prices."""
    raw_companies = source.fetch_companies()
    companies = normalise_companies(raw_companies)
    criteria = FilterCriteria(
        sectors=profile.sectors,
        min_market_cap=profile.min_market_cap,
        max_market_cap=profile.max_market_cap,
        include=profile.include,
        exclude=profile.exclude,
    )
    return raw_companies, companies, criteria, apply_filters(companies, criteria)


def select_stocks(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    require_benchmark: bool = True,
) -> Selection:
    """Run the universe, filter, data and ranking stages for a profile.

    ``require_benchmark=False`` lets a ranking run on a source without a benchmark.

    Raises
    ------
    TooFewCandidatesError
        When a filter leaves too few stocks (the message names it).
    DataError, InsufficientHistoryError
    """
    raw_companies, companies, criteria, first_pass = _universe(profile, source)
    end = decision_end(profile, source, today)
    needed = max(profile.lookback_days, params.momentum_lookback_days, params.low_vol_window_days)
    market = load_market_data(
        source,
        first_pass.tickers,
        companies,
        start=history_start(end, needed + 5),
        end=end,
        params=params,
        require_benchmark=require_benchmark,
    )
    as_of = market.prices.index[-1].date()
    second_pass = apply_filters(
        companies.loc[list(market.prices.columns)],
        replace(
            criteria,
            min_history_days=params.min_history_days,
            min_dollar_volume=profile.min_dollar_volume,
        ),
        prices=market.prices,
        volume=market.volume,
        as_of=as_of,
    )
    kept = list(second_pass.tickers)
    ranking = rank_stocks(
        market.prices[kept],
        companies.loc[kept],
        profile.strategy,
        as_of,
        top_n=profile.top_n,
        per_sector=profile.per_sector,
        params=params,
    )
    late = profile.as_of is not None and profile.as_of > end
    notes = (
        *(
            [f"As-of date {profile.as_of} is after the data's last day; using {end}."]
            if late
            else []
        ),
        *raw_companies.attrs.get("notes", ()),
        *market.notes,
        *first_pass.notes,
        *second_pass.notes,
        *ranking.notes,
    )
    return Selection(ranking=ranking, market=replace(market, notes=_unique(notes)))


def build_portfolio(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
    record: bool = False,
) -> Report:
    """Build the full portfolio report for one profile.

    Parameters
    ----------
    profile : Profile
        Validated request (see :func:`smallq.profile.make_profile`).
    source : PriceSource
        Where prices, the benchmark and the company table come from.
    today : date
        The caller's date; the decision date is ``profile.as_of`` or the last price on or
        before ``today``.
    index_history : Series, optional
        A long S&P 500 level history for stress windows the source does not cover;
        defaults to the source's own benchmark from 1999.
    record : bool, default=False
        Attach the profile's out-of-sample record (:func:`out_of_sample_record`): a
        walk-forward backtest of the five years before the decision date. Front ends turn it
        on; it costs one backtest.

    Raises
    ------
    SmallQError
        Any subclass; each carries a ``user_message()``.
    """
    selection = select_stocks(profile, source, today=today, params=params)
    market, ranking = selection.market, selection.ranking
    as_of = ranking.as_of
    estimates = estimate(profile, selection, params)
    window, benchmark, mu, cov = estimates.window, estimates.benchmark, estimates.mu, estimates.cov
    optimization = optimize_weights(
        mu,
        cov,
        estimates.settings,
        returns=window.pct_change().iloc[1:],
        sector_map=estimates.sector_map,
        sector_caps=estimates.sector_caps,
        chain=params.fallback_chain,
    )
    settings, placement = placed_settings(estimates.settings, optimization, profile.risk_level)
    latest = window.iloc[-1]
    allocation = allocate_shares(
        optimization.weights, latest, profile.capital, fractional=profile.fractional
    )
    metrics = compute_risk_metrics(
        optimization.weights,
        window,
        benchmark,
        mu,
        cov,
        risk_free_rate=settings.risk_free_rate,
        periods_per_year=params.periods_per_year,
    )
    stress, stress_notes = _stress(
        optimization.weights, window, benchmark, market, source, index_history, as_of, params
    )
    frontier = _frontier(mu, cov, settings, params)
    notes = list(market.notes)
    notes += stress_notes
    notes += _cap_notes(profile, settings)
    notes += estimates.notes
    notes += [
        f"{FALLBACK_NOTE}{s.objective.value} was not used — {s.reason}"
        for s in optimization.fallbacks
    ]
    if optimization.fallbacks:
        notes.append(f"{FALLBACK_NOTE}weights come from {optimization.objective_used.value}.")
    out_of_sample = None
    if record:
        out_of_sample, record_notes = _record_or_note(profile, source, as_of, params)
        notes += record_notes
    notes.append(_freshness_note(market, as_of))
    return Report(
        as_of=as_of,
        profile=profile,
        settings=settings,
        ranking=ranking,
        mu=mu,
        cov=cov,
        optimization=optimization,
        allocation=allocation,
        metrics=metrics,
        stress=stress,
        sectors=market.companies.loc[list(ranking.selected), "sector"],
        frontier=frontier,
        source=market.source,
        fetched_at=market.fetched_at,
        notes=_unique(notes),
        risk_placement=placement,
        out_of_sample=out_of_sample,
    )


@dataclass(frozen=True, slots=True)
class Estimates:
    """The forecast stage of a build: the lookback window, its estimates and the limits.

    Attributes
    ----------
    window : DataFrame of shape (lookback_days + 1, n_candidates)
        Prices of the candidates over the lookback.
    benchmark : Series of shape (lookback_days + 1,)
    mu : Series of shape (n_candidates,)
    cov : DataFrame of shape (n_candidates, n_candidates)
    settings : Settings
        The profile resolved for these candidates.
    sector_map, sector_caps : dict, optional
    notes : tuple of str
        Caveats of this stage (a raised level cap).
    """

    window: pd.DataFrame
    benchmark: pd.Series
    mu: pd.Series
    cov: pd.DataFrame
    settings: Settings
    sector_map: dict[str, str]
    sector_caps: dict[str, float] | None
    notes: tuple[str, ...]


def estimate(
    profile: Profile, selection: Selection, params: EngineParams = DEFAULT_PARAMS
) -> Estimates:
    """Resolve the settings for the selected candidates and estimate ``mu`` and ``cov``.

    Raises
    ------
    InsufficientHistoryError, InfeasibleConstraintsError, ProfileError
        When the lookback or the limits cannot work for these candidates.
    """
    market, ranking = selection.market, selection.ranking
    candidates = list(ranking.selected)
    window = market.prices[candidates].iloc[-(profile.lookback_days + 1) :]
    if len(window) < profile.lookback_days + 1:
        raise InsufficientHistoryError(len(window), profile.lookback_days + 1, "lookback history")
    benchmark = market.benchmark.loc[window.index]
    settings = _settings_for(profile, len(candidates))
    sector_map = {t: str(market.companies.at[t, "sector"]) for t in candidates}
    sector_caps = {str(s): c for s, c in profile.sector_caps.items()} or None
    check_feasibility(
        candidates,
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=sector_map,
        sector_caps=sector_caps,
        n_observations=len(window) - 1,
    )
    mu = expected_returns(
        window,
        settings.returns_model,
        benchmark=benchmark,
        risk_free_rate=settings.risk_free_rate,
        periods_per_year=params.periods_per_year,
        span=params.ema_span_days,
    )
    cov = covariance(
        window,
        settings.cov_model,
        periods_per_year=params.periods_per_year,
        span=params.ema_span_days,
    )
    notes = []
    if profile.max_weight is None and settings.max_weight > LEVEL_MAX_WEIGHT + 1e-12:
        notes.append(
            f"Max weight raised from {LEVEL_MAX_WEIGHT:.0%} to {settings.max_weight:.1%} "
            f"(1/{len(candidates)}) so {len(candidates)} stocks can fill the portfolio; every "
            "risk level then holds the same equal-weight mix."
        )
    return Estimates(
        window, benchmark, mu, cov, settings, sector_map, sector_caps, tuple(notes)
    )


def placed_settings(
    settings: Settings, optimization: OptimizationResult, level: RiskLevel
) -> tuple[Settings, RiskPlacement | None]:
    """The settings as placement resolved them, and where the portfolio sits."""
    frontier = optimization.placement
    if frontier is None:
        return settings, None
    resolved = replace(
        settings,
        objective=optimization.objective_requested,
        target_volatility=frontier.target_volatility,
    )
    placement = RiskPlacement(
        level=int(level),
        levels=len(RiskLevel),
        volatility=optimization.volatility,
        min_volatility=frontier.min_volatility,
        max_volatility=frontier.max_volatility,
        target_volatility=frontier.target_volatility,
    )
    return resolved, placement


def compare_levels(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
) -> LevelComparison:
    """The five risk levels of the profile's universe, side by side (no report per level).

    The selection and estimates are those of :func:`build_portfolio` for the same profile
    (its own risk level and objective are ignored: every level is placed on the frontier),
    placed with the fast path (``fast_placement``), equal to the build's to about 1e-5.

    Raises
    ------
    SmallQError
        Any selection, data or optimization error, with a ``user_message()``.
    """
    levelled = replace(profile, objective=None)
    selection = select_stocks(levelled, source, today=today, params=params)
    as_of = selection.ranking.as_of
    estimates = estimate(levelled, selection, params)
    candidates = list(selection.ranking.selected)
    history, history_notes = _stress_prices(source, candidates, estimates.window, as_of, params)
    long_index = _index_history(source, index_history, selection.market.benchmark, as_of)
    outcomes = level_outcomes(
        estimates.mu,
        estimates.cov,
        estimates.settings,
        returns=estimates.window.pct_change().iloc[1:],
        history=history,
        index_history=long_index,
        sector_map=estimates.sector_map,
        sector_caps=estimates.sector_caps,
        params=replace(params, fast_placement=True),
    )
    frontier = next((o.placement for o in outcomes if o.placement is not None), None)
    low = frontier.min_volatility if frontier else min(o.volatility for o in outcomes)
    high = frontier.max_volatility if frontier else max(o.volatility for o in outcomes)
    return LevelComparison(
        as_of=as_of,
        capital=profile.capital,
        currency=profile.currency,
        candidates=tuple(candidates),
        min_volatility=low,
        max_volatility=high,
        outcomes=outcomes,
        notes=_unique([*selection.market.notes, *estimates.notes, *history_notes]),
    )


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """A walk-forward backtest of a profile's strategy against the benchmark.

    Attributes
    ----------
    result : BacktestResult
        Equity curves, weights over time, trades and rebalances.
    metrics, benchmark_metrics : PerformanceMetrics
        Strategy and benchmark side by side over the same dates.
    fallback_dates : tuple of (date, str)
        Decisions whose weights came from a fallback objective, with the objective used.
    """

    profile: Profile
    settings: Settings
    start: date
    end: date
    result: BacktestResult
    metrics: PerformanceMetrics
    benchmark_metrics: PerformanceMetrics
    source: str
    fallback_dates: tuple[tuple[date, str], ...]
    notes: tuple[str, ...]


def run_strategy_backtest(
    profile: Profile,
    source: PriceSource,
    *,
    start: date,
    end: date,
    rebalance: str = "monthly",
    costs_bps: float = 10.0,
    whole_shares: bool = False,
    params: EngineParams = DEFAULT_PARAMS,
) -> BacktestReport:
    """Backtest the profile's selection + optimization walk-forward from ``start`` to ``end``.

    At each rebalance date the ranking, forecast and optimizer see only prices up to that
    date (:class:`smallq.policy.PipelinePolicy`); between rebalances the weights drift.

    Raises
    ------
    InputError
        A bad rule (``weekly|monthly|drift:0.05``), dates or costs.
    SmallQError
        Any selection, data or optimization error, with a ``user_message()``.
    """
    rule = RebalanceRule.parse(rebalance)
    if end <= start:
        raise ProfileError(
            "end", end.isoformat(), f"the end date must be after the start date {start.isoformat()}"
        )
    if not 0 <= costs_bps <= 1_000:
        raise ProfileError("costs_bps", costs_bps, "must be between 0 and 1000 basis points")
    _, companies, _, first_pass = _universe(profile, source)
    tickers = first_pass.tickers
    warmup = max(profile.lookback_days, params.momentum_lookback_days) + 5
    market = load_market_data(
        source, tickers, companies, start=history_start(start, warmup), end=end, params=params
    )
    settings = _settings_for(profile, min(profile.top_n, market.prices.shape[1]))
    check_feasibility(
        list(market.prices.columns[: profile.top_n]),
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
    )
    policy = PipelinePolicy(
        market.companies.loc[list(market.prices.columns)],
        profile.strategy,
        settings,
        profile.top_n,
        lookback_days=profile.lookback_days,
        per_sector=profile.per_sector,
        sector_caps={str(k): v for k, v in profile.sector_caps.items()} or None,
        benchmark=market.benchmark,
        params=params,
    )
    result = run_backtest(
        market.prices,
        _point_in_time(policy, market, params),
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        rebalance=rule,
        costs_bps=costs_bps,
        capital=profile.capital if whole_shares else None,
        benchmark=market.benchmark,
    )
    metrics, benchmark_metrics = result.metrics(
        risk_free_rate=settings.risk_free_rate, periods_per_year=params.periods_per_year
    )
    fallbacks = tuple(
        (when.date(), used)
        for when, _, used in policy.decisions
        if used != settings.objective.value
    )
    notes = list(market.notes)
    notes += _price_index_note(market.benchmark)
    notes.append(
        "The stock list is today's: companies that left the index are missing, so the "
        "backtest carries survivorship bias."
    )
    notes += _cash_notes(result, profile, whole_shares)
    if fallbacks:
        notes.append(
            f"{len(fallbacks)} of {len(policy.decisions)} rebalances used a fallback objective "
            f"instead of {settings.objective.value} (first on {fallbacks[0][0]:%Y-%m-%d}: "
            f"{fallbacks[0][1]})."
        )
    return BacktestReport(
        profile=profile,
        settings=settings,
        start=result.equity.index[0].date(),
        end=result.equity.index[-1].date(),
        result=result,
        metrics=metrics,
        benchmark_metrics=benchmark_metrics,
        source=market.source,
        fallback_dates=fallbacks,
        notes=_unique(notes),
    )


#: years of walk-forward record attached to every recommendation
OUT_OF_SAMPLE_YEARS: int = 5
#: a record shorter than this many calendar days is not shown (a note says why)
MIN_RECORD_DAYS: int = 365


def out_of_sample_record(
    profile: Profile,
    source: PriceSource,
    as_of: date,
    *,
    years: int = OUT_OF_SAMPLE_YEARS,
    params: EngineParams = DEFAULT_PARAMS,
) -> OutOfSampleRecord:
    """The profile's walk-forward record over the ``years`` before ``as_of``.

    The same profile (strategy, risk level, limits) is backtested with monthly rebalancing
    and 10 bp costs (risk levels placed with the fast path, ``fast_placement``), each
    decision seeing only prices up to its own day (:func:`run_strategy_backtest`), from
    ``as_of`` minus ``years`` (or the first day with a full lookback before it, when the data
    starts later) to ``as_of``.

    Raises
    ------
    InsufficientHistoryError
        When the data leaves less than a year of record before ``as_of``.
    SmallQError
        Any error of the backtest, with a ``user_message()``.
    """
    wanted = _years_before(as_of, years)
    warmup = max(profile.lookback_days, params.momentum_lookback_days) + 5
    index = source.fetch_benchmark(history_start(wanted, warmup), as_of)
    earliest = index.index[warmup].date() if len(index) > warmup else as_of
    start = max(wanted, earliest)
    if (as_of - start).days < MIN_RECORD_DAYS:
        raise InsufficientHistoryError(
            max(len(index) - warmup, 0),
            params.periods_per_year,
            "history for a walk-forward record",
            f"The first decision needs {warmup} trading days of prices and the record at "
            f"least a year after it, before {as_of:%Y-%m-%d}.",
        )
    backtest = run_strategy_backtest(
        replace(profile, as_of=None),
        source,
        start=start,
        end=as_of,
        params=replace(params, fast_placement=True),
    )
    mine, index_metrics = backtest.metrics, backtest.benchmark_metrics
    span = (backtest.end - backtest.start).days / 365.25
    note = ""
    if start > wanted:
        note = (
            f"Only {span:.1f} of the {years} years before {as_of:%Y-%m-%d}: the data starts too "
            f"late for an earlier first decision ({warmup} trading days of prices needed)."
        )
    return OutOfSampleRecord(
        start=backtest.start,
        end=backtest.end,
        years=span,
        cagr=mine.cagr,
        volatility=mine.volatility,
        max_drawdown=mine.max_drawdown,
        benchmark_cagr=index_metrics.cagr,
        benchmark_volatility=index_metrics.volatility,
        benchmark_max_drawdown=index_metrics.max_drawdown,
        note=note,
    )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _record_or_note(
    profile: Profile, source: PriceSource, as_of: date, params: EngineParams
) -> tuple[OutOfSampleRecord | None, list[str]]:
    """The out-of-sample record, or a note saying why there is none."""
    try:
        record = out_of_sample_record(profile, source, as_of, params=params)
    except SmallQError as exc:
        return None, [f"No out-of-sample record: {exc.user_message()}"]
    return record, [record.note] if record.note else []


@dataclass(frozen=True, slots=True)
class TrackedPortfolio:
    """A built portfolio's holdings valued from its build date to the latest data.

    Attributes
    ----------
    values : Series of shape (n_days,)
        Market value of the shares plus the cash left, in the build's currency.
    tracking : TrackingReport
        Growth, metrics and excess return against the benchmark over the same days.
    """

    since: date
    end: date
    values: pd.Series
    tracking: TrackingReport
    notes: tuple[str, ...]


def track_portfolio(
    shares: Mapping[str, float],
    cash: float,
    since: date,
    source: PriceSource,
    *,
    today: date,
    risk_free_rate: float = DEFAULT_PARAMS.risk_free_rate,
    params: EngineParams = DEFAULT_PARAMS,
) -> TrackedPortfolio:
    """Value a stored portfolio (its shares and cash) since ``since`` against the benchmark.

    Raises
    ------
    InsufficientHistoryError
        When the data has fewer than two trading days after ``since``.
    DataError
        When the source has no prices for the holdings or no benchmark.
    """
    held = {t: float(n) for t, n in shares.items() if n}
    if not held:
        raise ProfileError("shares", dict(shares), "the portfolio holds no shares")
    end = data_end(source, today)
    if end <= since:
        raise InsufficientHistoryError(
            0,
            2,
            f"prices after {since.isoformat()}",
            "The data has no later trading day yet; track the portfolio again later.",
        )
    cleaned = clean_prices(source.fetch_prices(list(held), since, end), params)
    prices = cleaned.close.reindex(columns=list(held)).ffill(limit=5).dropna()
    values = account_values(pd.Series(held, dtype=float), prices, cash)
    benchmark = source.fetch_benchmark(since, end)
    report = tracking(
        values, benchmark, risk_free_rate=risk_free_rate, periods_per_year=params.periods_per_year
    )
    notes = [*cleaned.notes, *_price_index_note(benchmark)]
    return TrackedPortfolio(
        since=values.index[0].date(),
        end=values.index[-1].date(),
        values=values,
        tracking=report,
        notes=_unique(notes),
    )


#: benchmark names that are price indices (no dividends): the S&P 500 level itself
PRICE_INDEX_NAMES = frozenset({"SP500", "^GSPC", "S&P 500"})


def _price_index_note(benchmark: pd.Series) -> list[str]:
    """Say when the benchmark leaves out dividends that the stock prices include."""
    if str(benchmark.name) not in PRICE_INDEX_NAMES:
        return []
    return [
        "The benchmark is the S&P 500 price index, without dividends, while the stock prices "
        "are dividend-adjusted: the comparison flatters the portfolio by about the index's "
        "dividend yield (roughly 1.5-2% a year)."
    ]


def _point_in_time(policy: Policy, market: MarketData, params: EngineParams) -> Policy:
    """Feed the policy prices cleaned with only what was known at each decision date.

    The simulator values the book on fully cleaned prices (valuation is not a decision), but
    the bad-print rule looks at the next day, so decisions re-clean the raw closes cut at
    the decision date; short gaps are carried forward at most five days.
    """
    raw = market.raw_prices if market.raw_prices is not None else market.prices

    def decide(_: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
        history = clean_prices(PriceData(close=raw.loc[:when]), params).close
        return policy(history.ffill(limit=5), when)

    return decide


def _cash_notes(result: BacktestResult, profile: Profile, whole_shares: bool) -> list[str]:
    """Say when whole-share rounding kept most of a small capital in cash."""
    average_cash = float(result.cash.iloc[:-1].mean()) if len(result.cash) > 1 else 0.0
    if not whole_shares or average_cash < 0.25:
        return []
    return [
        f"With {profile.capital:,.2f} {profile.currency} of capital, whole shares left "
        f"{average_cash:.0%} of the portfolio in cash on average; add capital or backtest "
        "without --capital (fractional shares)."
    ]


def _settings_for(profile: Profile, n_candidates: int) -> Settings:
    settings = resolve_settings(profile, n_candidates)
    if settings.min_holdings > n_candidates:
        settings = replace(settings, min_holdings=n_candidates)
    return settings


def _stress(
    weights: pd.Series,
    window: pd.DataFrame,
    benchmark: pd.Series,
    market: MarketData,
    source: PriceSource,
    index_history: pd.Series | None,
    as_of: date,
    params: EngineParams,
) -> tuple[StressReport, list[str]]:
    """Stress tests: Monte Carlo and betas on the lookback, crisis replays on long history."""
    held = [t for t in window.columns if weights.get(t, 0.0) > 0]
    long_prices, notes = _stress_prices(source, held, window, as_of, params)
    long_index = _index_history(source, index_history, market.benchmark, as_of)
    stress = run_stress_tests(
        weights[held],
        window[held],
        benchmark,
        market.companies.loc[held, "sector"],
        index_history=long_index,
        params=params,
        history=long_prices,
    )
    notes += list(uncovered_window_notes(weights[held], long_prices, long_index))
    return stress, notes


def _stress_prices(
    source: PriceSource,
    held: list[str],
    window: pd.DataFrame,
    as_of: date,
    params: EngineParams,
) -> tuple[pd.DataFrame, list[str]]:
    """Long, cleaned price history of the holdings for replaying historical windows."""
    try:
        raw = source.fetch_prices(held, STRESS_HISTORY_START, as_of)
    except DataError:
        return window[held], []
    cleaned = clean_prices(raw, params)
    longer = cleaned.close.reindex(columns=held).loc[: pd.Timestamp(as_of)]
    return longer, [f"Stress history: {note}" for note in cleaned.notes]


def _cap_notes(profile: Profile, settings: Settings) -> list[str]:
    """Say when the minimum number of holdings lowers the max weight the user asked for."""
    effective = min(settings.max_weight, 1.0 / settings.min_holdings)
    if effective >= settings.max_weight - 1e-12:
        return []
    return [
        f"Max weight {settings.max_weight:.0%} lowered to {effective:.1%} so the portfolio "
        f"holds at least {settings.min_holdings} stocks ({profile.risk_level.label} risk)."
    ]


def _index_history(
    source: PriceSource, given: pd.Series | None, benchmark: pd.Series, as_of: date
) -> pd.Series:
    if given is not None:
        return given
    try:
        return source.fetch_benchmark(STRESS_HISTORY_START, as_of)
    except DataError:
        return benchmark


def _frontier(
    mu: pd.Series, cov: pd.DataFrame, settings: Settings, params: EngineParams
) -> pd.DataFrame | None:
    try:
        return efficient_frontier(
            mu,
            cov,
            max_weight=min(settings.max_weight, 1.0 / settings.min_holdings),
            n_points=params.frontier_points,
        )
    except (DataError, OptimizationError):
        return None


def _freshness_note(market: MarketData, as_of: date) -> str:
    fetched = (
        f", fetched {market.fetched_at:%Y-%m-%d %H:%M} UTC" if market.fetched_at is not None else ""
    )
    return f"{FRESHNESS_NOTE}{market.source} up to {as_of:%Y-%m-%d}{fetched}."


def _unique(items: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))
