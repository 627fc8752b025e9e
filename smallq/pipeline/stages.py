"""The stages the use cases share: a decision's data, its notes, and the decision itself.

:func:`decision_data` loads the universe and the cleaned prices up to the decision date;
:func:`decide` runs :func:`smallq.decision.decide_weights` on them as the build does, and
:func:`rank` its first steps only (:func:`smallq.decision.rank_candidates`, ``smallq rank``);
:func:`data_notes` gathers what the data stages said; :func:`unique` drops repeated notes.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from smallq.data.base import PriceSource
from smallq.data.market import (
    Universe,
    decision_end,
    drop_unconfirmed_moves,
    history_start,
    load_market_data,
    load_universe,
)
from smallq.decision import (
    Decision,
    DecisionRule,
    Ranked,
    decide_weights,
    history_rows,
    rank_candidates,
)
from smallq.models import MarketData, Note, Profile
from smallq.params import EngineParams

__all__ = ["data_notes", "decide", "decision_data", "rank", "unique"]


def decision_data(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams,
    require_benchmark: bool = True,
) -> tuple[Universe, MarketData, date]:
    """The universe and the cleaned prices up to the decision date, and that date.

    Enough history for every stage of a decision (:func:`smallq.decision.history_rows`); a
    ticker whose decision-day close moved by a spike's size is left out with a note.
    """
    end = decision_end(profile, source, today)
    universe = load_universe(profile, source, end)
    needed = max(history_rows(profile.lookback_days, params), params.low_vol_window_days)
    market = drop_unconfirmed_moves(
        load_market_data(
            source,
            universe.first_pass.tickers,
            universe.companies,
            start=history_start(end, needed + 5),
            end=end,
            params=params,
            require_benchmark=require_benchmark,
        ),
        params,
    )
    return universe, market, end


def decide(
    profile: Profile,
    universe: Universe,
    market: MarketData,
    params: EngineParams,
    *,
    fast: bool = False,
) -> tuple[DecisionRule, Decision]:
    """The profile's rule and its decision on the last day of ``market``.

    Parameters
    ----------
    profile : Profile
    universe, market
        From :func:`decision_data`.
    params : EngineParams
        For the rule and the decision (``fast_placement`` places risk levels on the fast path).
    fast : bool, default=False
        Optimize on the daqp fast path (``decide_weights(fast=True)``).

    Raises
    ------
    SmallQError
        As :func:`smallq.decision.decide_weights`.
    """
    rule, as_of = _rule_at(profile, universe, market, params)
    decision = decide_weights(
        market.prices,
        market.companies,
        rule,
        as_of,
        volume=market.volume,
        benchmark=market.benchmark,
        fundamentals=universe.fundamentals,
        params=params,
        fast=fast,
    )
    return rule, decision


def rank(profile: Profile, universe: Universe, market: MarketData, params: EngineParams) -> Ranked:
    """The ranking :func:`decide` acts on, on the last day of ``market`` (filters, window rule).

    Raises
    ------
    SmallQError
        As :func:`smallq.decision.rank_candidates`.
    """
    rule, as_of = _rule_at(profile, universe, market, params)
    return rank_candidates(
        market.prices,
        market.companies,
        rule,
        as_of,
        volume=market.volume,
        fundamentals=universe.fundamentals,
        params=params,
    )


def _rule_at(
    profile: Profile, universe: Universe, market: MarketData, params: EngineParams
) -> tuple[DecisionRule, date]:
    """The profile's decision rule and the decision date (the last day of ``market``)."""
    rule = DecisionRule.for_profile(profile, universe.criteria, profile.top_n, params)
    return rule, market.prices.index[-1].date()


def data_notes(profile: Profile, universe: Universe, market: MarketData, end: date) -> list[str]:
    """What the data stages said, after an as-of date past the data's last day."""
    notes = [
        *universe.raw_companies.attrs.get("notes", ()),
        *market.notes,
        *universe.first_pass.notes,
    ]
    if profile.as_of is not None and profile.as_of > end:
        notes.insert(0, f"As-of date {profile.as_of} is after the data's last day; using {end}.")
    return notes


_Item = TypeVar("_Item", str, Note)


def unique(items: list[_Item] | tuple[_Item, ...]) -> tuple[_Item, ...]:
    """The non-empty items, each once, in their first order."""
    return tuple(dict.fromkeys(item for item in items if item))
