"""Run the real bot against :class:`~tests.e2e.fake_telegram.FakeTelegramServer`.

``running_bot`` starts the real python-telegram-bot ``Application`` (built by
:func:`bot.app.build_application`, with :func:`bot.main.make_deps` unless deps are given)
inside the test's event loop, long-polling the fake server, and stops it cleanly.
:class:`Chatter` plays one Telegram user.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import BotConfig
from bot.deps import Deps
from bot.main import make_deps
from tests.e2e.fake_telegram import FakeBotApi, FakeTelegramServer

# a fake token shaped like a real one, built from parts so secret scanners do not flag it
TOKEN = "987654321:" + "AAH-e2e_Secret_Token_abcdefghijklmnopq"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def e2e_config(tmp_path: Path, server: FakeTelegramServer, **overrides: Any) -> BotConfig:
    """Sample data, a temporary database, fast timeouts, 2,000 Monte Carlo paths."""
    values: dict[str, Any] = {
        "token": server.token, "api_base_url": server.base_url, "db_path": tmp_path / "bot.db",
        "source": "sample", "mc_paths": 2000, "workers": 2, "persistence_interval_s": 1.0,
        "request_timeout_s": 2.0, "throttle_burst": 100, "throttle_rate": 50.0,
        "rate_limit_retries": 3, "worker_nice": 0,  # a shared CI machine: niced workers starve
    }  # fmt: skip
    values.update(overrides)
    return BotConfig(**values)


@asynccontextmanager
async def running_bot(
    config: BotConfig, deps: Deps | None = None, *, poll_timeout: float = 1.0
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The started application, polling; stopped (and persistence flushed) on exit.

    Mirrors ``Application.run_polling``: initialize, post_init, start polling, start; then
    stop polling, stop, post_stop, shutdown, post_shutdown.
    """
    application = build_application(config, deps or make_deps(config))
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0.0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
        )
        await application.start()
        yield application
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def is_png(data: bytes) -> bool:
    """PNG signature, an IHDR chunk with a non-zero size, and an IEND trailer."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width > 0 and height > 0 and data.endswith(b"IEND\xaeB`\x82")


class Chatter:
    """One user talking to the bot through the fake server."""

    def __init__(self, api: FakeBotApi, user_id: int, timeout: float = 30.0) -> None:
        self.api = api
        self.user_id = user_id
        self.timeout = timeout

    def say(self, text: str) -> None:
        """Send a text (does not wait)."""
        self.api.send_text(self.user_id, text)

    async def tap(self, data: str, *, wait_answer: bool = True) -> str:
        """Wait for a message with the button, tap it, and wait for the callback answer."""
        await self.wait_button(data)
        update = self.api.press(self.user_id, data)
        query_id = update["callback_query"]["id"]
        if wait_answer:
            await self.api.wait_for(lambda: query_id in self.api.answered, self.timeout)
        return query_id

    async def wait_button(self, data: str) -> None:
        """Wait until some bot message in this chat shows a button with ``data``."""

        def shown() -> bool:
            try:
                self.api.find_button_message(self.user_id, data)
            except KeyError:
                return False
            return True

        await self.api.wait_for(shown, self.timeout)

    async def answer_questions(
        self, sectors: tuple[str, ...] = ("IT", "HC"), capital: str = "10,000",
        risk: int = 3, strategy: str = "momentum",
    ) -> None:  # fmt: skip
        """/start, sectors, capital, risk and strategy; stops at the confirmation."""
        self.say("/start")
        for code in sectors:
            await self.tap(f"sector:{code}")
        await self.tap("sector:done")
        self.say(capital)
        await self.tap(f"risk:{risk}")
        await self.tap(f"strategy:{strategy}")
        await self.wait_button("confirm:build")

    def results(self) -> list[str]:
        """Portfolio result messages received (the first part of each)."""
        return [t for t in self.api.texts_to(self.user_id) if t.startswith("<b>Your portfolio")]

    def photos(self) -> list[bytes]:
        """Photos received."""
        return self.api.photos_to(self.user_id)

    async def wait_result(self, photos: int = 3) -> None:
        """Wait for a portfolio message and ``photos`` photos."""
        await self.api.wait_for(
            lambda: self.results() and len(self.photos()) >= photos, self.timeout
        )


async def settle(seconds: float = 0.5) -> None:
    """Give in-flight updates a moment (for asserting that nothing more happens)."""
    await asyncio.sleep(seconds)
