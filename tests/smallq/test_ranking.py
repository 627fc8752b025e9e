"""Ranking numbers are checked against hand computations on a 4-stock, 7-day frame.

Prices (rows are business days 2024-01-01 .. 2024-01-09; the decision day t is 2024-01-05,
row 4; rows 5 and 6 lie after it and must never matter)::

    row   0   1   2   3   4 |  5   6
    A    10  11  12  13  14 |  1   1
    B    20  20  21  18  19 |  1   1
    C    50  40  45  55  60 |  1   1
    D     8   8   8  10   9 |  1   1

With lookback 4 and skip 1, momentum = close(row 3) / close(row 0) - 1:
A 13/10-1 = 0.30, B 18/20-1 = -0.10, C 55/50-1 = 0.10, D 10/8-1 = 0.25.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.errors import (
    FundamentalsMissingError,
    FundamentalsNotKnownYetError,
    InsufficientHistoryError,
    ProfileError,
    TooFewCandidatesError,
)
from smallq.fundamentals import Fundamentals
from smallq.params import DEFAULT_PARAMS
from smallq.ranking import (
    low_volatility,
    momentum,
    rank_stocks,
    value_components,
    value_score,
    winsorize,
    zscore,
)
from smallq.types import Strategy

DATES = pd.bdate_range("2024-01-01", periods=7)
AS_OF = date(2024, 1, 5)
PARAMS = replace(
    DEFAULT_PARAMS, momentum_lookback_days=4, momentum_skip_days=1, low_vol_window_days=3
)
NO_CLIP = replace(PARAMS, winsor_lower=0.0, winsor_upper=1.0)
TOL = 1e-12


@pytest.fixture
def prices() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "A": [10, 11, 12, 13, 14, 1, 1],
            "B": [20, 20, 21, 18, 19, 1, 1],
            "C": [50, 40, 45, 55, 60, 1, 1],
            "D": [8, 8, 8, 10, 9, 1, 1],
        },
        index=DATES,
        dtype="float64",
    )


@pytest.fixture
def companies() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": list("ABCD"),
            "sector": ["Energy", "Energy", "Utilities", "Utilities"],
            "market_cap": [1e9] * 4,
            "pe": [10.0, -20.0, np.nan, 5.0],
            "pb": [1.0, 2.0, 4.0, np.nan],
            "dividend_yield": [0.01, np.nan, 0.03, 0.0],
        },
        index=pd.Index(list("ABCD"), name="ticker"),
    )


@pytest.fixture
def fundamentals(companies: pd.DataFrame) -> Fundamentals:
    """The companies' figures as a snapshot dated three days before the decision."""
    return Fundamentals.from_snapshot(companies, date(2024, 1, 2), "test")


# --------------------------------------------------------------------------- hand numbers
#: winsorised momentum (quantiles of [-0.1, 0.1, 0.25, 0.3] by linear interpolation):
#: q05 at position 0.15 -> -0.1 + 0.15 * 0.2 = -0.07; q95 at 2.85 -> 0.25 + 0.85 * 0.05 = 0.2925
MOM_CLIPPED = {"A": 0.2925, "B": -0.07, "C": 0.10, "D": 0.25}
#: mean 0.143125; squared deviations sum to 0.0810171875 -> population std
MOM_SD = math.sqrt(0.0810171875 / 4)
MOM_Z = {t: (v - 0.143125) / MOM_SD for t, v in MOM_CLIPPED.items()}
#: returns over rows 1..4 for low volatility (window 3)
RETURNS = {
    "A": [1 / 11, 1 / 12, 1 / 13],
    "B": [1 / 20, -3 / 21, 1 / 18],
    "C": [5 / 40, 10 / 45, 5 / 55],
    "D": [0.0, 2 / 8, -1 / 10],
}
LOW_VOL = {t: -statistics.stdev(r) * math.sqrt(252) for t, r in RETURNS.items()}


def hand_z(values: dict[str, float]) -> dict[str, float]:
    mean, sd = statistics.fmean(values.values()), statistics.pstdev(values.values())
    return {t: (v - mean) / sd for t, v in values.items()}


