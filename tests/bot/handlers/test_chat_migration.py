"""A group that becomes a supergroup keeps its link and schedule."""

from __future__ import annotations

import time

import pytest

from bot.scheduler.dispatch import DIGEST
from storage.subscriptions import ChatRepository, ScheduleRepository
from tests.bot.fakes import Harness
from tests.bot.handlers.test_channels import (
    bot,  # noqa: F401  (fixture)
    chat,
    chat_command,
)
from tests.e2e.fake_methods import ApiError

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


GROUP, NEW_GROUP, GROUP_ADMIN = -100111, -100999, 3003


async def test_link_in_a_group_that_just_migrated_follows_it(bot: Harness) -> None:  # noqa: F811
    bot.api.chat_members[(GROUP, GROUP_ADMIN)] = "administrator"
    send = bot.api.handlers["sendMessage"]

    async def upgraded(api, call):  # type: ignore[no-untyped-def]
        if call.chat_id == GROUP:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": NEW_GROUP},
            )
        return await send(api, call)

    bot.api.handlers["sendMessage"] = upgraded
    await chat_command(bot, GROUP, "/link", user=GROUP_ADMIN)
    assert not any("Sorry" in c.text for c in bot.api.calls_of("sendMessage"))
    link = ChatRepository(bot.deps.db()).get(NEW_GROUP)
    assert link is not None and link.active
    assert any(t.startswith("Linked") for t in bot.texts(NEW_GROUP))


async def test_migration_service_message_moves_links_and_schedules(bot: Harness) -> None:  # noqa: F811
    bot.api.chat_members[(GROUP, GROUP_ADMIN)] = "administrator"
    await chat_command(bot, GROUP, "/link", user=GROUP_ADMIN)
    bot.api.push_update({"message": {
        "message_id": 9000, "date": int(time.time()), "chat": chat(GROUP, "group"),
        "from": {"id": GROUP_ADMIN, "is_bot": False, "first_name": "A"},
        "migrate_to_chat_id": NEW_GROUP,
    }})  # fmt: skip
    await bot.run()
    chats = ChatRepository(bot.deps.db())
    assert chats.get(NEW_GROUP) is not None and chats.get(GROUP) is None
    assert chats.resolve(GROUP) == NEW_GROUP
    assert ScheduleRepository(bot.deps.db()).get(NEW_GROUP, DIGEST) is not None
    assert not any("Sorry" in c.text for c in bot.api.calls_of("sendMessage"))
