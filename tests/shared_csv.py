"""Turn ../shared/data into the CsvSource layout, once per test session.

``build_shared_csv_dir(shared_data, target)`` writes into ``target``:

* ``prices.csv`` — ``sp500_5yr_ohlcv_2013-2018.csv.gz`` (505 stocks, daily OHLCV, long form)
  decompressed with its header's ``Name`` column renamed ``ticker`` (rows unchanged);
* ``companies.csv`` — ``sp500_financials_2018-02-08.csv.gz`` as date (2018-02-08, the day the
  snapshot was taken), ticker, name, sector, market_cap, pe, pb, dividend_yield (the source's
  percent yield divided by 100);
* ``benchmark.csv`` — SPY adjusted closes from ``pypfopt_spy_prices_1993-2019.csv.gz``
  on 2013-02-08..2018-02-07 (the same 1,259 dates as the prices).

Fixtures (register with ``pytest_plugins = ["tests.shared_csv"]`` in tests/conftest.py, or
import them into a test module): ``shared_csv_dir`` (the directory, session scope) and
``shared_csv_source`` (one :class:`CsvSource` per session, so the 30 MB file is parsed once,
however many modules import the fixtures).
Nothing derived is ever written into the repository: the directory lives under pytest's tmp.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from smallq.data.csv import CsvSource

PRICES_FILE = "sp500_5yr_ohlcv_2013-2018.csv.gz"
FINANCIALS_FILE = "sp500_financials_2018-02-08.csv.gz"
SPY_FILE = "pypfopt_spy_prices_1993-2019.csv.gz"
FIRST_DATE, LAST_DATE = "2013-02-08", "2018-02-07"
#: the day the fundamentals snapshot was taken (the day after the last price)
SNAPSHOT_DATE = "2018-02-08"


def build_shared_csv_dir(shared_data: Path, target: Path) -> Path:
    """Write prices.csv, companies.csv and benchmark.csv into ``target``; return it."""
    target.mkdir(parents=True, exist_ok=True)
    with gzip.open(shared_data / PRICES_FILE, "rt", newline="") as src:
        header = src.readline().strip().split(",")
        with (target / "prices.csv").open("w", newline="") as dst:
            dst.write(",".join("ticker" if c == "Name" else c for c in header) + "\n")
            shutil.copyfileobj(src, dst, length=1 << 20)
    fin = pd.read_csv(shared_data / FINANCIALS_FILE)
    companies = pd.DataFrame(
        {
            "date": SNAPSHOT_DATE,
            "ticker": fin["Symbol"],
            "name": fin["Name"],
            "sector": fin["Sector"],
            "market_cap": fin["Market Cap"],
            "pe": fin["Price/Earnings"],
            "pb": fin["Price/Book"],
            "dividend_yield": fin["Dividend Yield"] / 100.0,
        }
    )
    companies.to_csv(target / "companies.csv", index=False)
    spy = pd.read_csv(shared_data / SPY_FILE, parse_dates=["date"], index_col="date")["SPY"]
    spy = spy.loc[FIRST_DATE:LAST_DATE].rename("close")
    spy.to_csv(target / "benchmark.csv", index_label="date")
    return target


#: built directories and parsed sources by path, so that a fixture imported into several
#: modules (each import is its own session fixture) still builds and parses only once
_DIRS: dict[Path, Path] = {}
_SOURCES: dict[Path, CsvSource] = {}


@pytest.fixture(scope="session")
def shared_csv_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """../shared/data in the CsvSource layout (built once per session; skips when absent)."""
    if shared_data not in _DIRS:
        target = tmp_path_factory.mktemp("shared_csv")
        _DIRS[shared_data] = build_shared_csv_dir(shared_data, target)
    return _DIRS[shared_data]


@pytest.fixture(scope="session")
def shared_csv_source(shared_csv_dir: Path) -> CsvSource:
    """One CsvSource over :func:`shared_csv_dir` shared by the session (parsed once).

    Its ``fetch_*`` methods return new frames; do not reach into its private caches.
    """
    if shared_csv_dir not in _SOURCES:
        _SOURCES[shared_csv_dir] = CsvSource(shared_csv_dir)
    return _SOURCES[shared_csv_dir]
