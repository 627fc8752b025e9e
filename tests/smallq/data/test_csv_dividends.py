"""A CSV whose prices leave dividends out says so wherever its returns are shown.

../shared/data's Kaggle prices are raw closes (no ``adj_close``) while its benchmark is
SPY's dividend-adjusted close: a backtest or a build on them compares price returns with a
total return, understating the portfolio by about the dividend yield (~2% a year). The old
notes said nothing (and the only dividend note assumed the stock prices were adjusted).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from smallq.data.csv import CsvSource
from smallq.pipeline import run_strategy_backtest
from smallq.profile import make_profile
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)


def _write(tmp_path: Path, adjusted: bool) -> CsvSource:
    dates = pd.bdate_range("2020-01-01", periods=5)
    rows = pd.DataFrame({"date": dates, "ticker": "AAA", "close": [10.0, 10.1, 10.2, 10.1, 10.3]})
    if adjusted:
        rows["adj_close"] = rows["close"] * 0.98
    rows.to_csv(tmp_path / "prices.csv", index=False)
    return CsvSource(tmp_path)


def test_raw_closes_carry_a_dividend_note(tmp_path: Path) -> None:
    data = _write(tmp_path, adjusted=False).fetch_prices(
        ["AAA"], date(2020, 1, 1), date(2020, 2, 1)
    )
    assert any("no adj_close column" in n and "dividend" in n for n in data.notes)


def test_adjusted_closes_carry_none(tmp_path: Path) -> None:
    data = _write(tmp_path, adjusted=True).fetch_prices(["AAA"], date(2020, 1, 1), date(2020, 2, 1))
    assert not any("adj_close" in n for n in data.notes)


@pytest.mark.shared_data
def test_a_backtest_on_the_shared_data_says_dividends_are_left_out(
    shared_csv_source: CsvSource,  # noqa: F811
) -> None:
    profile = make_profile(sectors="Utilities,Consumer Staples", capital=10_000.0, top_n=6)
    report = run_strategy_backtest(
        profile, shared_csv_source, start=date(2017, 6, 1), end=date(2017, 9, 29)
    )
    assert any("leaves dividends out" in n for n in report.notes)
