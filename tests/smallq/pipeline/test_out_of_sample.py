"""The out-of-sample record attached to a recommendation (issue #9 item 7).

Synthetic prices through the in-memory source keep the walk-forward short. The benchmark's
figures are recomputed by hand from its levels; the strategy's must not move when prices after
the decision date change (point in time).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.memory import FrameSource
from smallq.errors import InsufficientHistoryError
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, out_of_sample_record
from smallq.profile import make_profile
from smallq.report import out_of_sample_to_dict, report_to_dict

FAST = replace(DEFAULT_PARAMS, mc_paths=300)
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
DATES = pd.bdate_range("2015-01-01", periods=1_100)
AS_OF = DATES[900].date()


def _source(seed: int = 5, *, after: pd.Timestamp | None = None) -> FrameSource:
    """Random-walk prices; with ``after``, every price after that day is scrambled."""
    rng = np.random.default_rng(seed)
    drift = np.linspace(-0.0002, 0.0008, len(TICKERS))
    returns = drift + rng.normal(0, 0.012, size=(len(DATES), len(TICKERS)))
    if after is not None:
        later = DATES > after
        returns[later] = np.random.default_rng(seed + 1).normal(0, 0.05, (later.sum(), 8))
    prices = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=DATES, columns=TICKERS)
    index = pd.Series(1000 * np.cumprod(1 + returns.mean(axis=1)), index=DATES)
    companies = pd.DataFrame(
        {"ticker": TICKERS, "name": TICKERS, "sector": "Energy", "market_cap": 1e10}
    )
    return FrameSource(prices, index, companies)


def _profile(**overrides: object):
    options: dict[str, object] = {
        "sectors": "Energy",
        "capital": 10_000.0,
        "lookback_days": 252,
        "top_n": 8,
        "risk_level": 2,
        "as_of": AS_OF,
    }
    options.update(overrides)
    return make_profile(**options)


def test_record_is_point_in_time_and_the_benchmark_matches_a_hand_computation() -> None:
    source = _source()
    record = out_of_sample_record(_profile(), source, AS_OF, years=2, params=FAST)
    scrambled = _source(after=pd.Timestamp(AS_OF))
    again = out_of_sample_record(_profile(), scrambled, AS_OF, years=2, params=FAST)
    assert again == record  # nothing after the decision date reaches the record
    assert record.end == AS_OF and record.note == ""
    assert record.years == pytest.approx(2.0, abs=0.01)
    level = source.fetch_benchmark(record.start, record.end)
    n_returns = len(level) - 1
    assert record.benchmark_cagr == pytest.approx(
        (level.iloc[-1] / level.iloc[0]) ** (252 / n_returns) - 1, abs=1e-12
    )
    daily = level.pct_change().dropna()
    assert record.benchmark_volatility == pytest.approx(daily.std() * np.sqrt(252), abs=1e-12)
    assert record.benchmark_max_drawdown == pytest.approx(
        float(1 - (level / level.cummax()).min()), abs=1e-12
    )
    assert record.max_drawdown >= 0 and record.volatility > 0
    document = out_of_sample_to_dict(record)
    assert document is not None and document["cagr"] == record.cagr


def test_a_short_history_gives_a_shorter_record_with_a_note() -> None:
    as_of = DATES[700].date()  # 443 trading days after the first decision is possible
    record = out_of_sample_record(_profile(as_of=as_of), _source(), as_of, years=5, params=FAST)
    assert record.start == DATES[257].date()  # max(lookback, momentum 252) + 5 days of warm-up
    assert "Only 1.7 of the 5 years" in record.note


def test_too_little_history_is_a_note_in_the_report_not_an_error() -> None:
    as_of = DATES[400].date()
    with pytest.raises(InsufficientHistoryError):
        out_of_sample_record(_profile(as_of=as_of), _source(), as_of, params=FAST)
    report = build_portfolio(
        _profile(as_of=as_of), _source(), today=date(2030, 1, 1), params=FAST, record=True
    )
    assert report.out_of_sample is None
    assert any(n.text.startswith("No out-of-sample record: Not enough") for n in report.notes)
    assert report_to_dict(report)["out_of_sample"] is None


def test_a_memo_of_records_shares_one_backtest_between_capitals() -> None:
    """The bot's workers pass ``records``: the same profile on the same day, whatever its
    capital, gets the record computed once, equal to the one built without the memo."""
    source, records = _source(), {}  # type: ignore[var-annotated]
    alone = build_portfolio(_profile(), source, today=date(2030, 1, 1), params=FAST, record=True)
    first = build_portfolio(
        _profile(), source, today=date(2030, 1, 1), params=FAST, record=True, records=records
    )
    second = build_portfolio(
        _profile(capital=55_000.0),
        source,
        today=date(2030, 1, 1),
        params=FAST,
        record=True,
        records=records,
    )
    assert len(records) == 1
    assert first.out_of_sample == alone.out_of_sample == second.out_of_sample
    assert first.notes == alone.notes
    other = build_portfolio(
        _profile(risk_level=4),
        source,
        today=date(2030, 1, 1),
        params=FAST,
        record=True,
        records=records,
    )
    assert len(records) == 2  # another risk level is another record
    assert other.out_of_sample != first.out_of_sample
