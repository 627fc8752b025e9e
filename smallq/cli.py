"""``smallq`` — the engine's command line.

Commands: ``universe``, ``rank``, ``build``, ``backtest`` and ``track``. Every error prints one
line to stderr and exits with a status that says what kind of error it was (:func:`exit_status`:
2 bad input, 3 data unavailable, 70 internal error); ``--debug`` adds the traceback. This module
is a composition root: it may wire the SQLite price cache (``storage``) in front of the Yahoo
source.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smallq.cli_options import (
    EXIT_USAGE,
    OneLineParser,
    VersionAction,
    decimal_number,
    iso_date,
    one_line,
    parse_number,
    whole_number,
)
from smallq.errors import (
    AllocationError,
    DataError,
    InputError,
    OptimizationError,
    ProfileError,
    SelectionError,
    SmallQError,
    StorageError,
)
from smallq.params import DEFAULT_PARAMS
from smallq.progress import ProgressBar
from smallq.types import CovModel, Objective, ReturnsModel, Strategy

if TYPE_CHECKING:  # pandas (0.5 s) is imported only by the commands that use it
    from smallq.data.base import PriceSource

EXIT_DATA = 3  # market data unavailable or unusable (Yahoo down, no benchmark, a bad CSV)
EXIT_SOFTWARE = 70  # an internal error, a bug (sysexits.h EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_USER_ERROR = EXIT_USAGE  # the older name
EXIT_INTERNAL = EXIT_SOFTWARE  # the older name

#: The one map from the error tree to exit statuses; the first matching class wins.
EXIT_STATUS: tuple[tuple[type[SmallQError], int], ...] = (
    (InputError, EXIT_USAGE),
    (SelectionError, EXIT_USAGE),  # the filters leave too few stocks: relax the request
    (OptimizationError, EXIT_USAGE),  # the constraints cannot hold: relax the request
    (AllocationError, EXIT_USAGE),  # the capital buys no share: add capital
    (DataError, EXIT_DATA),
    (StorageError, EXIT_DATA),  # the price cache cannot be read or written now
)

#: Seconds of work before a progress bar appears (``--progress auto``).
PROGRESS_DELAY_S = 1.0


def exit_status(exc: BaseException) -> int:
    """The process exit status for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    for kind, status in EXIT_STATUS:
        if isinstance(exc, kind):
            return status
    return EXIT_SOFTWARE


def _add_source(parser: argparse.ArgumentParser, *, progress: bool = False) -> None:
    parser.add_argument(
        "--source", default="sample", help="sample (embedded, offline) | yahoo | csv:DIR"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="SQLite price cache for the yahoo source (default: $SMALLQ_CACHE_PATH or "
        "~/.cache/smallq/prices.db)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    if progress:
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="progress bar on stderr; auto: only on a terminal, never with --json",
        )


#: the flags of :func:`_add_ranking` by dest, each the :func:`smallq.profile.make_profile`
#: parameter of that name
_RANKING_FLAGS = (
    "sectors strategy top_n per_sector as_of include exclude min_market_cap max_market_cap "
    "min_dollar_volume"
).split()
#: the flags :func:`_add_selection` adds, likewise (but ``--capital`` and ``--sector-cap``)
_SELECTION_FLAGS = [
    *_RANKING_FLAGS,
    *(
        "risk_level objective returns_model cov_model max_weight risk_free_rate "
        "target_volatility risk_aversion lookback_days fractional"
    ).split(),
]


