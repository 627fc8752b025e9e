"""Hard filters that turn the universe into a candidate list.

Order: (universe size check) -> sector -> market cap -> price history -> dollar volume,
then ``exclude`` removes tickers and ``include`` adds tickers back. After every step the
candidates (counting the valid ``include`` tickers, which survive whatever happens) must
number at least ``criteria.min_count``; otherwise
:class:`~smallq.errors.TooFewCandidatesError` names the filter and says which setting to relax.

Point in time: the history and dollar-volume filters read only rows dated on or before
``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from smallq.data.validation import normalise_ticker
from smallq.errors import ProfileError, TooFewCandidatesError
from smallq.types import Sector
from smallq.universe import tickers_in_sectors

#: filter names as users see them (also the values of ``FilterResult.removed``)
UNIVERSE = "universe"
SECTOR = "sector"
MARKET_CAP = "market cap"
HISTORY = "price history"
DOLLAR_VOLUME = "dollar volume"
EXCLUDE = "exclude"


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """What a candidate must satisfy. ``None`` (or an empty tuple) switches a filter off.

    Attributes
    ----------
    sectors : tuple of Sector
        Keep only these sectors; empty keeps every company.
    min_market_cap, max_market_cap : float, optional
        Market-cap band in USD, inclusive. A company without a market cap fails it.
    min_history_days : int, optional
        Fewest non-missing daily prices on or before ``as_of``.
    min_dollar_volume : float, optional
        Fewest USD traded per day, averaged (``close * volume``) over the last
        ``dollar_volume_window_days`` trading days. Skipped with a note when volume is unknown.
    include, exclude : tuple of str
        Tickers forced in (when they exist) or out; they may not overlap.
    min_count : int
        Fewest candidates accepted after each filter.
    dollar_volume_window_days : int
        Averaging window of the dollar-volume filter, in trading days (63 is a quarter).
    """

    sectors: tuple[Sector, ...] = ()
    min_market_cap: float | None = None
    max_market_cap: float | None = None
    min_history_days: int | None = None
    min_dollar_volume: float | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_count: int = 2
    dollar_volume_window_days: int = 63

    def __post_init__(self) -> None:
        """Reject contradictory criteria.

        Raises
        ------
        ProfileError
            When ``min_count < 1``, the market-cap band is inverted, the volume window is
            empty, or a ticker is both included and excluded.
        """
        if self.min_count < 1:
            raise ProfileError("min_count", self.min_count, "must be at least 1")
        low, high = self.min_market_cap, self.max_market_cap
        if low is not None and high is not None and low > high:
            raise ProfileError("max_market_cap", high, f"is below the minimum {low:,.0f}")
        if self.dollar_volume_window_days < 1:
            raise ProfileError("dollar_volume_window_days", self.dollar_volume_window_days, "< 1")
        both = sorted({normalise_ticker(t) for t in self.include} & _normalised(self.exclude))
        if both:
            raise ProfileError("include", both, "tickers cannot be both included and excluded")


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Candidates that passed, caveats, and why each other ticker was removed.

    Attributes
    ----------
    tickers : tuple of str
        Candidates in company-table order; included tickers missing from the table come last.
    notes : tuple of str
        Caveats for the user (skipped filters, missing market caps, ignored includes, ...).
    removed : mapping of str to str
        Ticker -> name of the filter that removed it (``"sector"``, ``"market cap"``, ...).
    """

    tickers: tuple[str, ...]
    notes: tuple[str, ...] = ()
    removed: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _State:
    """Mutable working state of one :func:`apply_filters` call (never leaves the module)."""

    tickers: list[str]
    forced: set[str]
    required: int
    notes: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)

    def keep(self, name: str, passed: Callable[[str], bool], hint: str) -> None:
        kept = [t for t in self.tickers if passed(t)]
        kept_set = set(kept)
        self.removed.update({t: name for t in self.tickers if t not in kept_set})
        self.tickers = kept
        remaining = len(kept_set | self.forced)
        if remaining < self.required:
            raise TooFewCandidatesError(name, remaining, self.required, hint)


def apply_filters(
    companies: pd.DataFrame,
    criteria: FilterCriteria,
    *,
    prices: pd.DataFrame | None = None,
    volume: pd.DataFrame | None = None,
    as_of: date | None = None,
) -> FilterResult:
    """Apply the hard filters in order and return the candidates.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        The universe, as returned by :func:`smallq.universe.normalise_companies`.
    criteria : FilterCriteria
    prices : DataFrame of shape (n_days, n_assets), optional
        Daily closes; needed by the history and dollar-volume filters (skipped with a note
        when absent).
    volume : DataFrame of shape (n_days, n_assets), optional
        Daily share volume on the same calendar; needed by the dollar-volume filter.
    as_of : date, optional
        Only rows dated on or before it are read; ``None`` reads every row.

    Returns
    -------
    FilterResult

    Raises
    ------
    TooFewCandidatesError
        When a filter leaves fewer than ``criteria.min_count`` candidates; ``filter_name`` is
        that filter and ``hint`` says which setting to relax.
    """
    past = None if prices is None else _up_to(prices, as_of)
    forced, notes = _valid_includes(companies, criteria.include, past)
    universe = list(map(str, companies.index))
    state = _State(universe, forced, criteria.min_count, notes)
    state.keep(UNIVERSE, lambda t: True, "Choose a larger universe or include more stocks.")
    if criteria.sectors:
        wanted = set(tickers_in_sectors(companies, criteria.sectors))
        state.keep(SECTOR, wanted.__contains__, "Choose more sectors.")
    if criteria.min_market_cap is not None or criteria.max_market_cap is not None:
        _market_cap_filter(state, companies, criteria)
    if criteria.min_history_days is not None:
        _history_filter(state, past, criteria.min_history_days)
    if criteria.min_dollar_volume is not None:
        _dollar_volume_filter(state, past, volume, as_of, criteria)
    if criteria.exclude:
        _exclude_filter(state, universe, criteria.exclude)
    return _finish(state, universe)


