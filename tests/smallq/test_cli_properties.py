"""Property tests: random text into every CLI text entry point and the engine parsers it uses.

Each property runs on 2,000 generated inputs and checks: no unhandled exception, an exit
status in {0, 2, 3}, one line on stderr for an error, and that only ASCII digits pass where a
number is needed. The engine's heavy step (build, rank, backtest) is a stub that fails with
"data unavailable" (3) once the input has been parsed, so each example takes milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smallq import cli
from smallq.backtest import RebalanceRule
from smallq.cli_options import decimal_number, iso_date, whole_number
from smallq.data.registry import open_source
from smallq.data.sample import SampleSource
from smallq.errors import DataUnavailableError, InputError
from smallq.params import DEFAULT_PARAMS
from smallq.profile import parse_capital, parse_sectors
from smallq.types import CovModel, Objective, ReturnsModel, RiskLevel, Sector, Strategy

EXAMPLES = settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Characters that look like digits or number syntax, ASCII or not.
NUMBER_CHARS = string.digits + ".,+-eE_ kKmM$%:" + "²³¹①②⑨０１２٣٤۵०१߁٫\u00a0\u2212"
NUMBERISH = st.text(alphabet=NUMBER_CHARS, max_size=14)
ANY_TEXT = st.text(max_size=40)
TEXT = st.one_of(
    ANY_TEXT,
    NUMBERISH,
    st.integers().map(str),
    st.floats().map(str),
    st.dates().map(str),
)


def has_unicode_digit(text: str) -> bool:
    return any(ch.isnumeric() and not ch.isascii() for ch in text)


# --------------------------------------------------------------------------- engine parsers
@EXAMPLES
@given(TEXT)
def test_parse_capital_returns_a_valid_amount_or_refuses(text: str) -> None:
    try:
        value = parse_capital(text)
    except InputError as exc:
        assert "\n" not in exc.user_message()
        return
    assert math.isfinite(value) and 0 < value <= DEFAULT_PARAMS.max_capital
    assert not has_unicode_digit(text)


@EXAMPLES
@given(TEXT)
def test_parse_sectors_returns_sectors_or_refuses(text: str) -> None:
    try:
        sectors = parse_sectors(text)
    except InputError:
        return
    assert sectors and all(isinstance(s, Sector) for s in sectors)


OPTION_PARSERS: list[Callable[[object], object]] = [
    Strategy.parse,
    Objective.parse,
    ReturnsModel.parse,
    CovModel.parse,
    RiskLevel.parse,
    RebalanceRule.parse,  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    "parse", OPTION_PARSERS, ids=["strategy", "objective", "returns", "cov", "risk", "rebalance"]
)
def test_option_names_parse_or_refuse(parse: Callable[[object], object]) -> None:
    @EXAMPLES
    @given(TEXT)
    def check(text: str) -> None:
        try:
            parse(text)
        except InputError:
            return
        assert not has_unicode_digit(text)

    check()


@EXAMPLES
@given(st.one_of(ANY_TEXT, ANY_TEXT.map(lambda t: "csv:" + t)))
@example("CSV:~\x00")  # found by Hypothesis: os.path.expanduser raised ValueError
def test_source_specs_open_or_refuse(text: str) -> None:
    try:
        open_source(text)
    except InputError:
        return


# --------------------------------------------------------------------------- CLI option types
@pytest.mark.parametrize(
    "parse", [whole_number, decimal_number, iso_date], ids=lambda p: p.__name__
)
def test_cli_option_types_accept_ascii_digits_only(parse: Callable[[str], object]) -> None:
    @EXAMPLES
    @given(TEXT)
    def check(text: str) -> None:
        try:
            parse(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            return
        assert not has_unicode_digit(text)
        assert all(ch.isascii() for ch in text.strip())

    check()


# --------------------------------------------------------------------------- main([...])
def _unavailable(*args: Any, **kwargs: Any) -> Any:
    raise DataUnavailableError(["^GSPC"], "stubbed engine")


@pytest.fixture(scope="module", autouse=True)
def _stub_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The engine's heavy steps fail as "data unavailable" after the input has been parsed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("smallq.pipeline.build_portfolio", _unavailable)
        patch.setattr("smallq.pipeline.select_stocks", _unavailable)
        patch.setattr("smallq.pipeline.run_strategy_backtest", _unavailable)
        patch.setattr("smallq.pipeline.track_portfolio", _unavailable)
        patch.setattr(cli, "open_cli_source", lambda spec, cache: SampleSource())
        patch.chdir(tmp_path_factory.mktemp("cwd"))  # `track PATH` reads relative paths here
        yield


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            status = exc.code if isinstance(exc.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def check_outcome(status: int, out: str, err: str, *, debug: bool = False) -> None:
    assert status in (0, 2, 3), err
    if status != 0 and not debug:  # --debug adds the traceback above the line
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("smallq: ")
        assert out == ""


BASE = {
    "rank": ["rank", "--sectors", "tech"],
    "build": ["build", "--sectors", "tech,health", "--capital", "10000"],
    "backtest": ["backtest", "--sectors", "tech", "--start", "2020-01-01", "--end", "2021-01-01"],
}
NUMBER_OPTIONS = {
    "--top", "--lookback-days", "--max-weight", "--risk-free-rate", "--target-volatility",
    "--risk-aversion", "--min-market-cap", "--max-market-cap", "--min-dollar-volume",
    "--costs-bps", "--as-of", "--start", "--end",
}  # fmt: skip
TEXT_OPTIONS = {
    "rank": [
        "--sectors", "--strategy", "--top", "--as-of", "--include", "--exclude",
        "--min-market-cap", "--max-market-cap", "--min-dollar-volume", "--source",
    ],
    "build": [
        "--sectors", "--capital", "--strategy", "--top", "--risk", "--objective", "--returns",
        "--cov", "--max-weight", "--sector-cap", "--risk-free-rate", "--target-volatility",
        "--risk-aversion", "--lookback-days", "--as-of", "--include", "--exclude",
        "--min-market-cap", "--max-market-cap", "--min-dollar-volume",
    ],
    "backtest": [
        "--sectors", "--capital", "--risk", "--strategy", "--start", "--end", "--rebalance",
        "--costs-bps", "--top", "--lookback-days", "--progress", "--sector-cap",
    ],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(TEXT_OPTIONS))
def test_main_with_random_option_values(command: str) -> None:
    @EXAMPLES
    @given(st.sampled_from(TEXT_OPTIONS[command]), TEXT)
    def check(option: str, value: str) -> None:
        status, out, err = run_main([*BASE[command], f"{option}={value}"])
        check_outcome(status, out, err)
        if option in NUMBER_OPTIONS and has_unicode_digit(value):
            assert status == 2, (option, value)

    check()


VOCABULARY = [
    "universe", "rank", "build", "backtest", "track", "biuld", "--sectors", "tech", "--capital",
    "10000", "--risk", "--strategy", "--top", "--json", "--debug", "--help", "--version",
    "--start", "--end", "--as-of", "--refresh", "--progress", "--rebalance", "-", "--", "-x",
]  # fmt: skip


@EXAMPLES
@given(st.lists(st.one_of(st.sampled_from(VOCABULARY), TEXT), max_size=8))
def test_main_with_random_argv(argv: list[str]) -> None:
    if "--refresh" in argv:  # the sample source refuses a refresh; keep the cached path out
        argv = [a for a in argv if a != "--refresh"]
    debug = any(len(a) >= 3 and "--debug".startswith(a.partition("=")[0]) for a in argv)
    status, out, err = run_main(argv)
    check_outcome(status, out, err, debug=debug)


@EXAMPLES
@given(ANY_TEXT)
def test_track_with_random_paths(path: str) -> None:
    status, out, err = run_main(["track", path])
    check_outcome(status, out, err)
