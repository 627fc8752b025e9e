"""/broadcast text: a leading number is text; length is counted as Telegram counts it."""

from __future__ import annotations

import pytest

from storage.deliveries import DeliveryRepository
from tests.bot.fakes import Harness
from tests.bot.handlers.test_channels import (
    ADMIN,
    bot,  # noqa: F401  (fixture)
    chat_command,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


GROUP, NEW_GROUP, GROUP_ADMIN = -100111, -100999, 3003


async def test_broadcast_leading_number_is_text_and_long_text_is_refused(
    bot: Harness,  # noqa: F811
) -> None:
    bot.api.chat_members[(GROUP, ADMIN)] = "administrator"
    await chat_command(bot, GROUP, "/link", user=ADMIN)
    await bot.text("/broadcast 2024 was a good year", ADMIN)
    assert bot.texts(ADMIN)[-1] == "Queued for 1 chat(s)."
    queued = DeliveryRepository(bot.deps.db()).records(kind="broadcast")
    parts = DeliveryRepository(bot.deps.db()).parts(queued[-1].id)
    assert parts[0].body["text"] == "📣 2024 was a good year"
    # Telegram counts UTF-16 units after parsing: "&amp;" is 1, an emoji 2, "📣 " 3
    await bot.text("/broadcast " + "&" * 1000, ADMIN)  # 5,003 characters escaped, 1,003 shown
    assert bot.texts(ADMIN)[-1] == "Queued for 1 chat(s)."
    for text in ("y" * 4094, "😀" * 2047):  # 4,097 units each: Telegram would refuse them
        await bot.text("/broadcast " + text, ADMIN)
        assert bot.texts(ADMIN)[-1].startswith("Too long: 4097 characters")
    assert len(DeliveryRepository(bot.deps.db()).records(kind="broadcast")) == 2
