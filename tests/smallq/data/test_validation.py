from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smallq.data.csv import CsvSource
from smallq.data.validation import (
    align_calendar,
    clean_prices,
    company_table,
    normalise_index,
    normalise_ticker,
    require_history,
    unconfirmed_moves,
)
from smallq.errors import DataUnavailableError, InsufficientHistoryError
from smallq.models import COMPANY_COLUMNS, PriceData
from smallq.params import DEFAULT_PARAMS

DATES = pd.bdate_range("2024-01-01", periods=6)


def closes(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame(columns, index=DATES[: len(next(iter(columns.values())))])


# --------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("BRK.B", "BRK-B"), ("brk/b", "BRK-B"), (" aapl ", "AAPL"), ("BF-B", "BF-B")],
)
def test_normalise_ticker_uses_yahoo_class_shares(raw: str, expected: str) -> None:
    assert normalise_ticker(raw) == expected


def test_normalise_ticker_keeps_exchange_suffixes() -> None:
    assert normalise_ticker("VOW3.DE") == "VOW3.DE"


def test_normalise_index_keeps_the_local_trading_day() -> None:
    aware = pd.DatetimeIndex(["2024-03-01 16:00", "2024-03-04 16:00"]).tz_localize(
        "America/New_York"
    )
    result = normalise_index(aware)
    assert result.tz is None
    assert list(result) == [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-04")]
    assert result.name == "date"


def test_company_table_adds_missing_columns() -> None:
    table = company_table(pd.DataFrame({"pe": ["12.5", "n/a"]}, index=["brk.b", "AAPL"]))
    assert list(table.columns) == list(COMPANY_COLUMNS)
    assert list(table.index) == ["BRK-B", "AAPL"]
    assert table.loc["BRK-B", "name"] == "BRK-B"
    assert table.loc["BRK-B", "pe"] == 12.5
    assert np.isnan(table.loc["AAPL", "pe"])
    assert table["sector"].isna().all()


# --------------------------------------------------------------------------- spikes
def test_round_trip_spike_is_replaced_by_previous_close() -> None:
    data = PriceData(close=closes(A=[100.0, 101.0, 150.0, 100.5, 101.0], B=[10.0] * 5))
    cleaned = clean_prices(data)
    assert cleaned.close["A"].tolist() == [100.0, 101.0, 101.0, 100.5, 101.0]
    assert cleaned.close["B"].tolist() == [10.0] * 5
    assert len(cleaned.notes) == 1
    assert "A:" in cleaned.notes[0] and "2024-01-03" in cleaned.notes[0]


def test_downward_round_trip_is_repaired() -> None:
    cleaned = clean_prices(PriceData(close=closes(A=[100.0, 50.0, 99.0, 98.0])))
    assert cleaned.close["A"].tolist() == [100.0, 100.0, 99.0, 98.0]


def test_jump_that_does_not_reverse_is_kept() -> None:
    # a spin-off: -57% and the price stays there
    raw = closes(A=[66.29, 66.0, 28.57, 28.60, 28.45])
    cleaned = clean_prices(PriceData(close=raw))
    pd.testing.assert_frame_equal(cleaned.close, raw, check_freq=False, check_names=False)
    assert cleaned.notes == ()


def test_partial_reversal_is_not_a_spike() -> None:
    raw = closes(A=[100.0, 150.0, 120.0, 121.0])  # +50% then -20%: not back to 100
    assert clean_prices(PriceData(close=raw)).close["A"].tolist() == raw["A"].tolist()


def test_spike_threshold_comes_from_params() -> None:
    # +18% and back is below the default 20% threshold; +21% is above it
    below = closes(A=[100.0, 118.0, 100.0, 100.0])
    above = closes(A=[100.0, 121.0, 100.0, 100.0])
    assert clean_prices(PriceData(close=below)).close["A"].iloc[1] == 118.0
    assert clean_prices(PriceData(close=above)).close["A"].iloc[1] == 100.0
    loose = dataclasses.replace(DEFAULT_PARAMS, spike_threshold=0.5)
    assert clean_prices(PriceData(close=above), loose).close["A"].iloc[1] == 121.0


@pytest.mark.parametrize(
    ("move_in", "move_out"),
    [(0.26, -0.20), (0.345, -0.25), (-0.20, 0.25), (-0.25, 0.333), (0.20, -1 / 6), (0.60, -0.375)],
)
def test_one_day_round_trips_of_20_to_35_percent_are_bad_prints(
    move_in: float, move_out: float
) -> None:
    spike = 100.0 * (1 + move_in)
    after = spike * (1 + move_out)
    cleaned = clean_prices(PriceData(close=closes(A=[100.0, 100.0, spike, after, after])))
    assert cleaned.close["A"].iloc[2] == 100.0
    assert any("one-day spike" in n for n in cleaned.notes)


@pytest.mark.parametrize(
    "path",
    [
        [100.0, 100.0, 119.0, 100.0, 100.0],  # +19% and back: below the 20% threshold
        [100.0, 100.0, 162.0, 150.0, 151.0],  # VRTX-like +62% that stays (-7% the next day)
        [100.0, 100.0, 152.0, 145.0, 146.0],  # AMD-like +52% that stays
        [100.0, 100.0, 126.0, 112.0, 112.0],  # +26% then -11%: back only halfway
    ],
)
def test_one_way_moves_and_small_round_trips_are_kept(path: list[float]) -> None:
    raw = closes(A=path)
    cleaned = clean_prices(PriceData(close=raw))
    assert cleaned.close["A"].tolist() == path
    assert cleaned.notes == ()


def test_the_last_row_is_never_a_spike_and_its_move_is_unconfirmed() -> None:
    raw = closes(A=[100.0, 101.0, 130.0], B=[50.0, 50.5, 51.0], C=[20.0, 20.0, 15.0])
    cleaned = clean_prices(PriceData(close=raw))
    pd.testing.assert_frame_equal(cleaned.close, raw, check_freq=False, check_names=False)
    tickers, notes = unconfirmed_moves(cleaned.close)
    assert tickers == ("A", "C")  # +28.7% and -25%; B moved +1%
    assert "2024-01-03" in notes[0] and "+28.7%" in notes[0] and "left out" in notes[0]


def test_unconfirmed_moves_use_the_previous_valid_close() -> None:
    raw = closes(A=[100.0, np.nan, 125.0], B=[100.0, 100.0, 119.0])
    assert unconfirmed_moves(raw)[0] == ("A",)


def test_spike_across_a_missing_day_uses_neighbouring_valid_closes() -> None:
    raw = closes(A=[100.0, np.nan, 200.0, 100.0, 101.0])
    cleaned = clean_prices(PriceData(close=raw))
    assert cleaned.close["A"].iloc[2] == 100.0
    assert np.isnan(cleaned.close["A"].iloc[1])  # a genuine gap is left to align_calendar


# --------------------------------------------------------------------------- non-positive
def test_non_positive_and_infinite_closes_are_replaced() -> None:
    raw = closes(A=[10.0, 0.0, 11.0, -3.0, np.inf, 12.0])
    cleaned = clean_prices(PriceData(close=raw))
    assert cleaned.close["A"].tolist() == [10.0, 10.0, 11.0, 11.0, 11.0, 12.0]
    assert "non-positive close" in cleaned.notes[0]


def test_leading_bad_print_has_no_previous_close_and_stays_missing() -> None:
    cleaned = clean_prices(PriceData(close=closes(A=[-1.0, 10.0, 11.0], B=[1.0, 1.0, 1.0])))
    assert np.isnan(cleaned.close["A"].iloc[0])
    assert cleaned.close["A"].iloc[1:].tolist() == [10.0, 11.0]


def test_ticker_without_valid_prices_is_dropped_with_a_note() -> None:
    cleaned = clean_prices(PriceData(close=closes(A=[1.0, 1.1], B=[np.nan, np.nan])))
    assert list(cleaned.close.columns) == ["A"]
    assert any(n.startswith("B: no valid prices") for n in cleaned.notes)


# --------------------------------------------------------------------------- OHLC
def ohlc(close: list[float], high: list[float], low: list[float], opens: list[float]) -> PriceData:
    return PriceData(
        close=closes(A=close), high=closes(A=high), low=closes(A=low), open=closes(A=opens)
    )


def test_close_outside_range_that_comes_back_is_a_bad_print() -> None:
    # the LNT 2016-05-19 pattern: close 17.87 while the day traded 35.085-35.785
    data = ohlc(
        close=[35.99, 35.35, 17.87, 35.91],
        high=[36.2, 35.9, 35.785, 36.0],
        low=[35.5, 35.2, 35.085, 35.4],
        opens=[35.6, 35.8, 35.19, 35.5],
    )
    cleaned = clean_prices(data)
    assert cleaned.close["A"].tolist() == [35.99, 35.35, 35.35, 35.91]
    assert cleaned.high is not None and np.isnan(cleaned.high["A"].iloc[2])
    assert any("back inside it the next day" in n for n in cleaned.notes)


def test_close_outside_a_stale_range_on_a_spin_off_day_is_kept() -> None:
    # the SPG 2014-05-28 pattern: the close is right, high/low are pre-spin-off
    data = ohlc(
        close=[176.55, 165.42, 165.29],
        high=[176.61, 176.60, 165.90],
        low=[174.74, 174.50, 164.37],
        opens=[175.74, 176.23, 165.78],
    )
    cleaned = clean_prices(data)
    assert cleaned.close["A"].tolist() == [176.55, 165.42, 165.29]
    assert cleaned.high is not None and cleaned.low is not None
    assert np.isnan(cleaned.high["A"].iloc[1]) and np.isnan(cleaned.low["A"].iloc[1])
    assert any("range ignored" in n for n in cleaned.notes)


def test_high_below_low_and_bad_open_are_ignored_not_the_close() -> None:
    data = ohlc(
        close=[23.9, 24.445, 24.09],
        high=[23.93, 23.595, 24.415],
        low=[23.665, 23.85, 24.015],
        opens=[23.7, 23.89, 50.0],
    )
    cleaned = clean_prices(data)
    assert cleaned.close["A"].tolist() == [23.9, 24.445, 24.09]
    assert cleaned.high is not None and cleaned.open is not None
    assert np.isnan(cleaned.high["A"].iloc[1])
    assert np.isnan(cleaned.open["A"].iloc[2]) and cleaned.open["A"].iloc[0] == 23.7
    assert any("high below low" in n for n in cleaned.notes)


def test_close_within_tolerance_of_the_range_is_not_flagged() -> None:
    data = ohlc(
        close=[10.0, 9.95, 10.0], high=[10.1, 10.1, 10.1], low=[10.0, 10.0, 9.9], opens=[10] * 3
    )
    cleaned = clean_prices(data)  # 9.95 is 0.5% below the low: within the 1% tolerance
    assert cleaned.notes == ()
    assert cleaned.low is not None and cleaned.low["A"].iloc[1] == 10.0


def test_clean_prices_does_not_mutate_and_keeps_earlier_notes() -> None:
    raw = closes(A=[100.0, 200.0, 100.0])
    data = PriceData(close=raw, notes=("from source",))
    before = raw.copy()
    cleaned = clean_prices(data)
    pd.testing.assert_frame_equal(raw, before)
    assert cleaned.notes[0] == "from source" and len(cleaned.notes) == 2


def test_duplicate_dates_keep_the_last_row() -> None:
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-02"])
    cleaned = clean_prices(PriceData(close=pd.DataFrame({"A": [1.0, 2.0, 2.1]}, index=index)))
    assert cleaned.close["A"].tolist() == [1.0, 2.1]
    assert "duplicate" in cleaned.notes[0]


# --------------------------------------------------------------------------- calendar
def test_align_calendar_intersects_dates_and_fills_interior_gaps() -> None:
    index = pd.bdate_range("2024-01-01", periods=6)
    prices = pd.DataFrame(
        {
            "A": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],  # interior gap -> filled
            "B": [np.nan, np.nan, 3.0, 3.0, 3.0, 3.0],  # listed later -> stays NaN
            "C": [1.0, 1.0, 1.0, 1.0, np.nan, np.nan],  # delisted -> stays NaN
        },
        index=index,
    )
    bench = pd.Series([10.0, 11, 12, 13, 14, 15, 16], index=pd.bdate_range("2024-01-02", periods=7))
    aligned, bench_out, notes = align_calendar(prices, bench.rename("SP500"), max_stale_days=1)
    assert list(aligned.index) == list(index[1:])
    assert aligned["A"].tolist() == [1.0, 3.0, 4.0, 5.0, 6.0]  # Jan 2 gets Jan 1's close
    assert aligned["B"].isna().sum() == 1 and aligned["C"].isna().sum() == 2
    assert bench_out.name == "SP500" and bench_out.tolist() == [10.0, 11, 12, 13, 14]
    assert any("price date(s) without a benchmark level dropped" in n for n in notes)