def hand_value() -> dict[str, float]:
    """Unclipped value score: mean over available components of their z-scores."""
    parts = [
        hand_z({"A": 1 / 10, "B": -1 / 20, "D": 1 / 5}),  # earnings yield; C has no P/E
        hand_z({"A": 1 / 1, "B": 1 / 2, "C": 1 / 4}),  # book to price; D has no P/B
        hand_z({"A": 0.01, "C": 0.03, "D": 0.0}),  # dividend yield; B unknown
    ]
    return {t: statistics.fmean(p[t] for p in parts if t in p) for t in "ABCD"}


# --------------------------------------------------------------------------- factors
def test_momentum_matches_hand_numbers(prices: pd.DataFrame) -> None:
    result = momentum(prices, AS_OF, lookback_days=4, skip_days=1)
    expected = pd.Series({"A": 0.30, "B": -0.10, "C": 0.10, "D": 0.25})
    pd.testing.assert_series_equal(result, expected, check_names=False, rtol=TOL, atol=TOL)


def test_momentum_offsets_are_trading_rows_up_to_as_of(prices: pd.DataFrame) -> None:
    # a Saturday: t is still Friday 2024-01-05
    assert momentum(prices, date(2024, 1, 6), lookback_days=4, skip_days=1)["A"] == 13 / 10 - 1
    # one day earlier only 4 rows are visible, and lookback 4 needs 5
    with pytest.raises(InsufficientHistoryError) as info:
        momentum(prices, date(2024, 1, 4), lookback_days=4, skip_days=1)
    assert (info.value.n_observations, info.value.required) == (4, 5)


def test_momentum_is_nan_without_both_prices(prices: pd.DataFrame) -> None:
    gappy = prices.copy()
    gappy.loc[DATES[0], "A"] = np.nan
    gappy.loc[DATES[3], "B"] = np.nan
    result = momentum(gappy, AS_OF, lookback_days=4, skip_days=1)
    assert result[["A", "B"]].isna().all() and result["C"] == pytest.approx(0.1, abs=TOL)


def test_low_volatility_matches_hand_numbers(prices: pd.DataFrame) -> None:
    result = low_volatility(prices, AS_OF, window_days=3)
    for ticker, expected in LOW_VOL.items():
        assert result[ticker] == pytest.approx(expected, rel=TOL)
    with pytest.raises(InsufficientHistoryError):
        low_volatility(prices, date(2024, 1, 3), window_days=3)


def test_winsorize_clips_at_interpolated_quantiles() -> None:
    scores = pd.Series([float(i) for i in range(1, 20)] + [1000.0, np.nan])
    clipped = winsorize(scores, 0.05, 0.95)
    # 20 valid values: q05 at position 0.95 -> 1.95; q95 at position 18.05 -> 19 + 0.05 * 981
    assert clipped.iloc[0] == pytest.approx(1.95, abs=TOL)
    assert clipped.iloc[19] == pytest.approx(68.05, abs=TOL)
    assert clipped.iloc[1:19].tolist() == scores.iloc[1:19].tolist()
    assert np.isnan(clipped.iloc[20])
    with pytest.raises(ProfileError):
        winsorize(scores, 0.9, 0.1)


def test_zscore_uses_population_std_and_handles_constants() -> None:
    z = zscore(pd.Series([1.0, 2.0, 3.0, np.nan]))
    sd = math.sqrt(2 / 3)
    assert z.iloc[:3].tolist() == pytest.approx([-1 / sd, 0.0, 1 / sd], abs=TOL)
    assert np.isnan(z.iloc[3])
    assert zscore(pd.Series([0.1, 0.1, 0.1])).tolist() == [0.0, 0.0, 0.0]


def test_value_score_matches_hand_numbers(companies: pd.DataFrame) -> None:
    result = value_score(companies, lower=0.0, upper=1.0)
    for ticker, expected in hand_value().items():
        assert result[ticker] == pytest.approx(expected, abs=TOL)
    components = value_components(companies)
    assert components.loc["B", "earnings_yield"] == pytest.approx(-0.05)  # negative P/E kept


