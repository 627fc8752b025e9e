"""Open a price source from its spec string ("sample", "yahoo", "csv:DIR").

Adapters are imported on demand, so choosing the sample or a CSV directory never imports
yfinance. Entry points wrap the result in :class:`~smallq.data.cached.CachedPriceSource`.
"""

from __future__ import annotations

from smallq.data.base import PriceSource
from smallq.errors import ProfileError, UnknownOptionError

SOURCE_SPECS: tuple[str, ...] = ("sample", "yahoo", "csv:DIR")


def open_source(spec: str) -> PriceSource:
    """Return the price source named by ``spec``.

    Parameters
    ----------
    spec : str
        ``"sample"`` (the embedded offline data), ``"yahoo"`` (Yahoo Finance) or
        ``"csv:DIR"`` (CSV files in directory ``DIR``; see :mod:`smallq.data.csv`).
        The keyword is case-insensitive; surrounding spaces are ignored.

    Raises
    ------
    UnknownOptionError
        For any other spec, or ``"csv:"`` without a directory.
    ProfileError
        For ``"csv:~name/..."`` when no user ``name`` exists, or a directory with a NUL byte.
    """
    text = str(spec).strip()
    keyword, _, argument = text.partition(":")
    keyword = keyword.strip().lower()
    if keyword == "sample" and not argument:
        from smallq.data.sample import SampleSource

        return SampleSource()
    if keyword == "yahoo" and not argument:
        from smallq.data.yahoo import YahooSource

        return YahooSource()
    if keyword == "csv" and argument.strip():
        from smallq.data.csv import CsvSource

        if "\x00" in argument:  # no path holds a NUL byte (os calls raise ValueError)
            raise ProfileError("data source", spec, "a directory name cannot hold a NUL byte")
        try:
            return CsvSource(argument.strip())
        except RuntimeError as exc:  # Path.expanduser: "~name" of an unknown user
            raise ProfileError("data source", spec, "no such home directory") from exc
    raise UnknownOptionError("data source", spec, SOURCE_SPECS)
