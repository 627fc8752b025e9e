"""The CLI behaves like the best Python CLIs (issue 13 §6): --version, defaults in --help,
"did you mean" hints, distinct exit codes, ASCII-only numbers, and a `make demo` that talks."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from smallq import cli
from smallq.cli import EXIT_DATA, EXIT_SOFTWARE, EXIT_USAGE, build_parser, exit_status, main
from smallq.data.sample import SampleSource
from smallq.errors import (
    AllocationError,
    DataFormatError,
    DataUnavailableError,
    InfeasibleConstraintsError,
    InsufficientHistoryError,
    InvalidCapitalError,
    SmallQError,
    StorageError,
    TooFewCandidatesError,
    UnknownOptionError,
)
from smallq.profile import parse_capital
from smallq.types import RiskLevel, Sector

ROOT = Path(__file__).resolve().parents[2]
BUILD = ["build", "--sectors", "tech,health", "--capital", "10000"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run main; argparse's own exits become a status like any other."""
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("smallq: ")
    return lines[0]


# --------------------------------------------------------------------------- --version, --help
def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert re.fullmatch(r"smallq \d+\.\d+\.\d+\S*\n", out)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("command", ["universe", "rank", "build", "backtest", "track"])
def test_help_shows_every_default(command: str) -> None:
    sub = _subparsers(build_parser())[command]
    text = " ".join(sub.format_help().split())
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        if action.default not in (None, False, "", []):
            assert f"(default: {action.default})" in text, (command, action.dest)


# --------------------------------------------------------------------------- did you mean
@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["biuld", "--sectors", "tech"], "did you mean 'build'"),
        (["rnak"], "did you mean 'rank'"),
        ([*BUILD[:1], "--sectors", "techh", "--capital", "1000"], "Information Technology"),
        ([*BUILD, "--strategy", "momentun"], "did you mean 'momentum'"),
        (["rank", "--sectors", "tech", "--strategy", "lowvol"], "did you mean 'low_vol'"),
        ([*BUILD, "--risk", "moderat"], "'moderate'"),
        ([*BUILD, "--objective", "max_sharp"], "'max_sharpe'"),
        ([*BUILD, "--source", "yaho"], "'yahoo'"),
    ],
)
def test_misspellings_get_a_did_you_mean_hint_in_the_one_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == EXIT_USAGE
    assert out == ""
    assert hint.lower() in one_error_line(err).lower()


def test_no_hint_when_nothing_is_close() -> None:
    with pytest.raises(UnknownOptionError) as info:
        RiskLevel.parse("zzzzzz")
    assert info.value.suggestion is None and "did you mean" not in str(info.value).lower()


# --------------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidCapitalError("x", "no"), EXIT_USAGE),
        (UnknownOptionError("strategy", "x", ["momentum"]), EXIT_USAGE),
        (TooFewCandidatesError("market cap", 1, 2), EXIT_USAGE),
        (InfeasibleConstraintsError("max weight", "too tight", "raise it"), EXIT_USAGE),
        (AllocationError(3.0, 50.0), EXIT_USAGE),
        (DataUnavailableError(["^GSPC"], "Yahoo down", retryable=True), EXIT_DATA),
        (InsufficientHistoryError(10, 252), EXIT_DATA),
        (DataFormatError("prices.csv", "no rows"), EXIT_DATA),
        (StorageError(), EXIT_DATA),
        (SmallQError(), EXIT_SOFTWARE),
        (RuntimeError("bug"), EXIT_SOFTWARE),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_status_is_mapped_from_the_error_tree(error: BaseException, status: int) -> None:
    assert exit_status(error) == status


class YahooDown(SampleSource):
    """Every request fails the way the Yahoo adapter reports an outage."""

    def fetch_companies(self) -> pd.DataFrame:
        raise DataUnavailableError(["S&P 500 constituents"], "Yahoo is down", retryable=True)


class NoBenchmark(SampleSource):
    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        raise DataUnavailableError(["^GSPC"], "no benchmark levels", retryable=True)


@pytest.mark.parametrize(
    ("source", "argv"),
    [
        (YahooDown(), ["rank", "--sectors", "tech"]),
        (YahooDown(), ["universe"]),
        (NoBenchmark(), [*BUILD, "--top", "4", "--max-weight", "0.5"]),
    ],
)
def test_data_unavailable_exits_3(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: SampleSource,
    argv: list[str],
) -> None:
    monkeypatch.setattr(cli, "open_cli_source", lambda spec, cache: source)
    status, out, err = run(capsys, *argv)
    assert status == EXIT_DATA, err
    assert out == ""
    assert "try again later" in one_error_line(err).lower()


