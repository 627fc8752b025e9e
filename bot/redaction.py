"""Logging setup that keeps the bot token out of every log line.

The Bot API URL contains the token (``https://api.telegram.org/bot<token>/sendMessage``);
httpx logs request URLs at INFO and python-telegram-bot logs the base URL at DEBUG.
:class:`TokenRedactingFilter`, installed on every root handler, rewrites each record's
message, arguments and exception text, replacing the configured token and anything shaped
like ``bot<digits>:<secret>`` or ``<digits>:<35-char secret>``. httpx is set to WARNING unless
configured otherwise.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import IO

REDACTED = "<redacted>"
_PATTERNS = (
    re.compile(r"bot\d{3,}:[A-Za-z0-9_-]+"),
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"),
)
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with every secret and token-shaped substring replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: "bot" + REDACTED if m.group(0).startswith("bot") else REDACTED, text
        )
    return text


class TokenRedactingFilter(logging.Filter):
    """Rewrite a record's message, args and exception text with :func:`redact`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, self.secrets)
        else:
            record.msg = redact(str(record.msg), self.secrets)
        if isinstance(record.args, dict):
            record.args = {k: self._arg(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._arg(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True

    def _arg(self, value: object) -> object:
        if isinstance(value, (int, float)) or value is None:
            return value
        text = str(value)
        cleaned = redact(text, self.secrets)
        return value if cleaned == text else cleaned


def install_redaction(
    secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None
) -> TokenRedactingFilter:
    """Add one :class:`TokenRedactingFilter` to ``handlers`` (default: the root's handlers)."""
    token_filter = TokenRedactingFilter(secrets)
    for handler in list(handlers if handlers is not None else logging.getLogger().handlers):
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(token_filter)
    return token_filter


def configure_logging(
    level: str,
    token: str,
    *,
    httpx_level: str = "WARNING",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Attach a stream handler to the root logger and redact the token on all root handlers."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(httpx_level)
    install_redaction([token])
    return handler
