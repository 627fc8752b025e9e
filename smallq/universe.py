"""The stock universe: a validated company table and sector look-ups.

:func:`normalise_companies` validates a company table into the canonical shape used by the
rest of the engine: a DataFrame indexed by ``ticker`` (Yahoo style, ``BRK-B``) with the columns
:data:`smallq.models.COMPANY_COLUMNS`. It is idempotent, so it can be applied to a table that a
data adapter already shaped.

Decisions
---------
* A sector string that no :class:`~smallq.types.Sector` alias resolves (or a missing sector)
  becomes ``NaN`` and the company is **kept**: it can still be ranked when no sector is chosen,
  but it never matches a sector filter and :func:`sectors_of` leaves it out.
* Numeric columns must be numbers (or empty); ``±inf`` becomes ``NaN``; a text value that is
  not a number raises :class:`~smallq.errors.DataFormatError`. ``dividend_yield`` is expected as
  a fraction (0.0233 is 2.33%); adapters convert percentages before calling.
* A missing ``name`` is replaced by the ticker.

Point in time (:func:`companies_as_of`): the company table's figures are replaced by the
fundamentals dated on or before the decision day (latest per ticker). P/E, P/B and dividend
yield not known by then become ``NaN``. A market cap not known by then keeps the company
table's figure, which is later (or undated), and the returned note says so: the market-cap
band is a coarse eligibility screen, so a later size is used as an approximation rather
than refusing every size filter before the snapshot; the notes name it. Sectors are taken as
they are today: the data holds no sector history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from smallq.data.validation import normalise_ticker
from smallq.errors import DataFormatError, UnknownSectorError
from smallq.fundamentals import FUNDAMENTAL_COLUMNS, Fundamentals
from smallq.models import COMPANY_COLUMNS
from smallq.types import Sector

_NUMERIC_COLUMNS: tuple[str, ...] = ("market_cap", "pe", "pb", "dividend_yield")
_WHERE = "company table"


def normalise_companies(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a company table to the canonical shape.

    Parameters
    ----------
    frame : DataFrame of shape (n_companies, k)
        Either a ``ticker`` column or an index of tickers, plus a ``sector`` column and any of
        ``name``, ``market_cap`` (USD), ``pe``, ``pb``, ``dividend_yield`` (fraction). Missing
        optional columns are filled with ``NaN``; extra columns are dropped. Not modified.

    Returns
    -------
    DataFrame of shape (n_companies, 6)
        Indexed by ``ticker`` (Yahoo style via :func:`smallq.data.validation.normalise_ticker`:
        upper-case, class shares with a dash, ``BRK.B`` -> ``BRK-B``), columns
        :data:`~smallq.models.COMPANY_COLUMNS` in that order, input row order kept. ``sector``
        holds :class:`~smallq.types.Sector` value strings or ``NaN`` when unknown.

    Raises
    ------
    DataFormatError
        When there is no ``sector`` column, a ticker is empty or duplicated (after
        normalisation), or a numeric column holds text that is not a number.
    """
    if "sector" not in frame.columns:
        raise DataFormatError(_WHERE, "a 'sector' column is required")
    if "ticker" in frame.columns:
        raw = list(frame["ticker"])
    elif len(frame) == 0 or pd.api.types.is_string_dtype(frame.index):
        raw = list(frame.index)
    else:
        raise DataFormatError(_WHERE, "a 'ticker' column or an index of tickers is required")
    table = frame.reset_index(drop=True)
    tickers = pd.Index([normalise_ticker(t) for t in raw], name="ticker", dtype=str)
    _check_tickers(tickers)
    out = pd.DataFrame(index=tickers)
    names = table["name"] if "name" in table.columns else pd.Series(np.nan, index=table.index)
    out["name"] = [t if _is_missing(n) else str(n) for n, t in zip(names, tickers, strict=True)]
    out["sector"] = [_sector_value(s) for s in table["sector"]]
    for column in _NUMERIC_COLUMNS:
        values = table[column] if column in table.columns else pd.Series(np.nan, index=table.index)
        out[column] = _to_number(values, column).to_numpy()
    return out.loc[:, list(COMPANY_COLUMNS)]


