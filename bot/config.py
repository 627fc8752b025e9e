"""Bot settings: one frozen :class:`BotConfig`, built once by the entry point.

:func:`load_config` reads ``.env`` (python-dotenv) and the process environment (which wins);
nothing reads the environment at import time. ``.env.example`` lists every setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from smallq.errors import InputError

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


@dataclass(frozen=True, slots=True)
class BotConfig:
    """Every bot setting, typed; see ``.env.example`` for the variable behind each field."""

    token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    api_file_url: str = ""
    db_path: Path = Path("data/smallq.db")
    source: str = "sample"
    admin_ids: frozenset[int] = frozenset()
    admin_chat_id: int | None = None
    timezone: str = "UTC"
    workers: int = 2
    log_level: str = "INFO"
    httpx_log_level: str = "WARNING"
    mc_paths: int | None = None
    persistence_interval_s: float = 5.0
    throttle_burst: int = 10
    throttle_rate: float = 2.0
    max_concurrent_updates: int = 64
    request_timeout_s: float = 10.0
    rate_limit_retries: int = 3
    #: scheduling and paper trading (see bot.scheduling.SchedulerSettings)
    grace_hours: float = 6.0
    paper_costs_bps: float = 10.0
    drift_threshold: float = 0.05
    digest_day: int = 0
    digest_time: str = "09:00"
    #: /dashboard: the dashboard's public base URL and the secret that signs its links
    dashboard_url: str = ""
    dashboard_secret: str = field(default="", repr=False)

    @property
    def file_url(self) -> str:
        """File download URL prefix: the explicit setting, else derived from the API URL."""
        if self.api_file_url:
            return self.api_file_url
        base = self.api_base_url
        if base.endswith("/bot"):
            return base[: -len("bot")] + "file/bot"
        return base

    @property
    def tzinfo(self) -> ZoneInfo:
        """The configured timezone."""
        return ZoneInfo(self.timezone)


def load_config(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> BotConfig:
    """Build the configuration from ``.env`` and the environment.

    ``environ`` defaults to ``os.environ``; values there override the ``.env`` file.
    A missing token is allowed here (``token == ""``); the entry point refuses to start.

    Raises
    ------
    InputError
        When a setting has an invalid value; the message names the variable.
    """
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    get = lambda name, default="": (env.get(name) or default).strip()  # noqa: E731
    return BotConfig(
        token=get("TELEGRAM_BOT_TOKEN"),
        api_base_url=get("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL),
        api_file_url=get("TELEGRAM_API_FILE_URL"),
        db_path=Path(get("SMALLQ_DB_PATH", "data/smallq.db")),
        source=get("SMALLQ_SOURCE", "sample"),
        admin_ids=frozenset(_int_list("SMALLQ_ADMIN_IDS", get("SMALLQ_ADMIN_IDS"))),
        admin_chat_id=_opt_int("SMALLQ_ADMIN_CHAT_ID", get("SMALLQ_ADMIN_CHAT_ID")),
        timezone=_timezone(get("SMALLQ_TIMEZONE", "UTC")),
        workers=_int("SMALLQ_WORKERS", get("SMALLQ_WORKERS", "2"), 1, 64),
        log_level=_level("SMALLQ_LOG_LEVEL", get("SMALLQ_LOG_LEVEL", "INFO")),
        httpx_log_level=_level("SMALLQ_HTTPX_LOG_LEVEL", get("SMALLQ_HTTPX_LOG_LEVEL", "WARNING")),
        mc_paths=_opt_int("SMALLQ_MC_PATHS", get("SMALLQ_MC_PATHS")),
        persistence_interval_s=_float(
            "SMALLQ_PERSISTENCE_INTERVAL_S", get("SMALLQ_PERSISTENCE_INTERVAL_S", "5"), 0.5, 3600
        ),
        throttle_burst=_int("SMALLQ_THROTTLE_BURST", get("SMALLQ_THROTTLE_BURST", "10"), 1, 1000),
        throttle_rate=_float("SMALLQ_THROTTLE_RATE", get("SMALLQ_THROTTLE_RATE", "2"), 0.01, 1000),
        max_concurrent_updates=_int(
            "SMALLQ_MAX_CONCURRENT_UPDATES", get("SMALLQ_MAX_CONCURRENT_UPDATES", "64"), 1, 4096
        ),
        request_timeout_s=_float(
            "SMALLQ_REQUEST_TIMEOUT_S", get("SMALLQ_REQUEST_TIMEOUT_S", "10"), 0.1, 600
        ),
        rate_limit_retries=_int(
            "SMALLQ_RATE_LIMIT_RETRIES", get("SMALLQ_RATE_LIMIT_RETRIES", "3"), 0, 20
        ),
        grace_hours=_float("SMALLQ_GRACE_HOURS", get("SMALLQ_GRACE_HOURS", "6"), 0, 168),
        paper_costs_bps=_float(
            "SMALLQ_PAPER_COSTS_BPS", get("SMALLQ_PAPER_COSTS_BPS", "10"), 0, 1000
        ),
        drift_threshold=_float(
            "SMALLQ_DRIFT_THRESHOLD", get("SMALLQ_DRIFT_THRESHOLD", "0.05"), 0.001, 1
        ),
        digest_day=_int("SMALLQ_DIGEST_DAY", get("SMALLQ_DIGEST_DAY", "0"), 0, 6),
        digest_time=_hhmm("SMALLQ_DIGEST_TIME", get("SMALLQ_DIGEST_TIME", "09:00")),
        dashboard_url=get("SMALLQ_DASHBOARD_URL").rstrip("/"),
        dashboard_secret=get("SMALLQ_DASHBOARD_SECRET"),
    )


def _hhmm(name: str, text: str) -> str:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit()) or not (
        0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59 and len(minutes) == 2
    ):
        raise InputError(f"{name} must be a 24-hour HH:MM time, got {text!r}", field=name)
    return f"{int(hours):02d}:{minutes}"


def _int(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise InputError(f"{name} must be a whole number, got {text!r}", field=name) from exc
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _float(name: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(f"{name} must be a number, got {text!r}", field=name) from exc
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value


def _opt_int(name: str, text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise InputError(f"{name} must be a whole number, got {text!r}", field=name) from exc


def _int_list(name: str, text: str) -> list[int]:
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    values = [_opt_int(name, item) for item in items]
    return [v for v in values if v is not None]


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"SMALLQ_TIMEZONE {text!r} is not a known IANA zone", field="SMALLQ_TIMEZONE"
        ) from exc
    return text


def _level(name: str, text: str) -> str:
    level = text.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise InputError(f"{name} must be DEBUG, INFO, WARNING or ERROR, got {text!r}", field=name)
    return level
