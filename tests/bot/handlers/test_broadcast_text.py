"""/broadcast text: a leading number is text; a text too long once formatted is refused."""

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
    await bot.text("/broadcast " + "&" * 1000, ADMIN)  # 5000 characters once escaped
    assert bot.texts(ADMIN)[-1].startswith("Too long")
    assert len(DeliveryRepository(bot.deps.db()).records(kind="broadcast")) == 1