def sectors_of(companies: pd.DataFrame) -> dict[Sector, tuple[str, ...]]:
    """Group tickers by sector.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        A table from :func:`normalise_companies`.

    Returns
    -------
    dict of Sector to tuple of str
        Only sectors that have at least one company, in :class:`Sector` order; tickers in table
        order. Companies without a known sector are left out.
    """
    groups: dict[Sector, list[str]] = {}
    for ticker, value in companies["sector"].items():
        sector = _sector_or_none(value)
        if sector is not None:
            groups.setdefault(sector, []).append(str(ticker))
    return {sector: tuple(groups[sector]) for sector in Sector if sector in groups}


def tickers_in_sectors(companies: pd.DataFrame, sectors: Sequence[Sector]) -> tuple[str, ...]:
    """Tickers whose sector is one of ``sectors``, in table order.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        A table from :func:`normalise_companies`.
    sectors : sequence of Sector
        Sectors to keep (aliases such as ``"tech"`` are parsed too). An empty sequence
        selects nothing.

    Returns
    -------
    tuple of str

    Raises
    ------
    UnknownSectorError
        When an entry of ``sectors`` is not a sector name or alias.
    """
    wanted = {Sector.parse(s) for s in sectors}
    return tuple(
        str(ticker)
        for ticker, value in companies["sector"].items()
        if _sector_or_none(value) in wanted
    )


def companies_as_of(
    companies: pd.DataFrame, fundamentals: Fundamentals, as_of: date
) -> tuple[pd.DataFrame, str]:
    """The company table as known on ``as_of`` (rules in the module docstring).

    Parameters
    ----------
    companies : DataFrame of shape (n_companies, 6)
        A table from :func:`normalise_companies`. Not modified.
    fundamentals : Fundamentals
        The source's dated fundamentals.
    as_of : date
        The decision day.

    Returns
    -------
    companies : DataFrame of shape (n_companies, 6)
        Same index and columns; ``pe``, ``pb``, ``dividend_yield`` and ``market_cap`` from the
        latest row dated on or before ``as_of`` (P/E, P/B, yield ``NaN`` when none).
    market_cap_note : str
        Names the stocks whose market cap is not known on ``as_of`` and says which later
        figure stands in; ``""`` when every known market cap is point in time.
    """
    known = fundamentals.as_of(as_of).reindex(companies.index)
    table = companies.copy()
    for column in FUNDAMENTAL_COLUMNS:
        if column != "market_cap":
            table[column] = known[column].astype("float64")
    dated_cap = known["market_cap"].astype("float64")
    later = companies.index[dated_cap.isna() & companies["market_cap"].notna()]
    table["market_cap"] = dated_cap.where(dated_cap.notna(), companies["market_cap"])
    if not len(later):
        return table, ""
    more = f" and {len(later) - 10} more" if len(later) > 10 else ""
    shown = ", ".join(map(str, later[:10])) + more
    note = (
        f"Market caps of {len(later)} stock(s) are not known on {as_of:%Y-%m-%d} ({shown}); "
        f"the market-cap filter used the company table's later figures "
        f"(the fundamentals are {fundamentals.describe()})."
    )
    return table, note


# --------------------------------------------------------------------------- helpers
def _check_tickers(tickers: pd.Index) -> None:
    empty = [i for i, t in enumerate(tickers) if t in ("", "NAN", "NONE")]
    if empty:
        raise DataFormatError(_WHERE, f"empty ticker in rows {empty[:5]}")
    duplicated = sorted(set(tickers[tickers.duplicated()]))
    if duplicated:
        raise DataFormatError(_WHERE, f"duplicate tickers {duplicated[:10]}")


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and bool(np.isnan(value))


def _sector_or_none(value: object) -> Sector | None:
    if _is_missing(value) or not str(value).strip():
        return None
    try:
        return Sector.parse(value)
    except UnknownSectorError:
        return None


def _sector_value(value: object) -> str | float:
    sector = _sector_or_none(value)
    return np.nan if sector is None else sector.value


def _to_number(values: pd.Series, column: str) -> pd.Series:
    cleaned = values.map(lambda v: np.nan if _is_missing(v) or str(v).strip() == "" else v)
    try:
        numbers = pd.to_numeric(cleaned, errors="raise")
    except (TypeError, ValueError) as exc:
        raise DataFormatError(_WHERE, f"column {column!r} is not numeric: {exc}") from exc
    return numbers.astype("float64").replace([np.inf, -np.inf], np.nan)
