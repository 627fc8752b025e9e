from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smallq.errors import DataFormatError, UnknownSectorError
from smallq.models import COMPANY_COLUMNS
from smallq.types import Sector
from smallq.universe import normalise_companies, sectors_of, tickers_in_sectors


def raw_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["brk.b", " aapl ", "XOM", "ZZZ", "msft"],
            "name": ["Berkshire", "Apple", None, "Mystery", "Microsoft"],
            "sector": ["Financials", "tech", "oil", "crypto", "Information Technology"],
            "market_cap": [8e11, 2.5e12, "4e11", None, np.inf],
            "pe": [9.5, 30.0, "", 12.0, -5.0],
            "extra": [1, 2, 3, 4, 5],
        }
    )


def test_normalise_coerces_to_the_canonical_table() -> None:
    raw = raw_table()
    before = raw.copy()
    companies = normalise_companies(raw)
    pd.testing.assert_frame_equal(raw, before)  # input untouched
    assert tuple(companies.columns) == COMPANY_COLUMNS
    assert companies.index.name == "ticker"
    assert list(companies.index) == ["BRK-B", "AAPL", "XOM", "ZZZ", "MSFT"]
    assert companies.loc["AAPL", "sector"] == "Information Technology"
    assert companies.loc["XOM", "sector"] == "Energy"
    assert companies.loc["XOM", "name"] == "XOM"  # missing name -> ticker
    assert companies.loc["XOM", "market_cap"] == 4e11
    assert np.isnan(companies.loc["XOM", "pe"])  # "" -> NaN
    assert np.isnan(companies.loc["MSFT", "market_cap"])  # inf -> NaN
    assert companies.loc["MSFT", "pe"] == -5.0
    assert companies["pb"].isna().all() and companies["dividend_yield"].isna().all()


def test_unknown_sector_becomes_nan_and_the_company_is_kept() -> None:
    companies = normalise_companies(raw_table())
    assert "ZZZ" in companies.index
    assert pd.isna(companies.loc["ZZZ", "sector"])


def test_old_telecom_sector_is_mapped_to_communication_services() -> None:
    companies = normalise_companies(
        pd.DataFrame({"ticker": ["T"], "sector": ["Telecommunication Services"]})
    )
    assert companies.loc["T", "sector"] == "Communication Services"


def test_normalise_accepts_a_ticker_index_and_is_idempotent() -> None:
    once = normalise_companies(raw_table())
    twice = normalise_companies(once)
    pd.testing.assert_frame_equal(once, twice)


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (pd.DataFrame({"ticker": ["A"], "name": ["x"]}), "sector"),
        (pd.DataFrame({"ticker": ["BRK.B", "brk-b"], "sector": ["Financials"] * 2}), "duplicate"),
        (pd.DataFrame({"ticker": ["A", " "], "sector": ["Energy"] * 2}), "empty ticker"),
        (pd.DataFrame({"ticker": ["A"], "sector": ["Energy"], "pe": ["cheap"]}), "numeric"),
        (pd.DataFrame({"sector": ["Energy"]}), "ticker"),
    ],
)
def test_bad_company_tables_raise(frame: pd.DataFrame, needle: str) -> None:
    with pytest.raises(DataFormatError, match=needle):
        normalise_companies(frame)


def test_sectors_of_groups_in_enum_order_and_skips_unknown() -> None:
    groups = sectors_of(normalise_companies(raw_table()))
    assert groups == {
        Sector.ENERGY: ("XOM",),
        Sector.FINANCIALS: ("BRK-B",),
        Sector.INFORMATION_TECHNOLOGY: ("AAPL", "MSFT"),
    }
    assert list(groups) == [Sector.ENERGY, Sector.FINANCIALS, Sector.INFORMATION_TECHNOLOGY]


def test_tickers_in_sectors_keeps_table_order_and_parses_aliases() -> None:
    companies = normalise_companies(raw_table())
    assert tickers_in_sectors(companies, [Sector.INFORMATION_TECHNOLOGY]) == ("AAPL", "MSFT")
    assert tickers_in_sectors(companies, ["tech", Sector.ENERGY]) == ("AAPL", "XOM", "MSFT")  # type: ignore[list-item]
    assert tickers_in_sectors(companies, []) == ()
    with pytest.raises(UnknownSectorError):
        tickers_in_sectors(companies, ["crypto"])  # type: ignore[list-item]
