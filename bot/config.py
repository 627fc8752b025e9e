"""Bot settings: one frozen :class:`BotConfig`, built once by the entry point.

:func:`load_config` reads ``.env`` (python-dotenv) and the process environment (which wins);
nothing reads the environment at import time. Each setting is declared once, as a field of
:class:`BotConfig` built by :func:`setting`: its variable, its default and its parser.
``.env.example`` lists every setting (tested).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

from bot.parsing import ascii_decimal, ascii_int, zone_info
from bot.telegram_text import shorten
from smallq.errors import InputError

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"

#: parses one variable's (stripped, non-empty) text; ``name`` goes into the error message
Parser = Callable[[str, str], Any]


def setting(env: str, default: Any, parse: Parser, *, secret: bool = False) -> Any:
    """Declare one setting: its variable, its default (used when unset or empty), its parser.

    The declaration is the dataclass field, so the default is written once; the variable
    and the parser ride in the field's metadata for :func:`load_config`.
    """
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse})


def _text(name: str, text: str) -> str:
    return text


def _url(name: str, text: str) -> str:
    return text.rstrip("/")


def _path(name: str, text: str) -> Path:
    return Path(text)


def _int(low: int, high: int) -> Parser:
    def parse(name: str, text: str) -> int:
        value = ascii_int(text, low, high)
        if value is None:
            raise InputError(
                f"{name} must be a whole number from {low} to {high}, got {_quote(text)}",
                field=name,
            )
        return value

    return parse


def _float(low: float, high: float) -> Parser:
    def parse(name: str, text: str) -> float:
        value = ascii_decimal(text)
        if value is None or not low <= value <= high:
            raise InputError(
                f"{name} must be a number from {low:g} to {high:g}, got {_quote(text)}",
                field=name,
            )
        return value

    return parse


_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _quote(text: str) -> str:
    """A short quote of a bad value: the error stays one short line."""
    return shorten(repr(text), 40)


def _hhmm(name: str, text: str) -> str:
    match = _HHMM.fullmatch(text)
    if match is None:
        raise InputError(f"{name} must be a 24-hour HH:MM time, got {_quote(text)}", field=name)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


#: Telegram ids are signed 64-bit integers
ID_RANGE = (-(2**63), 2**63 - 1)


def _choice(*allowed: str) -> Parser:
    def parse(name: str, text: str) -> str:
        value = text.lower()
        if value not in allowed:
            options = ", ".join(allowed)
            raise InputError(f"{name} must be one of {options}, got {_quote(text)}", field=name)
        return value

    return parse


def _opt_int(name: str, text: str) -> int | None:
    if not text:
        return None
    value = ascii_int(text, *ID_RANGE)
    if value is None:
        raise InputError(f"{name} must be a whole number, got {_quote(text)}", field=name)
    return value


def _int_set(name: str, text: str) -> frozenset[int]:
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    values = [_opt_int(name, item) for item in items]
    return frozenset(v for v in values if v is not None)


def _timezone(name: str, text: str) -> str:
    if zone_info(text) is None:
        raise InputError(
            f"{name} {_quote(text)} is not an IANA zone such as Europe/Berlin", field=name
        )
    return text


def _level(name: str, text: str) -> str:
    level = text.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise InputError(
            f"{name} must be DEBUG, INFO, WARNING or ERROR, got {_quote(text)}", field=name
        )
    return level


class SweepExecutorKind(StrEnum):
    """Where the weekly sweep's per-account work runs (bot.scheduler.executor)."""

    INPROCESS = "inprocess"
    DASK = "dask"


def _sweep_executor(name: str, text: str) -> SweepExecutorKind:
    try:
        return SweepExecutorKind(text.lower())
    except ValueError as exc:
        choices = ", ".join(k.value for k in SweepExecutorKind)
        message = f"{name} must be one of {choices}, got {_quote(text)}"
        raise InputError(message, field=name) from exc


def _dask_address(name: str, text: str) -> str:
    if "://" not in text:
        raise InputError(f"{name} must be an address like tcp://host:8786, got {_quote(text)}",
                         field=name)  # fmt: skip
    return text


