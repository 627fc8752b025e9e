"""A built portfolio tracked since its build date against the S&P 500 (issue 5, section 3)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from smallq.cli import EXIT_USER_ERROR, main
from smallq.data.sample import SampleSource
from smallq.errors import InsufficientHistoryError
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, track_portfolio
from smallq.profile import make_profile

TODAY = date(2026, 11, 25)
BUILT = date(2021, 6, 30)


@pytest.fixture(scope="module")
def built():
    profile = make_profile(sectors="tech,health care", capital=10_000.0, as_of=BUILT)
    params = replace(DEFAULT_PARAMS, mc_paths=500)
    return build_portfolio(profile, SampleSource(), today=TODAY, params=params)


def test_values_are_shares_times_prices_plus_cash(built) -> None:
    source = SampleSource()
    shares = built.allocation.shares.to_dict()
    cash = built.allocation.cash_left
    tracked = track_portfolio(shares, cash, built.as_of, source, today=TODAY)
    assert tracked.since == BUILT and tracked.end == date(2022, 12, 28)
    # on the build date the holdings are worth exactly the capital
    assert tracked.values.iloc[0] == pytest.approx(10_000.0, abs=1e-6)
    prices = source.fetch_prices(list(shares), BUILT, date(2022, 12, 28)).close
    by_hand = sum(n * prices[t].iloc[-1] for t, n in shares.items()) + cash
    assert tracked.values.iloc[-1] == pytest.approx(by_hand, rel=1e-12)
    index = source.fetch_benchmark(BUILT, date(2022, 12, 28))
    report = tracked.tracking
    assert report.total_return == pytest.approx(by_hand / 10_000.0 - 1, rel=1e-12)
    assert report.benchmark_total_return == pytest.approx(index.iloc[-1] / index.iloc[0] - 1)
    assert report.excess_return == pytest.approx(
        report.total_return - report.benchmark_total_return
    )
    assert report.growth.iloc[0] == 1.0 and report.benchmark_growth.iloc[0] == 1.0


def test_nothing_to_track_on_the_last_data_day(built) -> None:
    with pytest.raises(InsufficientHistoryError):
        track_portfolio({"AAPL": 1}, 0.0, date(2022, 12, 28), SampleSource(), today=TODAY)


def test_cli_track_reads_a_build_document(
    built, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--sectors", "tech,health care", "--capital", "10000", "--as-of",
                 "2021-06-30", "--json"]) == 0  # fmt: skip
    report_path = tmp_path / "p.json"
    report_path.write_text(capsys.readouterr().out)
    assert main(["track", str(report_path), "--json", "--charts", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["since"] == "2021-06-30"
    first = next(iter(document["values"].values()))
    assert first == pytest.approx(10_000.0, abs=1e-6)
    assert (tmp_path / "tracking.png").read_bytes().startswith(b"\x89PNG")


def test_cli_track_rejects_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    assert main(["track", str(bad)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "smallq build --json" in err
