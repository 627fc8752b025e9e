"""The risk-levels use case: the five levels of one universe, side by side."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd

from smallq.data.base import PriceSource
from smallq.data.market import load_index_history, load_stress_history
from smallq.levels import LevelComparison, level_outcomes
from smallq.models import Profile
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.pipeline.stages import data_notes, decide, decision_data, unique
from smallq.profile import level_cap_notes

__all__ = ["compare_levels"]


def compare_levels(
    profile: Profile,
    source: PriceSource,
    *,
    today: date,
    params: EngineParams = DEFAULT_PARAMS,
    index_history: pd.Series | None = None,
) -> LevelComparison:
    """The five risk levels of the profile's universe, side by side (no report per level).

    The decision (selection, estimates, limits) is that of
    :func:`smallq.pipeline.build_portfolio` for the same profile (its own risk level and
    objective are ignored: every level is placed on the frontier), placed with the fast path
    (``fast_placement``), equal to the build's to about 1e-5.

    Raises
    ------
    SmallQError
        Any selection, data or optimization error, with a ``user_message()``.
    """
    levelled = replace(profile, objective=None)
    fast = replace(params, fast_placement=True)
    universe, market, end = decision_data(levelled, source, today=today, params=params)
    as_of = market.prices.index[-1].date()
    rule, decision = decide(levelled, universe, market, fast)
    window, settings = decision.window, decision.settings
    candidates = list(window.columns)
    history, history_notes = load_stress_history(source, candidates, window, as_of, params)
    sectors = market.companies.loc[candidates, "sector"]
    outcomes = level_outcomes(
        decision.mu,
        decision.cov,
        settings,
        returns=decision.returns,  # the window's returns, computed once
        history=history,
        index_history=load_index_history(source, index_history, market.benchmark, as_of),
        sector_map={str(t): str(s) for t, s in sectors.items()},
        sector_caps=rule.sector_caps,
        params=fast,
    )
    frontier = next((o.placement for o in outcomes if o.placement is not None), None)
    low = frontier.min_volatility if frontier else min(o.volatility for o in outcomes)
    high = frontier.max_volatility if frontier else max(o.volatility for o in outcomes)
    notes = [
        *data_notes(levelled, universe, market, end),
        *decision.notes,
        *[n.text for n in level_cap_notes(levelled, settings, len(candidates))],
        *history_notes,
    ]
    return LevelComparison(
        as_of=as_of,
        capital=profile.capital,
        currency=profile.currency,
        candidates=tuple(candidates),
        min_volatility=low,
        max_volatility=high,
        outcomes=outcomes,
        notes=unique(notes),
    )
