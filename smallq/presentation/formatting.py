"""The one place where numbers become text: money, percentages, plain numbers.

Every front end (CLI text, the bot's HTML, the dashboard) formats through these functions, so
one figure reads the same everywhere. Rates are fractions inside the engine; only these
functions print ``%``. Missing values (``None``, NaN, infinities) print as ``n/a``.
"""

from __future__ import annotations

import math

from smallq.presentation.view import Figure, Unit

NOT_AVAILABLE = "n/a"

#: symbols written before the amount; other currencies are written after it ("10.00 EUR")
_SYMBOLS = {"USD": "$"}


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def money(amount: float | None, currency: str = "USD") -> str:
    """An amount of money: ``$1,234.56``, ``-$12.00``, ``1,234.56 EUR``; ``n/a`` when missing.

    Parameters
    ----------
    amount : float or None
        The amount in ``currency``.
    currency : str, default="USD"
        ISO code; USD is written with ``$`` before the amount, others after it.

    Returns
    -------
    str
        Two decimals with thousands separators.
    """
    number = _finite(amount)
    if number is None:
        return NOT_AVAILABLE
    sign = "-" if number < 0 and round(abs(number), 2) > 0 else ""
    digits = f"{abs(number):,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency}"


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.123 -> ``12.3%``; ``n/a`` when missing."""
    number = _finite(value)
    return NOT_AVAILABLE if number is None else f"{number * 100:.{digits}f}%"


def signed_pct(value: float | None, digits: int = 1) -> str:
    """A change as a signed percentage: 0.034 -> ``+3.4%``; ``n/a`` when missing."""
    number = _finite(value)
    return NOT_AVAILABLE if number is None else f"{number * 100:+.{digits}f}%"


def points(value: float | None, digits: int = 1) -> str:
    """A difference of two fractions in percentage points: 0.012 -> ``+1.2 points``."""
    number = _finite(value)
    return NOT_AVAILABLE if number is None else f"{number * 100:+.{digits}f} points"


def num(value: float | None, digits: int = 2) -> str:
    """A plain number: 1.234 -> ``1.23``; ``n/a`` when missing."""
    number = _finite(value)
    return NOT_AVAILABLE if number is None else f"{number:.{digits}f}"


def figure_text(figure: Figure, currency: str = "USD", *, digits: int | None = None) -> str:
    """A figure's value in its unit: percentages, money, ratios (2 decimals), counts (1).

    Parameters
    ----------
    figure : Figure
        The figure to format.
    currency : str, default="USD"
        Currency of money figures.
    digits : int, optional
        Decimals; defaults to 1 for fractions and counts, 2 for ratios.
    """
    if figure.unit is Unit.MONEY:
        return money(figure.value, currency)
    if figure.unit is Unit.FRACTION:
        return pct(figure.value, 1 if digits is None else digits)
    if figure.unit is Unit.COUNT:
        return num(figure.value, 1 if digits is None else digits)
    return num(figure.value, 2 if digits is None else digits)
