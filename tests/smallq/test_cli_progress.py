"""Progress on stderr: the engine reports through a callback, the CLI draws it only when asked.

Quiet under --json and when stderr is not a terminal; drawn when forced (--progress always)
or on a terminal once the work takes longer than the delay.
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smallq import cli
from smallq.backtest import run_backtest
from smallq.data.cached import CachedPriceSource
from smallq.data.sample import SampleSource
from smallq.errors import DataUnavailableError
from smallq.progress import ProgressBar
from smallq.types import ProgressCallback
from storage.db import connect
from storage.price_cache import SqlitePriceCache

NOW = lambda: datetime(2026, 1, 2, tzinfo=UTC)  # noqa: E731
BACKTEST = ["backtest", "--sectors", "tech", "--start", "2021-01-01", "--end", "2021-06-30"]


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the renderer
def test_bar_waits_for_the_delay_then_draws_and_closes_its_line() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = ProgressBar(stream, "backtest", delay_s=1.0, interval_s=0.0, width=10, clock=clock)
    bar(1, 4)
    assert stream.getvalue() == ""  # quick work prints nothing
    clock.now = 1.5
    bar(2, 4)
    assert stream.getvalue() == "\rbacktest [#####-----]  50% 2/4"
    bar(4, 4)
    bar.close()
    assert stream.getvalue().endswith("\rbacktest [##########] 100% 4/4\n")


def test_bar_throttles_redraws_but_always_draws_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = ProgressBar(stream, "x", delay_s=0.0, interval_s=0.1, clock=clock)
    for done in range(1, 101):
        bar(done, 100)
    assert stream.getvalue().count("\r") == 2  # the first draw and the finish
    assert stream.getvalue().endswith("100/100")


def test_close_without_a_draw_prints_nothing() -> None:
    stream = io.StringIO()
    ProgressBar(stream, "x", delay_s=5.0).close()
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- the engine
def test_backtest_reports_each_simulated_day() -> None:
    index = pd.bdate_range("2021-01-04", periods=40)
    prices = pd.DataFrame(
        100 * np.cumprod(1 + np.full((40, 2), 0.001), axis=0), index=index, columns=["A", "B"]
    )
    calls: list[tuple[int, int]] = []
    result = run_backtest(
        prices,
        lambda history, as_of: pd.Series({"A": 0.5, "B": 0.5}),
        start=index[0],
        end=index[-1],
        rebalance="monthly",
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(k, 40) for k in range(1, 41)]
    assert len(result.equity) == 40


class ReportingSource(SampleSource):
    """A company source that reports progress, like Yahoo's 500 info requests."""

    def fetch_companies(self, *, on_progress: ProgressCallback | None = None) -> pd.DataFrame:
        for done in range(1, 4):
            if on_progress is not None:
                on_progress(done, 3)
        return super().fetch_companies()


def test_refresh_passes_the_callback_to_a_source_that_reports() -> None:
    calls: list[tuple[int, int]] = []
    cached = CachedPriceSource(ReportingSource(), SqlitePriceCache(connect(":memory:")), now=NOW)
    cached.refresh_companies(on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    plain = CachedPriceSource(SampleSource(), SqlitePriceCache(connect(":memory:")), now=NOW)
    assert len(plain.refresh_companies(on_progress=lambda done, total: None)) > 0


# --------------------------------------------------------------------------- the CLI
@pytest.fixture
def fake_backtest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backtest that reports 50 days, then fails on purpose (no full backtest in CLI tests)."""

    def run(*args: Any, on_progress: ProgressCallback | None = None, **kwargs: Any) -> None:
        for day in range(1, 51):
            if on_progress is not None:
                on_progress(day, 50)
        raise DataUnavailableError(["^GSPC"], "stub")

    monkeypatch.setattr("smallq.pipeline.run_strategy_backtest", run)
    monkeypatch.setattr(cli, "open_cli_source", lambda spec, cache: SampleSource())


def run_on_terminal(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[int, str]:
    """Run main with a stderr that is a terminal (set here: pytest resets sys.stderr between
    a fixture's setup and the test) and no delay before the bar."""
    stream = Terminal()
    with monkeypatch.context() as patch:
        patch.setattr("sys.stderr", stream)
        patch.setattr(cli, "PROGRESS_DELAY_S", 0.0)
        status = cli.main(argv)
    return status, stream.getvalue()


@pytest.mark.usefixtures("fake_backtest")
def test_no_bar_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(BACKTEST) == cli.EXIT_DATA
    err = capsys.readouterr().err
    assert "[" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("fake_backtest")
def test_no_bar_under_json_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    status, err = run_on_terminal(monkeypatch, [*BACKTEST, "--json"])
    assert status == cli.EXIT_DATA
    assert "\r" not in err and err.startswith("smallq: error: ")


@pytest.mark.usefixtures("fake_backtest")
def test_no_bar_when_told_never(monkeypatch: pytest.MonkeyPatch) -> None:
    status, err = run_on_terminal(monkeypatch, [*BACKTEST, "--progress", "never"])
    assert status == cli.EXIT_DATA
    assert "\r" not in err


@pytest.mark.usefixtures("fake_backtest")
def test_bar_on_a_terminal_then_the_error_on_its_own_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, text = run_on_terminal(monkeypatch, BACKTEST)
    assert status == cli.EXIT_DATA
    assert "\rbacktest [" in text and "100% 50/50\n" in text
    assert text.splitlines()[-1].startswith("smallq: error: ")


@pytest.mark.usefixtures("fake_backtest")
def test_bar_when_forced_even_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*BACKTEST, "--progress", "always"]) == cli.EXIT_DATA
    assert "100% 50/50" in capsys.readouterr().err


def test_universe_refresh_draws_the_refresh(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = CachedPriceSource(ReportingSource(), SqlitePriceCache(connect(":memory:")), now=NOW)
    monkeypatch.setattr(cli, "open_cli_source", lambda spec, cache: source)
    assert cli.main(["universe", "--refresh", "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert "refreshing companies [" in captured.err and "3/3" in captured.err
    assert "companies in" in captured.out


def test_progress_bar_is_none_when_quiet() -> None:
    args = argparse.Namespace(json=False, progress="auto")
    with cli.progress_bar(args, "x") as bar:  # pytest's stderr is not a terminal
        assert bar is None
