"""run_strategy_backtest end to end on the embedded sample, and `smallq backtest`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from smallq.cli import EXIT_USER_ERROR, main
from smallq.data.sample import SampleSource
from smallq.errors import ProfileError, UnknownOptionError
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import run_strategy_backtest
from smallq.profile import make_profile
from smallq.report import backtest_to_dict, format_backtest

PROFILE = make_profile(sectors="tech,health care", capital=10_000.0, lookback_days=252)
PARAMS = replace(DEFAULT_PARAMS, mc_paths=1_000)


@pytest.fixture(scope="module")
def monthly():
    return run_strategy_backtest(
        PROFILE,
        SampleSource(),
        start=date(2018, 1, 1),
        end=date(2019, 12, 31),
        rebalance="monthly",
        costs_bps=10.0,
        params=PARAMS,
    )


def test_monthly_backtest_document(monthly) -> None:
    document = backtest_to_dict(monthly)
    assert document["schema"] == "smallq.backtest/1"
    equity = list(document["equity"].values())
    assert equity[0] == 1.0
    assert next(iter(document["benchmark_equity"].values())) == 1.0
    assert len(document["rebalances"]) == 24  # one per month
    for rebalance in document["rebalances"]:
        assert sum(rebalance["weights"].values()) <= 1.0 + 1e-9
        # turnover is relative to that day's equity; cost is in units of starting capital
        equity_then = document["equity"][rebalance["date"]]
        assert rebalance["cost"] == pytest.approx(
            rebalance["turnover"] * equity_then * 10 / 10_000, rel=1e-6
        )
    for key in (
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "alpha",
        "beta",
        "information_ratio",
        "tracking_error",
    ):
        assert key in document["metrics"] and key in document["benchmark_metrics"]
    assert document["benchmark_metrics"]["beta"] == pytest.approx(1.0, abs=1e-9)
    assert "survivorship" in " ".join(document["notes"])
    assert "price index" in " ".join(document["notes"])  # the sample index has no dividends


def test_weights_only_hold_ranked_candidates(monthly) -> None:
    held = set(monthly.result.weights.columns[(monthly.result.weights > 0).any()])
    assert held <= {"AAPL", "AMD", "MSFT", "JNJ", "LLY", "MRK", "PFE", "UNH"}
    assert "Past performance" in format_backtest(monthly)


def test_bad_rule_and_dates_are_input_errors() -> None:
    with pytest.raises(UnknownOptionError):
        run_strategy_backtest(
            PROFILE,
            SampleSource(),
            start=date(2018, 1, 1),
            end=date(2019, 1, 1),
            rebalance="hourly",
        )
    with pytest.raises(ProfileError):
        run_strategy_backtest(PROFILE, SampleSource(), start=date(2019, 1, 1), end=date(2018, 1, 1))


def test_cli_backtest_json(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "backtest",
            "--sectors",
            "tech",
            "--risk",
            "aggressive",
            "--start",
            "2021-01-01",
            "--end",
            "2022-06-30",
            "--rebalance",
            "drift:0.05",
            "--lookback-days",
            "252",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    document = json.loads(out)
    assert document["rebalance"] == "drift:0.05"
    assert document["rebalances"][0]["date"] >= "2021-01-01"


def test_cli_backtest_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "backtest",
            "--sectors",
            "tech",
            "--start",
            "2021-01-01",
            "--end",
            "2022-01-01",
            "--rebalance",
            "sometimes",
        ]
    )
    _, err = capsys.readouterr()
    assert status == EXIT_USER_ERROR
    assert len(err.strip().splitlines()) == 1

