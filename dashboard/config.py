"""Dashboard settings: one frozen :class:`DashboardConfig`, built once per server process.

Read from ``.env`` and the environment (which wins), like the bot's; ``.env.example`` lists
every variable. Nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from smallq.errors import InputError


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """Every dashboard setting, typed. ``secret`` never appears in a repr, log or page."""

    port: int = 8501
    secret: str = field(default="", repr=False)
    url: str = "http://localhost:8501"
    db_path: Path = Path("data/smallq.db")
    source: str = "sample"
    mc_paths: int | None = None
    timezone: str = "UTC"


def load_dashboard_config(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> DashboardConfig:
    """Build the configuration from ``.env`` and the environment.

    Raises
    ------
    InputError
        When a setting has an invalid value; the message names the variable, never a value
        of the secret.
    """
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    def get(name: str, default: str = "") -> str:
        return (env.get(name) or default).strip()

    port = _int("SMALLQ_DASHBOARD_PORT", get("SMALLQ_DASHBOARD_PORT", "8501"), 1, 65535)
    mc_text = get("SMALLQ_MC_PATHS")
    return DashboardConfig(
        port=port,
        secret=get("SMALLQ_DASHBOARD_SECRET"),
        url=get("SMALLQ_DASHBOARD_URL", f"http://localhost:{port}").rstrip("/"),
        db_path=Path(get("SMALLQ_DB_PATH", "data/smallq.db")),
        source=get("SMALLQ_SOURCE", "sample"),
        mc_paths=_int("SMALLQ_MC_PATHS", mc_text, 100, 1_000_000) if mc_text else None,
        timezone=get("SMALLQ_TIMEZONE", "UTC"),
    )


def _int(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise InputError(f"{name} must be a whole number, got {text!r}", field=name) from exc
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {value}", field=name)
    return value