def test_value_score_without_fundamentals_raises(companies: pd.DataFrame) -> None:
    with pytest.raises(FundamentalsMissingError) as info:
        value_score(companies[["name", "sector"]])
    assert info.value.factor == "value" and info.value.tickers == ("A", "B", "C", "D")


# --------------------------------------------------------------------------- ranking
def test_momentum_ranking_matches_hand_numbers(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    ranking = rank_stocks(prices, companies, Strategy.MOMENTUM, AS_OF, top_n=2, params=PARAMS)
    table = ranking.table
    assert list(table.columns) == ["sector", "score", "rank", "momentum", "momentum_z"]
    assert list(table.index) == ["A", "D", "C", "B"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    assert ranking.selected == ("A", "D")
    assert ranking.as_of == AS_OF
    for ticker in "ABCD":
        assert table.loc[ticker, "score"] == pytest.approx(MOM_Z[ticker], abs=1e-12)
    assert table.loc["C", "sector"] == "Utilities"


def test_composite_is_the_mean_of_factor_z_scores(
    prices: pd.DataFrame, companies: pd.DataFrame, fundamentals: Fundamentals
) -> None:
    ranking = rank_stocks(
        prices,
        companies,
        Strategy.COMPOSITE,
        AS_OF,
        top_n=4,
        fundamentals=fundamentals,
        params=NO_CLIP,
    )
    mom = hand_z({"A": 0.30, "B": -0.10, "C": 0.10, "D": 0.25})
    val = hand_z(hand_value())
    vol = hand_z(LOW_VOL)
    table = ranking.table
    for ticker in "ABCD":
        expected = (mom[ticker] + val[ticker] + vol[ticker]) / 3
        assert table.loc[ticker, "score"] == pytest.approx(expected, abs=1e-12)
        assert table.loc[ticker, "value_z"] == pytest.approx(val[ticker], abs=1e-12)
    assert list(table.index) == sorted("ABCD", key=lambda t: -table.loc[t, "score"])
    assert any("Value uses only the fundamentals" in n for n in ranking.notes)


def test_composite_without_fundamentals_leaves_value_out(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    bare = companies[["name", "sector"]]
    ranking = rank_stocks(prices, bare, Strategy.COMPOSITE, AS_OF, top_n=2, params=NO_CLIP)
    assert "value" not in ranking.table.columns
    assert any("Value was left out" in n for n in ranking.notes)
    mom = hand_z({"A": 0.30, "B": -0.10, "C": 0.10, "D": 0.25})
    vol = hand_z(LOW_VOL)
    assert ranking.table.loc["B", "score"] == pytest.approx((mom["B"] + vol["B"]) / 2, abs=1e-12)
    with pytest.raises(FundamentalsMissingError):
        rank_stocks(prices, bare, Strategy.VALUE, AS_OF, top_n=2, params=PARAMS)


def test_ties_at_the_clip_are_broken_by_the_raw_value() -> None:
    # 21 stocks with momentum 0%, 1%, ..., 20%; q95 is exactly the 19% stock, so the 20% stock
    # is clipped to the same score (likewise 0% and 1% at q05). Ticker order would put S19
    # before S20 and S00 before S01: the raw value must decide instead.
    names = [f"S{k:02d}" for k in range(21)]  # S00 has momentum 0%, S20 has 20%
    rows = {n: [100.0, 100.0, 100.0, 100.0 + k, 100.0 + k] for k, n in enumerate(names)}
    frame = pd.DataFrame(rows, index=DATES[:5])
    companies = pd.DataFrame({"sector": ["Energy"] * 21}, index=pd.Index(names, name="ticker"))
    ranking = rank_stocks(frame, companies, Strategy.MOMENTUM, AS_OF, top_n=3, params=PARAMS)
    assert ranking.table.loc["S20", "score"] == ranking.table.loc["S19", "score"]
    assert ranking.table.loc["S00", "score"] == ranking.table.loc["S01", "score"]
    assert list(ranking.table.index) == names[::-1]
    assert ranking.selected == ("S20", "S19", "S18")


def test_per_sector_selection(prices: pd.DataFrame, companies: pd.DataFrame) -> None:
    extra = prices.assign(E=[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0])  # momentum 100%, no company row
    overall = rank_stocks(extra, companies, Strategy.MOMENTUM, AS_OF, top_n=1, params=PARAMS)
    assert overall.selected == ("E",)
    ranking = rank_stocks(
        extra, companies, Strategy.MOMENTUM, AS_OF, top_n=1, per_sector=True, params=PARAMS
    )
    assert ranking.selected == ("E", "A", "D")  # E alone in the no-sector group
    two = rank_stocks(
        prices, companies, Strategy.LOW_VOL, AS_OF, top_n=2, per_sector=True, params=PARAMS
    )
    by_vol = sorted("ABCD", key=lambda t: -LOW_VOL[t])  # A, C, B, D
    assert two.selected == tuple(by_vol)


def test_prices_after_as_of_do_not_change_the_ranking(
    prices: pd.DataFrame, companies: pd.DataFrame, fundamentals: Fundamentals
) -> None:
    before = rank_stocks(
        prices,
        companies,
        Strategy.COMPOSITE,
        AS_OF,
        top_n=2,
        fundamentals=fundamentals,
        params=PARAMS,
    )
    future = prices.copy()
    future.iloc[5:] = [[1e6, 1e-6, 5.0, 3.0], [2e6, 1e-5, 1.0, 9.0]]
    after = rank_stocks(
        future,
        companies,
        Strategy.COMPOSITE,
        AS_OF,
        top_n=2,
        fundamentals=fundamentals,
        params=PARAMS,
    )
    pd.testing.assert_frame_equal(before.table, after.table)
    assert before.selected == after.selected
    # sanity: the future rows do matter once they are in the past
    later = rank_stocks(
        future,
        companies,
        Strategy.COMPOSITE,
        DATES[-1].date(),
        top_n=2,
        fundamentals=fundamentals,
        params=PARAMS,
    )
    assert not later.table["score"].equals(before.table["score"])


def test_unscorable_tickers_are_left_out_with_a_note(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    frame = prices.assign(NEW=[np.nan, np.nan, 5.0, 5.0, 5.0, 5.0, 5.0], LATE=np.nan)
    frame.loc[DATES[5] :, "LATE"] = 3.0  # lists after the decision date
    ranking = rank_stocks(frame, companies, Strategy.MOMENTUM, AS_OF, top_n=4, params=PARAMS)
    assert list(ranking.table.index) == ["A", "D", "C", "B"]
    assert any("LATE" in n and "no price" in n for n in ranking.notes)
    assert any("NEW" in n and "not enough price history" in n for n in ranking.notes)
    only_new = frame[["NEW"]]
    with pytest.raises(TooFewCandidatesError):
        rank_stocks(only_new, companies, Strategy.MOMENTUM, AS_OF, top_n=1, params=PARAMS)


def test_value_strategy_drops_stocks_without_fundamentals(
    prices: pd.DataFrame, companies: pd.DataFrame, fundamentals: Fundamentals
) -> None:
    extra = prices.assign(E=5.0)
    ranking = rank_stocks(
        extra, companies, Strategy.VALUE, AS_OF, top_n=2, fundamentals=fundamentals, params=NO_CLIP
    )
    assert "E" not in ranking.table.index
    assert any("E" in n and "no fundamentals" in n for n in ranking.notes)
    expected = hand_z(hand_value())  # value_z re-standardises the value score
    for ticker in "ABCD":
        assert ranking.table.loc[ticker, "score"] == pytest.approx(expected[ticker], abs=1e-12)


def test_bad_arguments_and_short_history(prices: pd.DataFrame, companies: pd.DataFrame) -> None:
    with pytest.raises(ProfileError):
        rank_stocks(prices, companies, Strategy.MOMENTUM, AS_OF, top_n=0, params=PARAMS)
    with pytest.raises(InsufficientHistoryError):
        rank_stocks(prices, companies, Strategy.MOMENTUM, AS_OF, top_n=2)  # needs 253 rows


def test_inputs_are_not_mutated(
    prices: pd.DataFrame, companies: pd.DataFrame, fundamentals: Fundamentals
) -> None:
    copies = prices.copy(), companies.copy()
    rank_stocks(
        prices,
        companies,
        Strategy.COMPOSITE,
        AS_OF,
        top_n=2,
        fundamentals=fundamentals,
        params=PARAMS,
    )
    pd.testing.assert_frame_equal(prices, copies[0])
    pd.testing.assert_frame_equal(companies, copies[1])


# --------------------------------------------------------------------------- point in time
def _history(first: pd.DataFrame, later: pd.DataFrame) -> Fundamentals:
    """Rows dated 2024-01-02 (before the decision) and 2024-01-08 (after it)."""
    rows = [
        frame.reset_index().assign(date=pd.Timestamp(day))
        for frame, day in ((first, "2024-01-02"), (later, "2024-01-08"))
    ]
    return Fundamentals.from_rows(pd.concat(rows, ignore_index=True), "history")


def test_changing_fundamentals_dated_after_d_changes_nothing_at_d(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    rng = np.random.default_rng(9)
    figures = ["market_cap", "pe", "pb", "dividend_yield"]
    tables = []
    for _ in range(2):
        later = companies.copy()
        later[figures] = rng.uniform(0.01, 0.9, size=(4, 4))
        history = _history(companies, later)
        tables.append(
            rank_stocks(
                prices,
                companies[["name", "sector"]],
                Strategy.VALUE,
                AS_OF,
                top_n=2,
                fundamentals=history,
                params=NO_CLIP,
            ).table
        )
    pd.testing.assert_frame_equal(tables[0], tables[1])
    expected = hand_z(hand_value())  # the rows dated 2024-01-02, by hand
    for ticker in "ABCD":
        assert tables[0].loc[ticker, "score"] == pytest.approx(expected[ticker], abs=TOL)
    # the later rows are used once their date is in the past (the test can fail)
    on_the_8th = rank_stocks(
        prices,
        companies,
        Strategy.VALUE,
        DATES[5].date(),
        top_n=2,
        fundamentals=history,
        params=NO_CLIP,
    )
    assert not on_the_8th.table["score"].sort_index().equals(tables[1]["score"].sort_index())


def test_the_latest_row_is_taken_whole(companies: pd.DataFrame) -> None:
    later = companies.copy()
    later.loc["A", "pe"] = np.nan  # earnings turned negative: no P/E, not the old one
    known = _history(companies, later).as_of(date(2024, 1, 8))
    assert np.isnan(known.loc["A", "pe"]) and known.loc["A", "pb"] == 1.0
    assert known.loc["B", "date"] == pd.Timestamp("2024-01-08")
    assert _history(companies, later).as_of(date(2024, 1, 1)).empty


@pytest.mark.parametrize("strategy", [Strategy.VALUE, Strategy.COMPOSITE])
def test_value_and_composite_before_the_snapshot_are_refused(
    prices: pd.DataFrame, companies: pd.DataFrame, strategy: Strategy
) -> None:
    snapshot = Fundamentals.from_snapshot(companies, date(2024, 1, 8), "companies.csv")
    with pytest.raises(FundamentalsNotKnownYetError) as info:
        rank_stocks(
            prices, companies, strategy, AS_OF, top_n=2, fundamentals=snapshot, params=PARAMS
        )
    message = info.value.user_message()
    assert "2024-01-05" in message and "2024-01-08" in message
    assert "momentum or low volatility" in message
    assert info.value.first_date == date(2024, 1, 8)


def test_an_undated_snapshot_is_never_ranked_on(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    undated = Fundamentals.from_snapshot(companies, None, "companies.csv")
    with pytest.raises(FundamentalsNotKnownYetError) as info:
        rank_stocks(
            prices,
            companies,
            Strategy.VALUE,
            DATES[-1].date(),
            top_n=2,
            fundamentals=undated,
            params=PARAMS,
        )
    assert "undated snapshot (companies.csv)" in info.value.user_message()


def test_the_company_tables_own_figures_are_never_ranked_on(
    prices: pd.DataFrame, companies: pd.DataFrame
) -> None:
    # the defect: an undated table's P/E was scored at any date
    with pytest.raises(FundamentalsMissingError):
        rank_stocks(prices, companies, Strategy.VALUE, AS_OF, top_n=2, params=PARAMS)
