"""Checks on a user's choice of sectors, before any price is fetched.

Front ends ask these so that no choice leads to a dead end later:

* :func:`sector_counts` – how many stocks each sector has in the source's company table
  (sectors without any are left out, so a keyboard can hide them);
* :func:`check_sector_choice` – whether the chosen sectors hold enough stocks for **every**
  risk level (the risk question comes after the sectors and offers all five). A level needs
  the fewest stocks that pass :func:`smallq.constraints.check_feasibility` (the engine's one
  feasibility check, the same the build runs) with that level's per-stock cap, counting at
  most ``top_n`` stocks, as the build selects. When the cap cannot be met even with
  ``top_n`` stocks, the number of stocks setting is the problem, not the sectors, and the
  sectors are not blamed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from smallq.constraints import check_feasibility
from smallq.errors import InfeasibleConstraintsError
from smallq.models import Profile
from smallq.profile import resolve_settings
from smallq.types import RiskLevel, Sector
from smallq.universe import sectors_of


@dataclass(frozen=True, slots=True)
class SectorCheck:
    """Whether a sector choice can serve every risk level, and what to add if not.

    Attributes
    ----------
    n_stocks : int
        Stocks in the chosen sectors.
    needed : int
        Fewest stocks that every risk level can use (0 when no level depends on the sectors).
    short_levels : tuple of RiskLevel
        Levels the chosen sectors are too small for.
    suggestions : tuple of (Sector, int)
        Sectors not chosen, with their stock counts, most stocks first (at most three).
    """

    n_stocks: int
    needed: int
    short_levels: tuple[RiskLevel, ...]
    suggestions: tuple[tuple[Sector, int], ...]

    @property
    def ok(self) -> bool:
        """True when every risk level can be built from these sectors."""
        return not self.short_levels


def sector_counts(companies: pd.DataFrame) -> dict[Sector, int]:
    """Stocks per sector in a company table, only sectors that have some, in Sector order.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        As returned by :func:`smallq.universe.normalise_companies`.
    """
    return {sector: len(tickers) for sector, tickers in sectors_of(companies).items()}


def stocks_needed(profile: Profile, level: RiskLevel) -> int | None:
    """Fewest candidates for which ``level`` passes the feasibility check, or None.

    None means even ``profile.top_n`` stocks cannot satisfy the level's cap (a settings
    problem, not a sector one). The minimum number of holdings is lowered to the number of
    candidates, and the levels' own cap raised to ``1/count``, as the build does (so without
    an explicit ``max_weight`` one stock is enough).
    """
    for count in range(1, profile.top_n + 1):
        settings = resolve_settings(replace(profile, risk_level=level), count)
        try:
            check_feasibility(
                [f"s{i}" for i in range(count)],
                max_weight=settings.max_weight,
                min_holdings=min(settings.min_holdings, count),
            )
        except InfeasibleConstraintsError:
            continue
        return count
    return None


def check_sector_choice(
    counts: Mapping[Sector, int], chosen: Sequence[Sector], profile: Profile
) -> SectorCheck:
    """Whether the chosen sectors hold enough stocks for every risk level.

    Parameters
    ----------
    counts : mapping of Sector to int
        Stocks per sector (:func:`sector_counts`).
    chosen : sequence of Sector
        The user's sectors.
    profile : Profile
        ``top_n`` and an explicit ``max_weight``, if any, are honoured; the risk level is not
        read (every level is checked).

    Returns
    -------
    SectorCheck
    """
    n_stocks = sum(counts.get(Sector.parse(s), 0) for s in set(chosen))
    needs = {level: stocks_needed(profile, level) for level in RiskLevel}
    short = tuple(level for level, need in needs.items() if need is not None and need > n_stocks)
    needed = max((need for need in needs.values() if need is not None), default=0)
    others = sorted(
        ((s, c) for s, c in counts.items() if s not in set(chosen) and c > 0),
        key=lambda item: (-item[1], list(Sector).index(item[0])),
    )
    return SectorCheck(n_stocks, needed, short, tuple(others[:3]) if short else ())
