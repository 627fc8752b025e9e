"""Settings (bot.config): one declaration per setting, defaults, overrides, errors, .env.example."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from bot.config import DEFAULT_API_BASE_URL, BotConfig, load_config, setting_names
from smallq.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
#: variables .env.example documents for the `smallq` command, not the bot
#: settings in .env.example that are not the bot's: the CLI's cache and the dashboard's port
CLI_ONLY = {"SMALLQ_CACHE_PATH", "SMALLQ_DASHBOARD_PORT"}


def test_defaults_and_env_overrides(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("TELEGRAM_BOT_TOKEN=from-file\nSMALLQ_WORKERS=3\nSMALLQ_SOURCE=yahoo\n")
    config = load_config({"SMALLQ_SOURCE": "csv:/data", "SMALLQ_ADMIN_IDS": "1, 2;3"},
                         dotenv_path=dotenv)  # fmt: skip
    assert config.token == "from-file" and config.workers == 3
    assert config.source == "csv:/data"  # the environment wins over .env
    assert config.admin_ids == frozenset({1, 2, 3})
    assert config.api_base_url == DEFAULT_API_BASE_URL
    assert config.file_url == "https://api.telegram.org/file/bot"
    assert config.timezone == "UTC" and config.admin_chat_id is None
    assert "from-file" not in repr(config)


def test_self_hosted_api_url_and_file_url() -> None:
    config = load_config({"TELEGRAM_API_BASE_URL": "http://localhost:8081/bot"}, dotenv_path=None)
    assert config.file_url == "http://localhost:8081/file/bot"
    explicit = load_config({"TELEGRAM_API_FILE_URL": "http://files/bot"}, dotenv_path=None)
    assert explicit.file_url == "http://files/bot"


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMALLQ_WORKERS", "two"), ("SMALLQ_WORKERS", "0"), ("SMALLQ_TIMEZONE", "Mars/Base"),
     ("SMALLQ_ADMIN_CHAT_ID", "@chat"), ("SMALLQ_LOG_LEVEL", "LOUD"),
     ("SMALLQ_THROTTLE_RATE", "-1"), ("SMALLQ_DIGEST_TIME", "9am"),
     ("SMALLQ_DIGEST_TIME", "24:00"), ("SMALLQ_DIGEST_DAY", "7"), ("SMALLQ_GRACE_HOURS", "-1")],
)  # fmt: skip
def test_invalid_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InputError, match=name):
        load_config({name: value}, dotenv_path=None)


def test_env_example_lists_every_setting_and_loads_as_defaults() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    declared = set(setting_names().values())
    assert declared <= listed, f"missing from .env.example: {sorted(declared - listed)}"
    assert listed - declared <= CLI_ONLY, f"not declared in BotConfig: {listed - declared}"
    assert len(declared) == len(fields(BotConfig))  # one variable per field, none shared
    assert load_config({}, dotenv_path=ENV_EXAMPLE) == BotConfig()


def test_readme_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in setting_names().values() if f"`{name}`" not in readme]
    assert missing == []


def test_an_empty_variable_means_the_declared_default() -> None:
    defaults = {f.metadata["env"]: f.default for f in fields(BotConfig)}
    config = load_config(dict.fromkeys(defaults, "  "), dotenv_path=None)
    assert config == BotConfig()
    assert defaults["SMALLQ_WORKERS"] == 2 and defaults["SMALLQ_DIGEST_TIME"] == "09:00"
