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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypeVar

import pandas as pd

from smallq.allocation import allocate_shares
from smallq.backtest import BacktestResult, Policy, RebalanceRule, run_backtest
from smallq.data.base import PriceSource
from smallq.data.validation import (
    align_calendar,
    clean_prices,
    require_history,
    tidy_frame,
    unconfirmed_moves,
)
from smallq.errors import (
    DataError,
    DataUnavailableError,
    InsufficientHistoryError,
    OptimizationError,
    ProfileError,
)
from smallq.filters import FilterCriteria, FilterResult, apply_filters
from smallq.forecast import covariance, expected_returns
from smallq.fundamentals import Fundamentals
from smallq.measures import account_values
from smallq.models import (
    MarketData,
    Note,
    NoteKind,
    PriceData,
    Profile,
    Ranking,
    Report,
    Settings,
    StressReport,
)
from smallq.optimize import check_feasibility, efficient_frontier, optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.performance import PerformanceMetrics, TrackingReport, tracking
from smallq.policy import PipelinePolicy
from smallq.profile import resolve_settings
from smallq.ranking import rank_stocks
from smallq.risk import compute_risk_metrics
from smallq.stress import run_stress_tests, uncovered_window_notes
from smallq.universe import companies_as_of, normalise_companies

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
        raw_high=_raw_field(raw.high, prices),
        raw_low=_raw_field(raw.low, prices),
    )


def _raw_field(frame: pd.DataFrame | None, prices: pd.DataFrame) -> pd.DataFrame | None:
    """A fetched OHLC field on the cleaned prices' dates and columns (None when absent)."""
    if frame is None:
        return None
    return tidy_frame(frame).reindex(index=prices.index, columns=prices.columns)


@dataclass(frozen=True, slots=True)
class _Universe:
    """The source's company table (raw, and as known on the decision day) and its filters."""

    raw_companies: pd.DataFrame
    companies: pd.DataFrame
    fundamentals: Fundamentals
    criteria: FilterCriteria
    first_pass: FilterResult


