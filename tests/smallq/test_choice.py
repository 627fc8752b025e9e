"""Sector counts and whether a sector choice can serve every risk level."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from smallq.choice import check_sector_choice, sector_counts, stocks_needed
from smallq.data.sample import SampleSource
from smallq.profile import make_profile
from smallq.types import RiskLevel, Sector
from smallq.universe import normalise_companies

PROFILE = make_profile(sectors="Energy", capital=10_000)


def test_sector_counts_of_the_sample_match_pandas() -> None:
    companies = normalise_companies(SampleSource().fetch_companies())
    by_pandas = companies["sector"].value_counts()
    counts = sector_counts(companies)
    assert {s.value: n for s, n in counts.items()} == by_pandas.to_dict()
    assert Sector.UTILITIES not in counts  # no stock: left out


@pytest.mark.parametrize("level", list(RiskLevel))
def test_stocks_needed_is_the_cap_rounded_up(level: RiskLevel) -> None:
    assert stocks_needed(PROFILE, level) == 1  # the levels raise their 25% cap to 1/n
    capped = replace(PROFILE, max_weight=0.3)  # n stocks at most 30% each must reach 100%
    assert stocks_needed(capped, level) == math.ceil(1 / 0.3 - 1e-9)


def test_a_small_choice_names_the_short_levels_and_what_to_add() -> None:
    counts = {Sector.ENERGY: 3, Sector.HEALTH_CARE: 5, Sector.FINANCIALS: 2}
    profile = replace(PROFILE, max_weight=0.2)  # an explicit cap: 5 stocks needed
    check = check_sector_choice(counts, [Sector.ENERGY], profile)
    needs = {level: stocks_needed(profile, level) for level in RiskLevel}
    assert check.short_levels == tuple(lv for lv, n in needs.items() if n is not None and n > 3)
    assert not check.ok and check.n_stocks == 3 and check.needed == max(needs.values())
    assert check.suggestions == ((Sector.HEALTH_CARE, 5), (Sector.FINANCIALS, 2))
    assert check_sector_choice(counts, [Sector.ENERGY, Sector.HEALTH_CARE], profile).ok


def test_top_n_below_a_levels_need_does_not_blame_the_sectors() -> None:
    few = make_profile(sectors="Energy", capital=10_000, top_n=5, max_weight=0.15)  # 5 x 15%
    assert stocks_needed(few, RiskLevel.CONSERVATIVE) is None
    check = check_sector_choice({Sector.ENERGY: 40}, [Sector.ENERGY], few)
    assert check.ok


def test_an_explicit_max_weight_is_honoured() -> None:
    wide = make_profile(sectors="Energy", capital=10_000, max_weight=0.5)
    assert check_sector_choice({Sector.ENERGY: 2}, [Sector.ENERGY], wide).ok
