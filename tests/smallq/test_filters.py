from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.errors import ProfileError, TooFewCandidatesError
from smallq.filters import FilterCriteria, FilterResult, apply_filters
from smallq.types import Sector
from smallq.universe import normalise_companies

AS_OF = date(2024, 1, 10)  # the 8th business day of DATES; two rows come after it
DATES = pd.bdate_range("2024-01-01", periods=10)


@pytest.fixture
def companies() -> pd.DataFrame:
    return normalise_companies(
        pd.DataFrame(
            {
                "ticker": ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"],
                "sector": ["tech", "tech", "Energy", "Energy", "Utilities", "Utilities"],
                "market_cap": [5e9, 50e9, 1e9, 200e9, np.nan, 20e9],
            }
        )
    )


@pytest.fixture
def prices() -> pd.DataFrame:
    frame = pd.DataFrame(10.0, index=DATES, columns=["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"])
    frame.loc[: DATES[3], "CCC"] = np.nan  # CCC: 4 of the 8 rows up to AS_OF are prices
    frame.loc[: DATES[6], "FFF"] = np.nan  # FFF: 1 row up to AS_OF, 3 in total
    return frame


@pytest.fixture
def volume(prices: pd.DataFrame) -> pd.DataFrame:
    shares = pd.DataFrame(1000.0, index=DATES, columns=prices.columns)
    shares["BBB"] = [100.0 * (i + 1) for i in range(10)]  # 100 .. 1000 shares
    return shares.drop(columns="EEE")  # EEE's volume is unknown


def run(companies: pd.DataFrame, **criteria: object) -> FilterResult:
    return apply_filters(companies, FilterCriteria(**criteria))  # type: ignore[arg-type]


def test_no_criteria_keeps_everything_in_table_order(companies: pd.DataFrame) -> None:
    result = run(companies)
    assert result.tickers == ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
    assert result.notes == () and dict(result.removed) == {}


def test_sector_filter(companies: pd.DataFrame) -> None:
    result = run(companies, sectors=(Sector.INFORMATION_TECHNOLOGY, Sector.ENERGY))
    assert result.tickers == ("AAA", "BBB", "CCC", "DDD")
    assert dict(result.removed) == {"EEE": "sector", "FFF": "sector"}


def test_sector_filter_too_few_names_the_filter(companies: pd.DataFrame) -> None:
    with pytest.raises(TooFewCandidatesError) as info:
        run(companies, sectors=(Sector.MATERIALS,))
    error = info.value
    assert (error.filter_name, error.remaining, error.required) == ("sector", 0, 2)
    assert "Choose more sectors" in error.user_message()


def test_market_cap_band_is_inclusive_and_nan_cap_fails(companies: pd.DataFrame) -> None:
    result = run(companies, min_market_cap=5e9, max_market_cap=50e9)
    assert result.tickers == ("AAA", "BBB", "FFF")
    assert result.removed["CCC"] == result.removed["EEE"] == "market cap"
    assert any("without a market cap" in n and "EEE" in n for n in result.notes)


@pytest.mark.parametrize(
    ("criteria", "hint"),
    [
        ({"min_market_cap": 100e9}, "Lower the minimum market cap"),
        ({"max_market_cap": 2e9}, "Raise the maximum market cap"),
    ],
)
def test_market_cap_too_few(companies: pd.DataFrame, criteria: dict[str, float], hint: str) -> None:
    with pytest.raises(TooFewCandidatesError) as info:
        run(companies, **criteria)
    assert info.value.filter_name == "market cap"
    assert info.value.remaining == 1
    assert hint in info.value.hint


def test_history_counts_only_rows_up_to_as_of(
    companies: pd.DataFrame, prices: pd.DataFrame
) -> None:
    criteria = FilterCriteria(min_history_days=4)
    result = apply_filters(companies, criteria, prices=prices, as_of=AS_OF)
    assert result.tickers == ("AAA", "BBB", "CCC", "DDD", "EEE")
    assert dict(result.removed) == {"FFF": "price history"}
    # with every row FFF has only 3 prices, CCC 6; a threshold of 5 drops FFF only
    everything = apply_filters(companies, FilterCriteria(min_history_days=5), prices=prices)
    assert dict(everything.removed) == {"FFF": "price history"}
    # point in time: by AS_OF CCC has 4 prices, so 5 drops it too
    pit = apply_filters(companies, FilterCriteria(min_history_days=5), prices=prices, as_of=AS_OF)
    assert dict(pit.removed) == {"CCC": "price history", "FFF": "price history"}


def test_history_too_few_and_missing_prices(companies: pd.DataFrame, prices: pd.DataFrame) -> None:
    with pytest.raises(TooFewCandidatesError) as info:
        apply_filters(companies, FilterCriteria(min_history_days=9), prices=prices, as_of=AS_OF)
    assert info.value.filter_name == "price history"
    assert "Lower the minimum history" in info.value.hint
    skipped = apply_filters(companies, FilterCriteria(min_history_days=9))
    assert len(skipped.tickers) == 6 and any("minimum-history" in n for n in skipped.notes)


