"""smallq.pandas_options: Python string storage changes no number of a build.

Every entry point that builds portfolios stores text in Python objects (faster index
lookups); pandas' default with pyarrow installed is Arrow storage. The same build in both
storages must give the same report: ranking, weights, shares and risk figures, exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from smallq.data.sample import SampleSource
from smallq.models import Report
from smallq.pandas_options import use_python_strings
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile

PROFILE = make_profile(sectors="Information Technology,Health Care", capital=25_000.0)
TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=500)


def build() -> Report:
    return build_portfolio(PROFILE, SampleSource(), today=TODAY, params=FAST)


@pytest.fixture
def arrow_strings() -> Iterator[None]:
    pytest.importorskip("pyarrow")
    pd.set_option("mode.string_storage", "pyarrow")
    try:
        yield
    finally:
        use_python_strings()


def test_use_python_strings_sets_the_storage_of_new_text() -> None:
    use_python_strings()
    assert pd.Index(["AAPL", "MSFT"]).dtype.storage == "python"


def test_a_build_is_the_same_in_both_storages(arrow_strings: None) -> None:
    on_arrow = build()
    assert on_arrow.weights.index.dtype.storage == "pyarrow"
    use_python_strings()
    on_python = build()
    assert on_python.weights.index.dtype.storage == "python"
    pd.testing.assert_series_equal(on_python.weights, on_arrow.weights, check_index_type=False)
    pd.testing.assert_frame_equal(
        on_python.ranking.table, on_arrow.ranking.table, check_index_type=False,
        check_column_type=False,
        check_dtype=False,  # the text columns' storage is what differs
    )  # fmt: skip
    assert on_python.ranking.selected == on_arrow.ranking.selected
    pd.testing.assert_series_equal(
        on_python.allocation.shares, on_arrow.allocation.shares, check_index_type=False
    )
    for field in ("expected_return", "volatility", "sharpe", "beta", "max_drawdown", "var"):
        assert getattr(on_python.metrics, field) == getattr(on_arrow.metrics, field), field
    pd.testing.assert_series_equal(
        on_python.metrics.risk_contributions, on_arrow.metrics.risk_contributions,
        check_index_type=False,
    )  # fmt: skip
    pd.testing.assert_frame_equal(on_python.cov, on_arrow.cov, check_index_type=False,
                                  check_column_type=False)  # fmt: skip
