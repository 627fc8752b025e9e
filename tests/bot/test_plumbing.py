"""Config, entry point, token redaction, per-user throttle and the SQLite persistence."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import httpx
import pytest
from telegram import Update

from bot.config import DEFAULT_API_BASE_URL, load_config
from bot.deps import ConnectionFactory
from bot.main import NO_TOKEN, main
from bot.ptb.persistence import SqlitePersistence
from bot.ptb.redaction import REDACTED, TokenRedactingFilter, configure_logging, redact
from bot.ptb.throttle import PerUserUpdateProcessor
from smallq.errors import InputError
from tests.bot.fakes import TOKEN, USER, Harness, make_config, make_deps

# --------------------------------------------------------------------------- config


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


def test_scheduler_settings_reach_the_deps(tmp_path: Path) -> None:
    from bot.main import make_deps

    config = load_config(
        {"SMALLQ_DB_PATH": str(tmp_path / "s.db"), "SMALLQ_GRACE_HOURS": "2",
         "SMALLQ_DIGEST_DAY": "4", "SMALLQ_DIGEST_TIME": "7:30", "SMALLQ_DRIFT_THRESHOLD": "0.1"},
        dotenv_path=None,
    )  # fmt: skip
    deps = make_deps(config)
    try:
        assert deps.scheduler.grace.total_seconds() == 2 * 3600
        assert (deps.scheduler.link_day, deps.scheduler.link_time) == (4, "07:30")
        assert deps.scheduler.drift_threshold == 0.1
        assert deps.run_backtest is not None
    finally:
        deps.executor.shutdown()


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


def test_main_without_token_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert main() == 2
    err = capsys.readouterr().err
    assert err.strip() == NO_TOKEN and err.count("\n") == 1


def test_main_with_bad_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMALLQ_WORKERS", "many")
    assert main() == 2
    assert "SMALLQ_WORKERS" in capsys.readouterr().err


# --------------------------------------------------------------------------- redaction
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


# --------------------------------------------------------------------------- throttle
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_admits_burst_then_rate() -> None:
    clock = Clock()
    throttle = PerUserUpdateProcessor(8, burst=10, rate=2.0, clock=clock)
    assert sum(throttle.admit(1) for _ in range(30)) == 10
    assert throttle.admit(2)  # other users are unaffected
    clock.now = 1.0
    assert sum(throttle.admit(1) for _ in range(30)) == 2
    clock.now = 100.0
    assert sum(throttle.admit(1) for _ in range(30)) == 10


def update_of(user: int, update_id: int) -> Update:
    return Update.de_json(
        {"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "T"}, "text": "x"}},
        None,
    )  # fmt: skip


async def test_one_user_in_order_users_in_parallel() -> None:
    throttle = PerUserUpdateProcessor(16, burst=100, rate=1.0)
    running: dict[int, int] = {}
    overlap: list[tuple[int, int]] = []
    order: list[tuple[int, int]] = []

    async def work(user: int, n: int) -> None:
        running[user] = running.get(user, 0) + 1
        overlap.append((user, running[user]))
        await asyncio.sleep(0.01)
        order.append((user, n))
        running[user] -= 1

    jobs = [throttle.process_update(update_of(u, i), work(u, i)) for i in range(5) for u in (1, 2)]
    await asyncio.gather(*jobs)
    assert max(c for _, c in overlap) == 1  # never two updates of one user at once
    assert [n for u, n in order if u == 1] == list(range(5))
    assert order[:2] in ([(1, 0), (2, 0)], [(2, 0), (1, 0)])  # users interleave


async def test_thirty_updates_in_a_second_do_bounded_work() -> None:
    throttle = PerUserUpdateProcessor(64, burst=10, rate=2.0)
    done: list[int] = []

    async def work(n: int) -> None:
        done.append(n)

    await asyncio.gather(*(throttle.process_update(update_of(1, i), work(i)) for i in range(30)))
    assert 10 <= len(done) <= 12 and throttle.dropped == 30 - len(done)
    assert done == sorted(done)


# --------------------------------------------------------------------------- persistence
async def test_persistence_round_trip(tmp_path: Path) -> None:
    factory = ConnectionFactory(tmp_path / "p.db")
    persistence = SqlitePersistence(factory)
    await persistence.update_conversation("build", (5, 5), 3)
    await persistence.update_user_data(5, {"draft": {"sectors": ["IT"], "capital": 10.0}})
    await persistence.update_user_data(6, {"bad": object()})  # not JSON: skipped, logged
    again = SqlitePersistence(ConnectionFactory(tmp_path / "p.db"))
    assert await again.get_conversations("build") == {(5, 5): 3}
    assert await again.get_user_data() == {5: {"draft": {"sectors": ["IT"], "capital": 10.0}}}
    await again.update_conversation("build", (5, 5), None)
    await again.drop_user_data(5)
    assert await again.get_conversations("build") == {}
    assert await again.get_user_data() == {}
    assert await again.get_bot_data() == {} and await again.get_chat_data() == {}


async def test_bot_data_is_not_persisted(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with Harness(cfg, make_deps(cfg)) as h:
        await h.text("/start")
        await h.app.update_persistence()
        rows = h.deps.db().execute("SELECT user_id FROM bot_user_data").fetchall()
        assert rows == [(USER,)]
        assert h.app.bot_data["deps"] is h.deps


def test_env_example_lists_every_setting_and_loads_as_defaults() -> None:
    import inspect
    import re
    from dataclasses import fields

    from bot import config as config_module
    from bot.config import BotConfig

    example = Path(__file__).resolve().parents[2] / ".env.example"
    listed = set(re.findall(r"^([A-Z_]+)=", example.read_text(), flags=re.M))
    read = set(re.findall(r'get\("([A-Z_]+)"', inspect.getsource(config_module)))
    assert read <= listed
    assert len(read) >= len(fields(BotConfig))  # one variable per field
    config = load_config({}, dotenv_path=example)
    assert config == BotConfig(token="")