def test_a_missing_csv_folder_is_data_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "rank", "--sectors", "tech", "--source", "csv:/nonexistent/d")
    assert status == EXIT_DATA
    assert "nonexistent" in one_error_line(err)


def _crash(args: argparse.Namespace) -> None:
    raise RuntimeError("boom\nsecond line")


def test_internal_error_is_one_line_status_70_with_a_debug_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "rank", _crash)
    status, out, err = run(capsys, "rank", "--sectors", "tech")
    assert status == EXIT_SOFTWARE == 70
    assert out == ""
    line = one_error_line(err)
    assert "internal error" in line and "RuntimeError" in line and "--debug" in line
    assert "Traceback" not in err


def test_debug_shows_the_traceback_and_keeps_the_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "rank", _crash)
    status, _, err = run(capsys, "rank", "--sectors", "tech", "--debug")
    assert status == EXIT_SOFTWARE
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("smallq: internal error: RuntimeError")


def test_debug_keeps_the_status_of_a_known_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, *BUILD[:3], "--capital", "-5", "--debug")
    assert status == EXIT_USAGE
    assert "InvalidCapitalError" in err  # the traceback
    assert err.strip().splitlines()[-1].startswith("smallq: input: ")


# --------------------------------------------------------------------------- ASCII digits only
NOT_ASCII_DIGITS = ["²", "①", "１０", "٣", "3²", "1_0", "nan", "inf", "1e999"]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
@pytest.mark.parametrize("option", ["--top", "--lookback-days", "--max-weight", "--risk-aversion"])
def test_number_options_accept_ascii_digits_only(
    capsys: pytest.CaptureFixture[str], option: str, text: str
) -> None:
    status, out, err = run(capsys, *BUILD, option, text)
    assert status == EXIT_USAGE and out == ""
    line = one_error_line(err)
    assert line.startswith("smallq: input: argument " + option) and "--help" in line


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("--risk", "3²"),
        ("--risk", "３"),
        ("--as-of", "２０２０-06-30"),
        ("--as-of", "20200630"),
        ("--as-of", "0001-01-01"),
        ("--sector-cap", "tech=０.5"),
        ("--capital", "１０００"),
        ("--capital", "٣٠٠٠"),
    ],
)
def test_other_entry_points_refuse_non_ascii_digits(
    capsys: pytest.CaptureFixture[str], option: str, text: str
) -> None:
    argv = [*BUILD, option, text] if option != "--capital" else [*BUILD[:3], option, text]
    status, _, err = run(capsys, *argv)
    assert status == EXIT_USAGE, err
    one_error_line(err)


def test_backtest_rebalance_threshold_is_ascii_only(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--sectors", "tech", "--start", "2021-01-01", "--end", "2021-06-30"]
    status, _, err = run(capsys, *argv, "--rebalance", "drift:０.05")
    assert status == EXIT_USAGE
    assert "rebalance" in one_error_line(err)


@pytest.mark.parametrize("text", ["１０００", "٣٠٠٠", "1０"])
def test_parse_capital_refuses_unicode_digits(text: str) -> None:
    with pytest.raises(InvalidCapitalError, match="0-9"):
        parse_capital(text)


def test_sector_and_risk_parsers_do_not_drop_unknown_characters() -> None:
    with pytest.raises(UnknownOptionError):
        RiskLevel.parse("①3")
    assert Sector.parse("Health\u00a0Care") is Sector.HEALTH_CARE  # a no-break space is a space


# --------------------------------------------------------------------------- make demo
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_says_what_it_installs(tmp_path: Path) -> None:
    venv = tmp_path / "fresh-venv"  # absent, so make plans the install
    plan = subprocess.run(
        ["make", "-n", "demo", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "installing smallQ into" in plan and "about a minute" in plan
    install = [line for line in plan.splitlines() if "pip install" in line and "-e" in line]
    assert install and all("--quiet" not in line for line in install)
    assert plan.index("installing smallQ") < plan.index(install[0])


def test_a_sector_cap_of_a_bare_double_dash_is_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # before: argparse handed "--sector-cap=--" over as a list and the CLI crashed (exit 70)
    code = main(["build", "--sectors", "tech", "--capital", "1000", "--sector-cap=--"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USAGE
    assert len(err.splitlines()) == 1 and "sector cap" in err