def _universe(profile: Profile, source: PriceSource, as_of: date) -> _Universe:
    """The company table as known on ``as_of`` and the filters that need no prices.

    Fundamentals (and so the market-cap band) are those dated on or before ``as_of``; a
    market cap not known by then stands in from the company table, with a note.
    """
    raw_companies = source.fetch_companies()
    fundamentals = source.fetch_fundamentals()
    companies, cap_note = companies_as_of(normalise_companies(raw_companies), fundamentals, as_of)
    criteria = FilterCriteria(
        sectors=profile.sectors,
        min_market_cap=profile.min_market_cap,
        max_market_cap=profile.max_market_cap,
        include=profile.include,
        exclude=profile.exclude,
    )
    first_pass = apply_filters(companies, criteria)
    if cap_note and (profile.min_market_cap is not None or profile.max_market_cap is not None):
        first_pass = replace(first_pass, notes=(*first_pass.notes, cap_note))
    return _Universe(raw_companies, companies, fundamentals, criteria, first_pass)


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
    end = decision_end(profile, source, today)
    universe = _universe(profile, source, end)
    raw_companies, companies, criteria, first_pass = (
        universe.raw_companies,
        universe.companies,
        universe.criteria,
        universe.first_pass,
    )
    needed = max(profile.lookback_days, params.momentum_lookback_days, params.low_vol_window_days)
    market = _without_unconfirmed_moves(
        load_market_data(
            source,
            first_pass.tickers,
            companies,
            start=history_start(end, needed + 5),
            end=end,
            params=params,
            require_benchmark=require_benchmark,
        ),
        params,
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
        fundamentals=universe.fundamentals,
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


def _without_unconfirmed_moves(market: MarketData, params: EngineParams) -> MarketData:
    """Leave out tickers whose decision-day close moved by a spike's size, with a note."""
    excluded, notes = unconfirmed_moves(market.prices, params)
    if not excluded:
        return market
    if len(excluded) == market.prices.shape[1]:
        raise DataUnavailableError(list(excluded), "; ".join(notes))
    kept = [t for t in market.prices.columns if t not in excluded]

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.reindex(columns=kept)

    return replace(
        market,
        prices=market.prices[kept],
        volume=cut(market.volume),
        raw_prices=cut(market.raw_prices),
        raw_high=cut(market.raw_high),
        raw_low=cut(market.raw_low),
        notes=(*market.notes, *notes),
    )


def build_portfolio(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
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

    Raises
    ------
    SmallQError
        Any subclass; each carries a ``user_message()``.
    """
    selection = select_stocks(profile, source, today=today, params=params)
    market, ranking = selection.market, selection.ranking
    as_of = ranking.as_of
    candidates = list(ranking.selected)
    window = market.prices[candidates].iloc[-(profile.lookback_days + 1) :]
    if len(window) < profile.lookback_days + 1:
        raise InsufficientHistoryError(len(window), profile.lookback_days + 1, "lookback history")
    benchmark = market.benchmark.loc[window.index]
    settings = _settings_for(profile, len(candidates))
    sector_map = {t: str(market.companies.at[t, "sector"]) for t in candidates}
    sector_caps = {str(s): c for s, c in profile.sector_caps.items()}
    check_feasibility(
        candidates,
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=sector_map,
        sector_caps=sector_caps or None,
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
    returns = window.pct_change().iloc[1:]
    optimization = optimize_weights(
        mu,
        cov,
        settings,
        returns=returns,
        sector_map=sector_map,
        sector_caps=sector_caps or None,
        chain=params.fallback_chain,
    )
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
    notes = [Note(NoteKind.DATA, text) for text in market.notes]
    notes += [Note(NoteKind.STRESS, text) for text in stress_notes]
    notes += _cap_notes(profile, settings)
    notes += [
        Note(
            NoteKind.FALLBACK,
            f"Fallback: {s.objective.value} was not used — {s.reason}",
            (("objective", s.objective.value), ("reason", s.reason)),
        )
        for s in optimization.fallbacks
    ]
    if optimization.fallbacks:
        used = optimization.objective_used.value
        text = f"Fallback: weights come from {used}."
        notes.append(Note(NoteKind.FALLBACK, text, (("objective_used", used),)))
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
        sectors=market.companies.loc[candidates, "sector"],
        frontier=frontier,
        source=market.source,
        fetched_at=market.fetched_at,
        notes=_unique(notes),
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
    progress: Callable[[float], None] | None = None,
) -> BacktestReport:
    """Backtest the profile's selection + optimization walk-forward from ``start`` to ``end``.

    At each rebalance date the ranking, forecast and optimizer see only prices up to that
    date (:class:`smallq.policy.PipelinePolicy`); between rebalances the weights drift.
    ``progress``, when given, is called at each decision with the share of the period done
    (0 to 1) and once with 1.0 at the end (front ends draw a progress bar from it).

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
    universe = _universe(profile, source, start)
    companies, tickers = universe.companies, universe.first_pass.tickers
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
        fundamentals=universe.fundamentals,
        params=params,
    )
    result = run_backtest(
        market.prices,
        _point_in_time(policy, market, params, _progress_span(progress, start, end)),
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        rebalance=rule,
        costs_bps=costs_bps,
        capital=profile.capital if whole_shares else None,
        benchmark=market.benchmark,
    )
    if progress is not None:
        progress(1.0)
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


def _progress_span(
    progress: Callable[[float], None] | None, start: date, end: date
) -> Callable[[pd.Timestamp], None] | None:
    """Turn a decision date into the share of ``[start, end]`` done, for ``progress``."""
    if progress is None:
        return None
    span = max((end - start).days, 1)

    def report(when: pd.Timestamp) -> None:
        progress(min(max((when.date() - start).days / span, 0.0), 1.0))

    return report


def _point_in_time(
    policy: Policy,
    market: MarketData,
    params: EngineParams,
    on_decision: Callable[[pd.Timestamp], None] | None = None,
) -> Policy:
    """Feed the policy prices cleaned with only what was known at each decision date.

    The simulator values the book on fully cleaned prices (valuation is not a decision), but
    the bad-print rules look at the next day, so decisions re-clean the raw closes (and the
    day's high and low) cut at the decision date: the decision day's close is moved into its
    range, and a ticker whose decision-day move is of a spike's size is left out of that
    decision (:func:`smallq.data.validation.unconfirmed_moves`), as in the build. Short gaps
    are carried forward at most five days.
    """
    raw = market.raw_prices if market.raw_prices is not None else market.prices

    def cut(frame: pd.DataFrame | None, when: pd.Timestamp) -> pd.DataFrame | None:
        return None if frame is None else frame.loc[:when]

    def decide(_: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
        if on_decision is not None:
            on_decision(when)
        known = PriceData(
            close=raw.loc[:when], high=cut(market.raw_high, when), low=cut(market.raw_low, when)
        )
        history = clean_prices(known, params).close.ffill(limit=5)
        excluded, _ = unconfirmed_moves(history, params)
        return policy(history.drop(columns=list(excluded)), when)

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
    settings = resolve_settings(profile)
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


def _cap_notes(profile: Profile, settings: Settings) -> list[Note]:
    """Say when the minimum number of holdings lowers the max weight the user asked for."""
    effective = min(settings.max_weight, 1.0 / settings.min_holdings)
    if effective >= settings.max_weight - 1e-12:
        return []
    text = (
        f"Max weight {settings.max_weight:.0%} lowered to {effective:.1%} so the portfolio "
        f"holds at least {settings.min_holdings} stocks ({profile.risk_level.label} risk)."
    )
    fields = (
        ("max_weight", repr(settings.max_weight)),
        ("effective_max_weight", repr(effective)),
        ("min_holdings", str(settings.min_holdings)),
    )
    return [Note(NoteKind.CONSTRAINT, text, fields)]


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


def _freshness_note(market: MarketData, as_of: date) -> Note:
    fetched = (
        f", fetched {market.fetched_at:%Y-%m-%d %H:%M} UTC" if market.fetched_at is not None else ""
    )
    fields = [("source", market.source), ("as_of", as_of.isoformat())]
    if market.fetched_at is not None:
        fields.append(("fetched_at", market.fetched_at.isoformat()))
    text = f"Prices from {market.source} up to {as_of:%Y-%m-%d}{fetched}."
    return Note(NoteKind.FRESHNESS, text, tuple(fields))


_Item = TypeVar("_Item", str, Note)


def _unique(items: list[_Item] | tuple[_Item, ...]) -> tuple[_Item, ...]:
    return tuple(dict.fromkeys(item for item in items if item))