def test_align_calendar_fills_a_gap_with_the_previous_close() -> None:
    index = pd.bdate_range("2024-01-01", periods=4)
    prices = pd.DataFrame({"A": [1.0, np.nan, np.nan, 4.0]}, index=index)
    aligned, _, notes = align_calendar(prices, pd.Series(1.0, index=index))
    assert aligned["A"].tolist() == [1.0, 1.0, 1.0, 4.0]
    assert notes == ("A: 2 missing day(s) filled with the previous close",)


def test_align_calendar_without_common_dates_raises() -> None:
    prices = pd.DataFrame({"A": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"]))
    bench = pd.Series([1.0], index=pd.DatetimeIndex(["2025-01-01"]), name="SP500")
    with pytest.raises(DataUnavailableError) as info:
        align_calendar(prices, bench)
    assert info.value.tickers == ("SP500",)


# --------------------------------------------------------------------------- history
def test_require_history_drops_short_tickers() -> None:
    prices = pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": [np.nan, np.nan, 1.0]}, index=DATES[:3])
    kept, notes = require_history(prices, 2)
    assert list(kept.columns) == ["A"]
    assert notes == ("B: only 1 days of prices, 2 needed; dropped",)


def test_require_history_raises_when_nothing_is_left() -> None:
    prices = pd.DataFrame({"A": [1.0, 2.0], "B": [np.nan, 1.0]}, index=DATES[:2])
    with pytest.raises(InsufficientHistoryError) as info:
        require_history(prices, 5)
    assert (info.value.n_observations, info.value.required) == (2, 5)


# --------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_real_bad_prints_are_repaired_and_spin_offs_kept(shared_csv_source: CsvSource) -> None:
    raw = shared_csv_source.fetch_prices(
        ["LNT", "EBAY", "NWL", "SPG", "BAX", "NI", "AAPL", "VRTX", "AMD", "FLR", "MPC", "MRO"],
        pd.Timestamp("2013-01-01").date(),
        pd.Timestamp("2018-12-31").date(),
    )
    cleaned = clean_prices(raw)
    close, before = cleaned.close, raw.close
    # LNT 2016-05-19: close 17.87 against a low of 35.085 -> previous close 35.35
    assert before.loc["2016-05-19", "LNT"] == 17.87
    assert close.loc["2016-05-19", "LNT"] == before.loc["2016-05-18", "LNT"] == 35.35
    # 2017-09-14: whole OHLC rows from another level, undone the next day (NWL -30%, FLR +26%,
    # MPC +22%, MRO +35%); the old 35% rule caught only NWL
    for ticker, previous in {"NWL": 44.22, "FLR": 40.14, "MPC": 53.21, "MRO": 11.91}.items():
        assert close.loc["2017-09-14", ticker] == previous
    # real one-way moves and spin-offs are kept: VRTX +62%, AMD +52%, EBAY -57% (PayPal),
    # BAX (Baxalta), NI (CPG), SPG's stale range
    assert close.loc["2013-04-19", "VRTX"] == before.loc["2013-04-19", "VRTX"]
    assert close.loc["2016-04-22", "AMD"] == before.loc["2016-04-22", "AMD"]
    assert close.loc["2015-07-20", "EBAY"] == 28.57
    assert close.loc["2014-05-28", "SPG"] == 165.42
    changed = (close != before) & before.notna()
    assert sorted(changed.stack()[lambda s: s].index.get_level_values(1)) == [
        "FLR",
        "LNT",
        "MPC",
        "MRO",
        "NWL",
    ]
    assert any(n.startswith("LNT:") for n in cleaned.notes)
    assert not any(n.startswith(("EBAY:", "BAX:", "NI:", "VRTX:", "AMD:")) for n in cleaned.notes)


@pytest.mark.shared_data
def test_real_bad_prints_on_the_decision_day_never_become_the_price(
    shared_csv_source: CsvSource,
) -> None:
    start = pd.Timestamp("2016-01-04").date()
    # LNT 2016-05-19 as the last day: the close is moved into the day's range, not kept
    lnt = clean_prices(shared_csv_source.fetch_prices(["LNT"], start, date(2016, 5, 19)))
    assert lnt.close["LNT"].iloc[-1] == pytest.approx(35.085, abs=1e-9)  # the day's low
    assert unconfirmed_moves(lnt.close)[0] == ()  # 35.085 vs 35.35: -0.75%
    # close-only data (no range): the -49% move cannot be confirmed; LNT is left out
    lnt_raw = shared_csv_source.fetch_prices(["LNT"], start, date(2016, 5, 19))
    close_only = PriceData(close=lnt_raw.close)
    assert unconfirmed_moves(clean_prices(close_only).close)[0] == ("LNT",)
    # NWL 2017-09-14 as the last day: a whole bad OHLC row, the close inside its range
    nwl = clean_prices(shared_csv_source.fetch_prices(["NWL"], start, date(2017, 9, 14)))
    assert nwl.close["NWL"].iloc[-1] == 30.81
    assert unconfirmed_moves(nwl.close)[0] == ("NWL",)
    # the next day the same row is a confirmed round trip and repaired
    later = clean_prices(shared_csv_source.fetch_prices(["NWL"], start, date(2017, 9, 15)))
    assert later.close.loc["2017-09-14", "NWL"] == 44.22


@pytest.mark.shared_data
def test_real_universe_cleaning_touches_only_known_defects(shared_csv_source: CsvSource) -> None:
    data = shared_csv_source.fetch_prices(
        list(shared_csv_source.fetch_companies().index),
        pd.Timestamp("2013-02-08").date(),
        pd.Timestamp("2018-02-07").date(),
    )
    cleaned = clean_prices(data)
    changed = (cleaned.close != data.close) & data.close.notna()
    hits = changed.stack()[lambda s: s].index
    assert sorted((f"{d:%Y-%m-%d}", t) for d, t in hits) == [
        ("2016-05-19", "LNT"),
        ("2017-09-14", "FLR"),
        ("2017-09-14", "MPC"),
        ("2017-09-14", "MRO"),
        ("2017-09-14", "NWL"),
    ]
    flagged = {n.split(":")[0] for n in cleaned.notes}
    # the README lists these OHLC contradictions; IP, UA and O's close are within 1%
    assert {"LNT", "AOS", "SPG", "WRK", "CHK", "CHD", "DHR", "O", "NWL"} <= flagged
    bench = shared_csv_source.fetch_benchmark(
        data.close.index[0].date(), data.close.index[-1].date()
    )
    aligned, bench_out, notes = align_calendar(cleaned.close, bench)
    assert len(aligned) == len(bench_out) == 1259
    assert "DHR: 16 missing day(s) filled with the previous close" in notes
    kept, dropped = require_history(aligned, 252)
    assert {n.split(":")[0] for n in dropped} == {"APTV", "BHF", "BHGE", "DWDP", "DXC"}
    assert kept.shape[1] == 500


def test_shared_csv_dir_fixture_is_a_directory(shared_csv_dir: Path) -> None:
    assert (shared_csv_dir / "prices.csv").is_file()


def test_a_short_trailing_gap_carries_the_last_close_forward_with_a_note() -> None:
    index = pd.bdate_range("2024-01-01", periods=8)
    prices = pd.DataFrame(
        {
            "LATE": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan, np.nan],  # 2 days missing -> carried
            "GONE": [1.0, 1.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],  # 6 -> delisted
        },
        index=index,
    )
    aligned, bench, notes = align_calendar(prices, None, max_stale_days=5)
    assert bench is None
    assert aligned["LATE"].tolist()[-3:] == [6.0, 6.0, 6.0]
    assert aligned["GONE"].isna().sum() == 6
    assert any("LATE: no close on the last 2 day(s)" in n for n in notes)
    assert not any("GONE" in n for n in notes)


# --------------------------------------------------------------------------- array rules
def _pandas_spikes(close: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Rule 3 written with pandas' shift/ffill (the form the array code replaced)."""
    edge = 1e-9
    limit = float(np.log1p(threshold)) - edge
    low_band, high_band = np.log1p(-threshold / 2) - edge, np.log1p(threshold / 2) + edge
    log_price = np.log(close)
    before, after = log_price.shift(1).ffill(), log_price.shift(-1).bfill()
    move_in, move_out, net = log_price - before, after - log_price, after - before
    return (
        move_in.abs().ge(limit)
        & move_out.abs().ge(limit)
        & (move_in * move_out).lt(0)
        & net.ge(low_band)
        & net.le(high_band)
    )


def _pandas_with_the_market(
    close: pd.DataFrame, market: pd.Series, threshold: float
) -> pd.DataFrame:
    level = market.reindex(close.index)
    market_move = np.log(level.where(level.gt(0))).diff()
    log_price = np.log(close.where(close.gt(0)))
    move_in = log_price - log_price.shift(1).ffill()
    big = market_move.abs().ge(float(np.log1p(threshold)) - 1e-9)
    same_way = np.sign(move_in).eq(np.sign(market_move), axis=0)
    return same_way & pd.DataFrame({c: big for c in close.columns})


@pytest.mark.parametrize("seed", range(40))
def test_spike_and_market_rules_on_arrays_equal_the_pandas_rules(seed: int) -> None:
    from smallq.data.validation import _spikes, _with_the_market

    rng = np.random.default_rng(seed)
    n_days, n_assets = int(rng.integers(1, 60)), int(rng.integers(1, 6))
    moves = [0.0, 0.3, -0.3, 0.01, -0.01, 0.25, -0.2]
    steps = rng.choice(moves, size=(n_days, n_assets), p=[0.3, 0.1, 0.1, 0.2, 0.2, 0.05, 0.05])
    values = 100 * np.exp(np.cumsum(steps, axis=0))
    for share, bad in ((0.15, np.nan), (0.03, -1.0), (0.02, np.inf), (0.02, 0.0)):
        values[rng.random((n_days, n_assets)) < share] = bad
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    close = pd.DataFrame(values, index=pd.DatetimeIndex(list(dates), name="date").as_unit("us"))
    market_steps = rng.choice([0.0, 0.06, -0.07, 0.01], size=n_days)
    market = pd.Series(100 * np.exp(np.cumsum(market_steps)), index=close.index)
    market[rng.random(n_days) < 0.1] = np.nan
    valid = close.mask(close.le(0) | np.isinf(close))
    for threshold in (0.2, 0.35):
        pd.testing.assert_frame_equal(
            _spikes(valid, threshold), _pandas_spikes(valid, threshold), check_dtype=False
        )
    pd.testing.assert_frame_equal(
        _with_the_market(close, market, 0.05),
        _pandas_with_the_market(close, market, 0.05),
        check_dtype=False,
    )
