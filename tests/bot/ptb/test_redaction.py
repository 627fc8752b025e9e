"""Token redaction in logs (bot.ptb.redaction)."""

from __future__ import annotations

import io
import logging

import httpx
from telegram.error import InvalidToken

from bot.ptb.redaction import (
    REDACTED,
    TokenRedactingFilter,
    configure_logging,
    log_uncaught,
    redact,
)
from tests.bot.fakes import TOKEN


def test_redact_token_and_token_shapes() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/getMe"
    assert redact(url, [TOKEN]) == f"https://api.telegram.org/bot{REDACTED}/getMe"
    other = "https://x/bot555666777:" + "AAAbbbCCCdddEEEfffGGGhhhIIIjjjKKKlll/sendMessage"
    assert "AAAbbb" not in redact(other) and "/sendMessage" in redact(other)
    assert redact("7777777:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij") == REDACTED
    assert redact("price 123:45 at 10:30") == "price 123:45 at 10:30"


def test_filter_redacts_message_args_and_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TokenRedactingFilter([TOKEN]))
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        url = httpx.URL(f"http://127.0.0.1/bot{TOKEN}/getUpdates")  # not a str
        log.info('HTTP Request: %s %s "%s %d"', "POST", url, "HTTP/1.1", 200)
        log.debug("token %(t)s", {"t": TOKEN})
        try:
            raise RuntimeError(f"failed {url}")
        except RuntimeError:
            log.exception("boom %s", TOKEN)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert f'POST http://127.0.0.1/bot{REDACTED}/getUpdates "HTTP/1.1 200"' in text
    assert "RuntimeError: failed" in text


def test_configure_logging_quiets_httpx() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", TOKEN, stream=stream)
    try:
        assert logging.getLogger("httpx").level == logging.WARNING
        logging.getLogger("httpx").info("GET /bot%s/getMe", TOKEN)
        logging.getLogger("bot.test").info("hello %s", TOKEN)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert stream.getvalue().strip().endswith(f"hello {REDACTED}")
    assert "getMe" not in stream.getvalue()


def test_uncaught_exceptions_and_rejected_tokens_are_logged_redacted() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", TOKEN, stream=stream)
    try:
        try:
            raise RuntimeError(f"boom with {TOKEN}")
        except RuntimeError as exc:
            log_uncaught(type(exc), exc, exc.__traceback__)
        try:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
        except InvalidToken:
            logging.getLogger("telegram.ext").exception("Invalid token. Aborting retry loop.")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert TOKEN.split(":")[1] not in output and "boom with" in output
    assert "Invalid token. Aborting retry loop." in output
    assert output.count("Traceback") == 1  # the RuntimeError's; InvalidToken's is dropped