def test_dollar_volume_uses_the_last_window_up_to_as_of(
    companies: pd.DataFrame, prices: pd.DataFrame, volume: pd.DataFrame
) -> None:
    # BBB, last 3 rows up to AS_OF (rows 6, 7, 8): 10 * (600 + 700 + 800) / 3 = 7000 USD/day;
    # everyone else trades 10 * 1000 = 10000 USD/day. Rows after AS_OF (900, 1000) are unseen.
    criteria = FilterCriteria(min_dollar_volume=7000.0, dollar_volume_window_days=3)
    kept = apply_filters(companies, criteria, prices=prices, volume=volume, as_of=AS_OF)
    assert "BBB" in kept.tickers
    criteria = FilterCriteria(min_dollar_volume=7000.01, dollar_volume_window_days=3)
    dropped = apply_filters(companies, criteria, prices=prices, volume=volume, as_of=AS_OF)
    assert dict(dropped.removed) == {"BBB": "dollar volume"}
    assert "EEE" in dropped.tickers  # unknown volume: kept, with a note
    assert any("Volume is unknown for EEE" in n for n in dropped.notes)
    # with the rows after AS_OF visible BBB averages (800 + 900 + 1000) / 3 * 10 = 9000
    future = apply_filters(companies, criteria, prices=prices, volume=volume)
    assert "BBB" in future.tickers


def test_dollar_volume_skipped_without_volume_and_too_few(
    companies: pd.DataFrame, prices: pd.DataFrame, volume: pd.DataFrame
) -> None:
    skipped = apply_filters(companies, FilterCriteria(min_dollar_volume=1e12), prices=prices)
    assert len(skipped.tickers) == 6
    assert any("dollar-volume filter was skipped" in n for n in skipped.notes)
    with pytest.raises(TooFewCandidatesError) as info:
        apply_filters(
            companies, FilterCriteria(min_dollar_volume=1e6), prices=prices, volume=volume
        )
    assert info.value.filter_name == "dollar volume"
    assert info.value.remaining == 1  # only EEE, whose volume is unknown
    assert "Lower the minimum dollar volume" in info.value.hint


def test_exclude_and_include(companies: pd.DataFrame) -> None:
    result = run(
        companies,
        sectors=(Sector.ENERGY, Sector.UTILITIES),
        exclude=("ddd",),
        include=("AAA", "NOPE"),
    )
    assert result.tickers == ("AAA", "CCC", "EEE", "FFF")  # table order
    assert "AAA" not in result.removed
    assert result.removed["BBB"] == "sector" and result.removed["DDD"] == "exclude"
    assert any("NOPE" in n and "Ignored include" in n for n in result.notes)
    assert any("AAA (sector)" in n for n in result.notes)


def test_include_from_prices_only_is_appended(
    companies: pd.DataFrame, prices: pd.DataFrame
) -> None:
    extra = prices.assign(GGG=1.0)
    result = apply_filters(companies, FilterCriteria(include=("GGG",)), prices=extra)
    assert result.tickers[-1] == "GGG"


def test_includes_count_towards_the_minimum(companies: pd.DataFrame) -> None:
    result = run(companies, sectors=(Sector.MATERIALS,), include=("AAA", "BBB"))
    assert result.tickers == ("AAA", "BBB")
    with pytest.raises(TooFewCandidatesError) as info:
        run(companies, sectors=(Sector.MATERIALS,), include=("AAA",))
    assert (info.value.filter_name, info.value.remaining) == ("sector", 1)


def test_exclude_leaving_too_few_raises(companies: pd.DataFrame) -> None:
    with pytest.raises(TooFewCandidatesError) as info:
        run(companies, sectors=(Sector.ENERGY,), exclude=("CCC",))
    assert info.value.filter_name == "exclude"


def test_too_small_universe_raises(companies: pd.DataFrame) -> None:
    with pytest.raises(TooFewCandidatesError) as info:
        run(companies.iloc[:1])
    assert info.value.filter_name == "universe"


@pytest.mark.parametrize(
    "criteria",
    [
        {"include": ("AAA",), "exclude": ("aaa",)},
        {"min_market_cap": 10.0, "max_market_cap": 1.0},
        {"min_count": 0},
    ],
)
def test_inconsistent_criteria_raise(criteria: dict[str, object]) -> None:
    with pytest.raises(ProfileError):
        FilterCriteria(**criteria)  # type: ignore[arg-type]


def test_inputs_are_not_mutated(
    companies: pd.DataFrame, prices: pd.DataFrame, volume: pd.DataFrame
) -> None:
    copies = companies.copy(), prices.copy(), volume.copy()
    apply_filters(
        companies,
        FilterCriteria(min_market_cap=1.0, min_history_days=1, min_dollar_volume=1.0),
        prices=prices,
        volume=volume,
        as_of=AS_OF,
    )
    for original, copy in zip((companies, prices, volume), copies, strict=True):
        pd.testing.assert_frame_equal(original, copy)
