"""Acceptance: sector filter + momentum/low-vol ranking on the real 2013-2018 S&P 500 data.

The engine reads ../shared/data through the project's CSV source (:class:`CsvSource` over the
layout built by ``tests/shared_csv.py``); its answer is compared with a pandas-only computation
on the raw shared files (``sp500_5yr_ohlcv_2013-2018.csv.gz`` closes pivoted date x Name, and
the ``Sector`` column of ``sp500_financials_2018-02-08.csv.gz``, which uses pre-2018 names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from smallq.data.csv import CsvSource
from smallq.errors import FundamentalsNotKnownYetError
from smallq.filters import FilterCriteria, apply_filters
from smallq.fundamentals import Fundamentals
from smallq.ranking import rank_stocks
from smallq.types import Sector, Strategy
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

pytestmark = pytest.mark.shared_data

FIRST = date(2013, 2, 8)
AS_OF = date(2018, 2, 7)  # the last day of the OHLCV file
OHLCV = "sp500_5yr_ohlcv_2013-2018.csv.gz"
FINANCIALS = "sp500_financials_2018-02-08.csv.gz"


@dataclass(frozen=True)
class Raw:
    """The reference side, straight from the raw files with pandas."""

    close: pd.DataFrame  # date x Name
    sectors: pd.Series  # Symbol -> pre-2018 GICS sector name


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> Raw:
    ohlcv = pd.read_csv(
        shared_data / OHLCV, parse_dates=["date"], usecols=["date", "close", "Name"]
    )
    close = ohlcv.pivot(index="date", columns="Name", values="close")
    sectors = pd.read_csv(shared_data / FINANCIALS).set_index("Symbol")["Sector"]
    return Raw(close, sectors)


@pytest.fixture(scope="module")
def it_tickers(raw: Raw) -> list[str]:
    """Independent: Information Technology symbols straight from the raw file."""
    return list(raw.sectors.index[raw.sectors == "Information Technology"])


@dataclass(frozen=True)
class Engine:
    """The engine side: CsvSource -> apply_filters -> engine inputs."""

    candidates: tuple[str, ...]
    prices: pd.DataFrame
    companies: pd.DataFrame


@pytest.fixture(scope="module")
def engine(shared_csv_source: CsvSource) -> Engine:  # noqa: F811
    companies = shared_csv_source.fetch_companies()
    criteria = FilterCriteria(sectors=(Sector.INFORMATION_TECHNOLOGY,))
    candidates = apply_filters(companies, criteria).tickers
    prices = shared_csv_source.fetch_prices(candidates, FIRST, AS_OF).close
    return Engine(candidates, prices, companies.loc[list(candidates)])


def yahoo(index: pd.Index) -> list[str]:
    """Raw file symbols in Yahoo style (BRK.B -> BRK-B), for comparison with the engine."""
    return [str(t).replace(".", "-") for t in index]


def test_sector_filter_matches_the_raw_file(engine: Engine, it_tickers: list[str]) -> None:
    assert sorted(engine.candidates) == sorted(yahoo(pd.Index(it_tickers)))
    assert len(engine.candidates) == 70


def test_momentum_ranking_matches_pandas(engine: Engine, raw: Raw, it_tickers: list[str]) -> None:
    ranking = rank_stocks(engine.prices, engine.companies, Strategy.MOMENTUM, AS_OF, top_n=10)
    # pandas only: 12-1 momentum = close(t-21) / close(t-252) - 1 on the raw pivot
    close = raw.close.loc[: pd.Timestamp(AS_OF), it_tickers]
    expected = (close.iloc[-1 - 21] / close.iloc[-1 - 252] - 1).dropna()
    expected = expected.sort_values(ascending=False)
    expected.index = pd.Index(yahoo(expected.index))

    assert ranking.as_of == AS_OF
    assert list(ranking.table.index) == list(expected.index)
    pd.testing.assert_series_equal(
        ranking.table["momentum"], expected, check_names=False, check_index_type=False, rtol=1e-12
    )
    assert ranking.selected == tuple(expected.index[:10])
    dropped = sorted(set(yahoo(pd.Index(it_tickers))) - set(expected.index))
    assert dropped == ["DXC"]  # 215 rows: too short for a 12-month lookback
    assert any("DXC" in note and "not enough price history" in note for note in ranking.notes)


def test_history_filter_removes_what_momentum_cannot_score(
    shared_csv_source: CsvSource,  # noqa: F811
    engine: Engine,
) -> None:
    criteria = FilterCriteria(sectors=(Sector.INFORMATION_TECHNOLOGY,), min_history_days=253)
    companies = shared_csv_source.fetch_companies()
    result = apply_filters(companies, criteria, prices=engine.prices, as_of=AS_OF)
    assert result.removed["DXC"] == "price history"
    assert len(result.tickers) == 69
    kept = list(result.tickers)
    ranking = rank_stocks(
        engine.prices[kept], companies.loc[kept], Strategy.MOMENTUM, AS_OF, top_n=5
    )
    assert ranking.notes == ()
    assert len(ranking.table) == 69


def test_low_volatility_ranking_matches_pandas(
    engine: Engine, raw: Raw, it_tickers: list[str]
) -> None:
    ranking = rank_stocks(engine.prices, engine.companies, Strategy.LOW_VOL, AS_OF, top_n=5)
    close = raw.close.loc[: pd.Timestamp(AS_OF), it_tickers]
    returns = close.pct_change(fill_method=None).iloc[-252:]
    volatility = returns.std(ddof=1) * math.sqrt(252)
    expected = (-volatility[returns.count() >= 126]).sort_values(ascending=False)
    expected.index = pd.Index(yahoo(expected.index))

    assert list(ranking.table.index) == list(expected.index)
    pd.testing.assert_series_equal(
        ranking.table["low_vol"], expected, check_names=False, check_index_type=False, rtol=1e-10
    )


def test_ranking_a_year_earlier_ignores_later_prices(engine: Engine) -> None:
    earlier = date(2017, 2, 7)
    truncated = engine.prices.loc[: pd.Timestamp(earlier)]
    full = rank_stocks(engine.prices, engine.companies, Strategy.COMPOSITE, earlier, top_n=10)
    cut = rank_stocks(truncated, engine.companies, Strategy.COMPOSITE, earlier, top_n=10)
    pd.testing.assert_frame_equal(full.table, cut.table)
    assert full.selected == cut.selected
    assert full.as_of == earlier


def test_value_on_the_real_data_is_refused_before_its_2018_02_08_snapshot(
    shared_csv_source: CsvSource,  # noqa: F811
    engine: Engine,
) -> None:
    fundamentals = shared_csv_source.fetch_fundamentals()
    assert fundamentals.describe() == "a snapshot dated 2018-02-08 (companies.csv)"
    for strategy in (Strategy.VALUE, Strategy.COMPOSITE):
        with pytest.raises(FundamentalsNotKnownYetError) as info:
            rank_stocks(
                engine.prices,
                engine.companies,
                strategy,
                AS_OF,
                top_n=10,
                fundamentals=fundamentals,
            )
        assert "2018-02-07" in info.value.user_message()
        assert "2018-02-08" in info.value.user_message()
    # the same snapshot is used once its date has come (here: dated one day earlier)
    moved = Fundamentals.from_rows(
        fundamentals.history.assign(date=pd.Timestamp(AS_OF)), "companies.csv"
    )
    ranking = rank_stocks(
        engine.prices, engine.companies, Strategy.VALUE, AS_OF, top_n=10, fundamentals=moved
    )
    assert len(ranking.table) >= 68  # 70 IT stocks, a few without any ratio
