"""Logging setup that keeps the bot token out of every log line.

The Bot API URL contains the token (``https://api.telegram.org/bot<token>/sendMessage``);
httpx logs request URLs at INFO and python-telegram-bot logs the base URL at DEBUG.
:class:`TokenRedactingFilter`, installed on every root handler, rewrites each record's
message, arguments and exception text, replacing the configured token and anything shaped
like ``bot<digits>:<secret>`` or ``<digits>:<35-char secret>``. httpx is set to WARNING unless
configured otherwise. A rejected token (``InvalidToken``, which python-telegram-bot logs with
its traceback while starting) is logged as one line: the entry point says what to do.
``configure_logging(..., excepthooks=True)`` (the entry point) also routes uncaught exceptions
of every thread through the same, redacted, log.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import IO

from telegram.error import InvalidToken

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


class RejectedTokenFilter(logging.Filter):
    """Drop the traceback of an ``InvalidToken`` record; its message line stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
            record.exc_info, record.exc_text = None, None
        return True


def install_redaction(
    secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None
) -> TokenRedactingFilter:
    """Add one :class:`TokenRedactingFilter` to ``handlers`` (default: the root's handlers)."""
    token_filter = TokenRedactingFilter(secrets)
    for handler in list(handlers if handlers is not None else logging.getLogger().handlers):
        if not any(isinstance(f, RejectedTokenFilter) for f in handler.filters):
            handler.addFilter(RejectedTokenFilter())
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(token_filter)
    return token_filter


def log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """``sys.excepthook`` that logs through the root handlers (and so is redacted)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("smallq").critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthooks() -> None:
    """Send uncaught exceptions of every thread to :func:`log_uncaught`."""
    sys.excepthook = log_uncaught
    threading.excepthook = _log_thread_exception


def configure_logging(
    level: str,
    token: str,
    *,
    httpx_level: str = "WARNING",
    stream: IO[str] | None = None,
    excepthooks: bool = False,
) -> logging.Handler:
    """Attach a stream handler to the root logger and redact the token on all root handlers.

    With ``excepthooks`` uncaught exceptions are logged (redacted) instead of printed.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(httpx_level)
    install_redaction([token])
    if excepthooks:
        install_excepthooks()
    return handler