# --------------------------------------------------------------------------- filters
def _market_cap_filter(state: _State, companies: pd.DataFrame, criteria: FilterCriteria) -> None:
    caps = companies["market_cap"]
    low, high = criteria.min_market_cap, criteria.max_market_cap
    unknown = [t for t in state.tickers if pd.isna(caps.get(t))]
    if unknown:
        state.notes.append(
            f"{len(unknown)} stock(s) without a market cap fail the market-cap filter: "
            f"{_listing(unknown)}."
        )

    def passed(ticker: str) -> bool:
        cap = caps.get(ticker)
        if pd.isna(cap):
            return False
        return (low is None or cap >= low) and (high is None or cap <= high)

    hints = []
    if low is not None:
        hints.append("Lower the minimum market cap")
    if high is not None:
        hints.append("raise the maximum market cap" if hints else "Raise the maximum market cap")
    state.keep(MARKET_CAP, passed, " or ".join(hints) + ".")


def _history_filter(state: _State, past: pd.DataFrame | None, min_days: int) -> None:
    if past is None:
        state.notes.append("No prices were given, so the minimum-history filter was skipped.")
        return
    counts = past.notna().sum()
    state.keep(
        HISTORY,
        lambda t: int(counts.get(t, 0)) >= min_days,
        "Lower the minimum history or choose an earlier start.",
    )


def _dollar_volume_filter(
    state: _State,
    past: pd.DataFrame | None,
    volume: pd.DataFrame | None,
    as_of: date | None,
    criteria: FilterCriteria,
) -> None:
    if past is None or volume is None:
        state.notes.append("Trading volume is unknown, so the dollar-volume filter was skipped.")
        return
    shares = volume.reindex(index=past.index, columns=past.columns)
    dollars = (past * shares).tail(criteria.dollar_volume_window_days).mean()
    unknown = [t for t in state.tickers if pd.isna(dollars.get(t))]
    if unknown:
        state.notes.append(
            f"Volume is unknown for {_listing(unknown)}; the dollar-volume filter kept them."
        )
    minimum = float(criteria.min_dollar_volume or 0.0)
    state.keep(
        DOLLAR_VOLUME,
        lambda t: pd.isna(dollars.get(t)) or dollars[t] >= minimum,
        "Lower the minimum dollar volume.",
    )


def _exclude_filter(state: _State, universe: list[str], exclude: tuple[str, ...]) -> None:
    excluded = _normalised(exclude)
    unknown = sorted(excluded - set(universe))
    if unknown:
        state.notes.append(f"Ignored exclude {_listing(unknown)}: not in the universe.")
    state.keep(EXCLUDE, lambda t: t not in excluded, "Exclude fewer stocks or include some.")


# --------------------------------------------------------------------------- helpers
def _valid_includes(
    companies: pd.DataFrame, include: tuple[str, ...], past: pd.DataFrame | None
) -> tuple[set[str], list[str]]:
    known = set(map(str, companies.index)) | (set() if past is None else set(past.columns))
    wanted = _normalised(include)
    unknown = sorted(wanted - known)
    notes = [f"Ignored include {_listing(unknown)}: not in the universe."] if unknown else []
    return wanted & known, notes


def _finish(state: _State, universe: list[str]) -> FilterResult:
    kept = set(state.tickers) | state.forced
    back = [t for t in universe if t in state.forced and t in state.removed]
    if back:
        reasons = ", ".join(f"{t} ({state.removed[t]})" for t in back)
        state.notes.append(f"Included despite the filters: {reasons}.")
    outside = sorted(state.forced - set(universe))
    ordered = [t for t in universe if t in kept] + outside
    removed = {t: why for t, why in state.removed.items() if t not in state.forced}
    return FilterResult(tuple(ordered), tuple(state.notes), removed)


def _up_to(prices: pd.DataFrame, as_of: date | None) -> pd.DataFrame:
    ordered = prices.sort_index()
    return ordered if as_of is None else ordered.loc[: pd.Timestamp(as_of)]


def _normalised(tickers: tuple[str, ...]) -> set[str]:
    return {normalise_ticker(t) for t in tickers}


def _listing(tickers: list[str], limit: int = 10) -> str:
    shown = ", ".join(tickers[:limit])
    return shown + (f" and {len(tickers) - limit} more" if len(tickers) > limit else "")
