"""The real ``python -m bot`` with a token Telegram rejects: exit 2, token never printed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.fake_telegram import FakeTelegramServer
from tests.e2e.harness import TOKEN

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


ROOT = Path(__file__).resolve().parents[2]


REVOKED = "222222222:" + "BBB-revoked_Secret_Token_abcdefghijkl"


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def test_rejected_token_is_not_printed(tmp_path: Path, server: FakeTelegramServer) -> None:
    env = {
        **os.environ, "TELEGRAM_BOT_TOKEN": REVOKED, "TELEGRAM_API_BASE_URL": server.base_url,
        "SMALLQ_DB_PATH": str(tmp_path / "bot.db"), "SMALLQ_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    output = (out + err).decode()
    assert process.returncode != 0  # it could not start: the server answered 401
    assert REVOKED.split(":")[1] not in output
    assert process.returncode == 2 and "Traceback" not in output