def _profile_flags(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The flags ``names`` as keyword arguments of :func:`smallq.profile.make_profile`."""
    return {name: getattr(args, name) for name in names}


def _add_ranking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sectors", required=True, help='comma list, e.g. "tech,Health Care"')
    parser.add_argument(
        "--strategy",
        default="momentum",
        choices=[s.value for s in Strategy],
        help="ranking factor",
    )
    parser.add_argument(
        "--top",
        type=whole_number,
        default=10,
        dest="top_n",
        metavar="TOP",
        help="number of stocks to select",
    )
    parser.add_argument("--per-sector", action="store_true", help="top N in each sector")
    parser.add_argument(
        "--as-of", type=iso_date, default=None, help="decision date YYYY-MM-DD (default: latest)"
    )
    parser.add_argument("--include", default="", help="tickers to add back after filters")
    parser.add_argument("--exclude", default="", help="tickers to remove")
    parser.add_argument("--min-market-cap", type=decimal_number, default=None, help="USD")
    parser.add_argument("--max-market-cap", type=decimal_number, default=None, help="USD")
    parser.add_argument(
        "--min-dollar-volume", type=decimal_number, default=None, help="USD per day"
    )


def _add_selection(parser: argparse.ArgumentParser, *, required_capital: bool) -> None:
    _add_ranking(parser)
    if required_capital:
        parser.add_argument("--capital", required=True, help="amount, e.g. 10000 or 10,000")
    parser.add_argument(
        "--risk",
        default="moderate",
        dest="risk_level",
        metavar="RISK",
        help="conservative|cautious|moderate|growth|aggressive or 1-5",
    )
    table = "(default: from the risk level)"
    parser.add_argument(
        "--objective", default=None, choices=[o.value for o in Objective], help=table
    )
    parser.add_argument(
        "--returns",
        default=None,
        choices=[r.value for r in ReturnsModel],
        dest="returns_model",
        help=table,
    )
    parser.add_argument(
        "--cov", default=None, choices=[c.value for c in CovModel], dest="cov_model", help=table
    )
    parser.add_argument("--max-weight", type=decimal_number, default=None, help=f"fraction {table}")
    parser.add_argument(
        "--sector-cap", action="append", default=[], help='"Sector=0.4" (repeatable)'
    )
    parser.add_argument(
        "--risk-free-rate",
        type=decimal_number,
        default=DEFAULT_PARAMS.risk_free_rate,
        help="a year, as a fraction",
    )
    parser.add_argument(
        "--target-volatility", type=decimal_number, default=None, help=f"for efficient_risk {table}"
    )
    parser.add_argument(
        "--risk-aversion", type=decimal_number, default=None, help=f"for max_utility {table}"
    )
    parser.add_argument(
        "--lookback-days", type=whole_number, default=756, help="trading days of price history"
    )
    parser.add_argument("--fractional", action="store_true", help="allow fractional shares")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = OneLineParser(prog="smallq", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    universe = sub.add_parser("universe", help="list sectors and their companies")
    _add_source(universe, progress=True)
    universe.add_argument(
        "--refresh",
        action="store_true",
        help="re-download the company table (yahoo) into the cache",
    )

    rank = sub.add_parser("rank", help="rank stocks in sectors by a strategy")
    _add_source(rank)
    _add_ranking(rank)

    build = sub.add_parser("build", help="build a portfolio report")
    _add_source(build)
    _add_selection(build, required_capital=True)
    build.add_argument("--charts", type=Path, default=None, help="write PNG charts to DIR")
    build.add_argument(
        "--verbose", action="store_true", help="also show method names, solver and reasons"
    )

    build.add_argument(
        "--no-record",
        action="store_true",
        help="skip the 5-year out-of-sample record (one backtest) that comes with a build",
    )

    levels = sub.add_parser(
        "levels", help="what each risk level means for these sectors and this capital"
    )
    _add_source(levels)
    _add_selection(levels, required_capital=True)

    backtest = sub.add_parser("backtest", help="walk-forward backtest against the S&P 500")
    _add_source(backtest, progress=True)
    _add_selection(backtest, required_capital=False)
    backtest.add_argument(
        "--capital", default=None, help="whole-share rounding from this capital (default: none)"
    )
    backtest.add_argument("--start", type=iso_date, required=True, help="first day YYYY-MM-DD")
    backtest.add_argument("--end", type=iso_date, required=True, help="last day YYYY-MM-DD")
    backtest.add_argument("--rebalance", default="monthly", help="weekly|monthly|drift:0.05")
    backtest.add_argument(
        "--costs-bps",
        type=decimal_number,
        default=10.0,
        help="trading costs, basis points of value",
    )
    backtest.add_argument("--log-scale", action="store_true", help="log-scale equity chart")
    backtest.add_argument("--charts", type=Path, default=None, help="write PNG charts to DIR")
    track = sub.add_parser(
        "track", help="a built portfolio's performance since its build date vs the S&P 500"
    )
    track.add_argument("report", type=Path, help="a JSON file written by `smallq build --json`")
    track.add_argument("--source", default=None, help="default: the source the report used")
    track.add_argument("--cache", type=Path, default=None, help="as for build")
    track.add_argument("--json", action="store_true", help="print JSON instead of text")
    track.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    track.add_argument("--charts", type=Path, default=None, help="write tracking.png to DIR")
    return parser


def open_cli_source(spec: str, cache_path: Path | None) -> PriceSource:
    """Open a source; Yahoo gets the persistent SQLite price cache in front of it."""
    from smallq.data.registry import open_source

    source = open_source(spec)
    if spec != "yahoo":
        return source
    from smallq.data.cached import CachedPriceSource
    from storage.db import connect
    from storage.price_cache import SqlitePriceCache

    path = cache_path or Path(
        os.environ.get("SMALLQ_CACHE_PATH", Path.home() / ".cache" / "smallq" / "prices.db")
    )
    return CachedPriceSource(source, SqlitePriceCache(connect(path)), now=lambda: datetime.now(UTC))


def profile_from_args(args: argparse.Namespace, *, capital: str | float) -> Any:
    """Build a validated Profile from parsed flags (explicit flags override the risk table)."""
    from smallq.profile import make_profile

    caps: dict[str, float] = {}
    for item in args.sector_cap:
        if not isinstance(item, str):  # argparse hands "--sector-cap=--" over as a list
            raise ProfileError("sector cap", "--", 'write it as "Sector=0.4"')
        name, sep, value = item.partition("=")
        if not sep:
            raise ProfileError("sector cap", item, 'write it as "Sector=0.4"')
        cap = parse_number(value)
        if cap is None:
            raise ProfileError("sector cap", item, "the cap must be a number such as 0.4")
        caps[name] = cap
    return make_profile(capital=capital, sector_caps=caps, **_profile_flags(args, _SELECTION_FLAGS))


def _emit(args: argparse.Namespace, document: object | Callable[[], object], text: str) -> None:
    """Print the JSON document with ``--json`` (a callable builds it only then), else ``text``."""
    if args.json:
        if callable(document):
            document = document()
        json.dump(document, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(text)


def _write_charts(directory: Path, charts: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in charts.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        written.append(path)
    return written


@contextmanager
def progress_bar(args: argparse.Namespace, label: str) -> Iterator[ProgressBar | None]:
    """A progress bar on stderr, or None when it should stay quiet.

    ``--progress auto`` draws only when stderr is a terminal and the output is not ``--json``,
    and only once the work has taken :data:`PROGRESS_DELAY_S`; ``always`` draws at once.
    """
    mode = getattr(args, "progress", "never")
    quiet = mode == "never" or (
        mode == "auto" and (args.json or not (sys.stderr.isatty() if sys.stderr else False))
    )
    if quiet:
        yield None
        return
    bar = ProgressBar(sys.stderr, label, delay_s=0.0 if mode == "always" else PROGRESS_DELAY_S)
    try:
        yield bar
    finally:
        bar.close()


def cmd_universe(args: argparse.Namespace) -> None:
    from smallq.universe import normalise_companies, sectors_of

    source = open_cli_source(args.source, args.cache)
    if args.refresh:
        refresh = getattr(source, "refresh_companies", None)
        if refresh is None:
            raise ProfileError("--refresh", args.source, "only the cached yahoo source refreshes")
        with progress_bar(args, "refreshing companies") as bar:
            raw = refresh(on_progress=bar)
    else:
        raw = source.fetch_companies()
    companies = normalise_companies(raw)
    groups = sectors_of(companies)
    document = {
        sector.value: [{"ticker": t, "name": str(companies.at[t, "name"])} for t in tickers]
        for sector, tickers in groups.items()
    }
    lines = [f"{len(companies)} companies in {len(groups)} sectors ({source.name})"]
    for sector, tickers in groups.items():
        lines.append(f"\n{sector.value} ({len(tickers)})")
        lines += [f"  {t:<7} {companies.at[t, 'name']}" for t in tickers]
    _emit(args, document, "\n".join(lines))


def cmd_rank(args: argparse.Namespace) -> None:
    from smallq.pipeline import select_stocks
    from smallq.profile import make_profile
    from smallq.report import format_ranking, ranking_to_records

    profile = make_profile(capital=1.0, **_profile_flags(args, _RANKING_FLAGS))
    source = open_cli_source(args.source, args.cache)
    selection = select_stocks(profile, source, today=date.today(), require_benchmark=False)
    records = [r for r in ranking_to_records(selection.ranking) if r["selected"]]
    notes = [n for n in selection.market.notes if n not in selection.ranking.notes]
    text = format_ranking(selection.ranking) + "".join(f"\nnote: {n}" for n in notes)
    if args.json:
        for note in notes:  # the JSON document is the list of ranked stocks; notes go to stderr
            print(f"note: {note}", file=sys.stderr)
    _emit(args, records, text)


def cmd_build(args: argparse.Namespace) -> None:
    from smallq.pipeline import build_portfolio
    from smallq.report import format_report, report_to_dict

    profile = profile_from_args(args, capital=args.capital)
    source = open_cli_source(args.source, args.cache)
    report = build_portfolio(profile, source, today=date.today(), record=not args.no_record)
    text = format_report(report, verbose=args.verbose)
    if args.charts is not None:
        from smallq.charts.frontier import index_point, index_window_start
        from smallq.charts.report import render_report_charts

        levels = source.fetch_benchmark(index_window_start(report), report.as_of)
        index = index_point(levels, report)
        index_return, index_volatility = index if index is not None else (None, None)
        charts = render_report_charts(
            report, index_return=index_return, index_volatility=index_volatility
        )
        paths = _write_charts(args.charts, charts)
        text += "\n\nCharts: " + ", ".join(str(p) for p in paths)
    _emit(args, lambda: report_to_dict(report), text)


def cmd_levels(args: argparse.Namespace) -> None:
    from smallq.pipeline import compare_levels
    from smallq.report import format_levels, levels_to_dict

    profile = profile_from_args(args, capital=args.capital)
    source = open_cli_source(args.source, args.cache)
    comparison = compare_levels(profile, source, today=date.today())
    _emit(args, lambda: levels_to_dict(comparison), format_levels(comparison))


def cmd_backtest(args: argparse.Namespace) -> None:
    from smallq.pipeline import run_strategy_backtest
    from smallq.report import backtest_to_dict, format_backtest

    profile = profile_from_args(args, capital=args.capital or 1.0)
    source = open_cli_source(args.source, args.cache)
    with progress_bar(args, "backtest") as bar:
        report = run_strategy_backtest(
            profile,
            source,
            start=args.start,
            end=args.end,
            rebalance=args.rebalance,
            costs_bps=args.costs_bps,
            whole_shares=args.capital is not None,
            on_progress=bar,
        )
    text = format_backtest(report)
    if args.charts is not None:
        from smallq.charts.backtest import render_backtest_charts

        charts = render_backtest_charts(
            report.result, log_scale=args.log_scale, risk_free_rate=report.settings.risk_free_rate
        )
        paths = _write_charts(args.charts, charts)
        text += "\n\nCharts: " + ", ".join(str(p) for p in paths)
    _emit(args, lambda: backtest_to_dict(report), text)


def cmd_track(args: argparse.Namespace) -> None:
    from smallq.pipeline import track_portfolio
    from smallq.report import format_tracking, tracking_to_dict

    try:
        document = json.loads(args.report.read_text())
        shares = {str(t): float(n) for t, n in document["shares"].items()}
        cash = float(document["cash_left"])
        since = date.fromisoformat(document["as_of"])
        currency = str(document.get("profile", {}).get("currency", "USD"))
        rate = float(document.get("settings", {}).get("risk_free_rate", 0.02))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProfileError(
            "report", str(args.report), f"not a `smallq build --json` document ({exc})"
        ) from exc
    source = open_cli_source(args.source or str(document.get("source", "sample")), args.cache)
    tracked = track_portfolio(shares, cash, since, source, today=date.today(), risk_free_rate=rate)
    text = format_tracking(tracked, currency=currency)
    if args.charts is not None:
        from smallq.charts.backtest import tracking_chart

        chart = tracking_chart(tracked.tracking, start_value=float(tracked.values.iloc[0]))
        paths = _write_charts(args.charts, {"tracking": chart})
        text += "\n\nCharts: " + ", ".join(str(p) for p in paths)
    _emit(args, lambda: tracking_to_dict(tracked), text)


COMMANDS = {
    "universe": cmd_universe,
    "rank": cmd_rank,
    "build": cmd_build,
    "levels": cmd_levels,
    "backtest": cmd_backtest,
    "track": cmd_track,
}


@functools.cache
def _parser() -> argparse.ArgumentParser:
    return build_parser()  # built once per process (tests call main thousands of times)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    _pandas_without_pyarrow()
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.debug:
        # yfinance logs every failed ticker and third-party code warns about deprecations;
        # the command's own answer (a report or one error line) says what matters
        logging.getLogger("yfinance").setLevel(logging.CRITICAL)
        warnings.simplefilter("ignore")
    try:
        COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:  # the one catch-all, mapped by exit_status
        return report_error(exc, debug=args.debug)
    return 0


def _pandas_without_pyarrow() -> None:
    """Let pandas, when this process has not loaded it yet, run without pyarrow.

    pandas imports pyarrow (and ``pyarrow.compute``, 0.08 s of CPU) whenever it is installed,
    and the venv has it for Streamlit. No command reads Parquet or Arrow data: without pyarrow
    pandas keeps its text columns in Python objects, with the same values, and the outputs are
    the same byte for byte. A process that already loaded pandas or pyarrow (a test session,
    an embedding program) is left as it is. ``None`` in ``sys.modules`` makes that import fail.
    """
    if "pandas" not in sys.modules and "pyarrow" not in sys.modules:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print one line about ``exc`` on stderr (after the traceback with ``debug``); exit status."""
    status = exit_status(exc)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        line = "smallq: interrupted"
    elif isinstance(exc, SmallQError) and status != EXIT_SOFTWARE:
        kind = "input" if isinstance(exc, InputError) else "error"
        line = f"smallq: {kind}: {exc.user_message()}"
    else:
        where = "the traceback is above" if debug else "rerun with --debug for the traceback"
        line = f"smallq: internal error: {type(exc).__name__}: {exc} ({where})"
    print(one_line(line), file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
