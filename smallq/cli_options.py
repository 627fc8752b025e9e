"""The argparse pieces of ``smallq``: ASCII-only option types, help that shows defaults,
and a parser whose errors are one line with a "did you mean" hint and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from datetime import date
from typing import Any, NoReturn

from smallq.errors import closest_match

EXIT_USAGE = 2  # bad input: fix the command line (argparse uses 2 as well)


def smallq_version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    from importlib.metadata import PackageNotFoundError, version  # 20 ms: only for --version

    try:
        return version("smallq")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from smallq import __version__

        return __version__


def one_line(text: str) -> str:
    """``text`` with every line break (``\\n``, ``\\r``, U+2028, ...) turned into a space."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


# --------------------------------------------------------------------------- option types
_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_RANGE = (date(1900, 1, 1), date(2100, 12, 31))


def parse_number(text: str) -> float | None:
    """A finite decimal written with ASCII digits (``0.25``, ``-3``, ``2e9``), else None."""
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if math.isfinite(value) else None


def whole_number(text: str) -> int:
    """argparse type: an integer written with ASCII digits."""
    if not _INTEGER.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"not a whole number (digits 0-9): {text!r}")
    return int(text.strip())


def decimal_number(text: str) -> float:
    """argparse type: a finite decimal written with ASCII digits."""
    value = parse_number(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a number (digits 0-9, e.g. 0.25): {text!r}")
    return value


def iso_date(text: str) -> date:
    """argparse type: ``YYYY-MM-DD`` with ASCII digits, between 1900 and 2100."""
    try:
        if not _ISO_DATE.fullmatch(text.strip()):
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc
    low, high = DATE_RANGE
    if not low <= day <= high:
        raise argparse.ArgumentTypeError(f"the date must be between {low} and {high}: {text!r}")
    return day


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, unless it is empty or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default in ("", [], argparse.SUPPRESS)
        if "default" in text or empty or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


class VersionAction(argparse.Action):
    """``--version``: print ``smallq <version>`` and exit, looking the version up only then."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **_: Any) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show the version and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        sys.stdout.write(f"smallq {smallq_version()}\n")
        parser.exit()


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        line = one_line(f"smallq: input: {message} (see {self.prog} --help)")
        self.exit(EXIT_USAGE, line + "\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """Refuse a value outside ``choices`` with a "did you mean" hint."""
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(choice) for choice in choices]
        near = closest_match(value, names)
        hint = f"; did you mean {near!r}?" if near else ""
        listed = ", ".join(names)
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown command {value!r}{hint} ({listed})")
        raise argparse.ArgumentError(action, f"invalid choice {value!r}{hint} (choose {listed})")