@dataclass(frozen=True, slots=True)
class BotConfig:
    """Every bot setting, typed: one declaration per setting (variable, default, parser).

    ``.env.example`` documents each variable; a test checks it lists every one.
    """

    token: str = setting("TELEGRAM_BOT_TOKEN", "", _text, secret=True)
    api_base_url: str = setting("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL, _text)
    api_file_url: str = setting("TELEGRAM_API_FILE_URL", "", _text)
    db_path: Path = setting("SMALLQ_DB_PATH", Path("data/smallq.db"), _path)  # noqa: RUF009 (a field)
    source: str = setting("SMALLQ_SOURCE", "sample", _text)
    admin_ids: frozenset[int] = setting("SMALLQ_ADMIN_IDS", frozenset(), _int_set)
    admin_chat_id: int | None = setting("SMALLQ_ADMIN_CHAT_ID", None, _opt_int)
    timezone: str = setting("SMALLQ_TIMEZONE", "UTC", _timezone)
    #: engine worker processes (or threads); 0 = one per CPU core (:attr:`worker_count`)
    workers: int = setting("SMALLQ_WORKERS", 0, _int(0, 64))
    #: "process": builds, backtests and charts in worker processes (bot.workers); "thread"
    engine_pool: str = setting("SMALLQ_ENGINE_POOL", "process", _choice("process", "thread"))
    #: CPU priority of engine worker processes (Unix nice, 0-19): the event loop runs first
    worker_nice: int = setting("SMALLQ_WORKER_NICE", 10, _int(0, 19))
    log_level: str = setting("SMALLQ_LOG_LEVEL", "INFO", _level)
    httpx_log_level: str = setting("SMALLQ_HTTPX_LOG_LEVEL", "WARNING", _level)
    mc_paths: int | None = setting("SMALLQ_MC_PATHS", None, _opt_int)
    persistence_interval_s: float = setting("SMALLQ_PERSISTENCE_INTERVAL_S", 5.0, _float(0.5, 3600))
    throttle_burst: int = setting("SMALLQ_THROTTLE_BURST", 10, _int(1, 1000))
    throttle_rate: float = setting("SMALLQ_THROTTLE_RATE", 2.0, _float(0.01, 1000))
    #: a build waiting for an engine worker holds one: room for every user building at once
    max_concurrent_updates: int = setting("SMALLQ_MAX_CONCURRENT_UPDATES", 256, _int(1, 4096))
    request_timeout_s: float = setting("SMALLQ_REQUEST_TIMEOUT_S", 10.0, _float(0.1, 600))
    #: retries of a request answered 429, by the application's rate limiter
    #: (:class:`bot.ptb.ratelimit.PriorityRateLimiter`)
    rate_limit_retries: int = setting("SMALLQ_RATE_LIMIT_RETRIES", 3, _int(0, 20))
    #: scheduling and paper trading (see bot.scheduler.calendar.SchedulerSettings)
    grace_hours: float = setting("SMALLQ_GRACE_HOURS", 6.0, _float(0, 168))
    paper_costs_bps: float = setting("SMALLQ_PAPER_COSTS_BPS", 10.0, _float(0, 1000))
    drift_threshold: float = setting("SMALLQ_DRIFT_THRESHOLD", 0.05, _float(0.001, 1))
    digest_day: int = setting("SMALLQ_DIGEST_DAY", 0, _int(0, 6))
    digest_time: str = setting("SMALLQ_DIGEST_TIME", "09:00", _hhmm)
    #: the weekly sweep's per-account work: in this process, or on a Dask cluster
    sweep_executor: SweepExecutorKind = setting(  # noqa: RUF009 (a field)
        "SMALLQ_SWEEP_EXECUTOR", SweepExecutorKind.INPROCESS, _sweep_executor
    )
    dask_scheduler: str = setting("SMALLQ_DASK_SCHEDULER", "", _dask_address)
    #: /dashboard: the dashboard's public base URL and the secret that signs its links
    dashboard_url: str = setting("SMALLQ_DASHBOARD_URL", "", _url)
    dashboard_secret: str = setting("SMALLQ_DASHBOARD_SECRET", "", _text, secret=True)

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
    def worker_count(self) -> int:
        """Engine workers: the setting, or one per CPU core when it is 0."""
        return self.workers or os.cpu_count() or 2

    @property
    def tzinfo(self) -> ZoneInfo:
        """The configured timezone."""
        return ZoneInfo(self.timezone)


def declared_default(name: str) -> Any:
    """The default declared for one :class:`BotConfig` field (no environment is read)."""
    return next(f.default for f in fields(BotConfig) if f.name == name)


def setting_names() -> dict[str, str]:
    """Each :class:`BotConfig` field's environment variable, in declaration order."""
    return {f.name: f.metadata["env"] for f in fields(BotConfig)}


def load_config(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> BotConfig:
    """Build the configuration from ``.env`` and the environment.

    ``environ`` defaults to ``os.environ``; values there override the ``.env`` file. An unset
    or empty variable means the declared default. A missing token is allowed here
    (``token == ""``); the entry point refuses to start.

    Raises
    ------
    InputError
        When a setting has an invalid value; the message names the variable.
    """
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for item in fields(BotConfig):
        name = item.metadata["env"]
        text = (env.get(name) or "").strip()
        if text:
            values[item.name] = item.metadata["parse"](name, text)
    return BotConfig(**values)
