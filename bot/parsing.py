"""The one parser of user-typed numbers and zone names, shared by commands, buttons and settings.

``str.isdigit()`` accepts ``²`` and ``②``, which ``int()`` rejects, and ``int()`` accepts
Arabic-Indic digits: every number argument goes through :func:`ascii_int` instead, which
accepts ASCII digits only and a range, and returns ``None`` for anything else (the caller
answers with its usage line). :func:`zone_info` turns every way ``ZoneInfo`` can fail
(unknown, a directory such as ``Europe``, an over-long or malformed name) into ``None``.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

_INT = re.compile(r"[+-]?[0-9]{1,19}")
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
#: longer zone names do not exist; the file system refuses names over 255 bytes
MAX_ZONE_LENGTH = 64


def ascii_int(text: str | None, low: int, high: int) -> int | None:
    """``text`` as an int in ``[low, high]`` when it is ASCII digits (optional sign), else None."""
    if text is None or not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def ascii_decimal(text: str | None) -> float | None:
    """``text`` as a non-negative decimal (``12`` or ``0.05``) in ASCII digits, else None."""
    if text is None or not _DECIMAL.fullmatch(text):
        return None
    return float(text)


def zone_info(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``, or ``None`` whatever the reason it cannot be loaded."""
    if not name or len(name) > MAX_ZONE_LENGTH or not _ZONE.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError, TypeError):  # ZoneInfoNotFoundError is a KeyError
        return None
