"""Measure and quote text the way Telegram does.

Telegram limits a message to 4096 and a caption to 1024 *UTF-16 code units of the text after
its entities are parsed*: with ``parse_mode=HTML`` the tags do not count and ``&amp;`` is one
character; an emoji outside the Basic Multilingual Plane is two. :func:`telegram_length` is the
one count every length check in the bot uses. :func:`excerpt` quotes user input in an error
reply: at most a short, HTML-escaped piece, so a reply never grows with the input.
"""

from __future__ import annotations

import re
from html import escape, unescape

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
EXCERPT_LENGTH = 24
_TAG = re.compile(r"<[^<>]*>")


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (characters above U+FFFF count twice)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def telegram_length(text: str, parse_mode: str | None = "HTML") -> int:
    """What Telegram counts against its limits: UTF-16 units of the text after parsing."""
    if parse_mode is not None and parse_mode.upper() == "HTML":
        text = unescape(_TAG.sub("", text))
    return utf16_units(text)


def shorten(text: str, length: int = EXCERPT_LENGTH) -> str:
    """A short plain-text quote of user input (whitespace folded, cut with "…")."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """:func:`shorten`, HTML-escaped: for quoting user input inside an HTML reply."""
    return escape(shorten(text, length))
