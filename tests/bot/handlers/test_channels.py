"""Subscriptions, alert limits, linking and broadcasting: authorization included."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from bot.scheduler.dispatch import BROADCAST, DIGEST
from bot.scheduler.jobs import dispatcher_for
from storage.deliveries import DeliveryRepository
from storage.subscriptions import ChatRepository, ScheduleRepository, ThresholdRepository
from tests.bot.fakes import USER, Harness, make_config, make_deps

ADMIN = 7  # listed in the bot config's admin ids
MEMBER = 3003
GROUP, OTHER_GROUP, CHANNEL = -100111, -100222, -100333
ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
_ids = itertools.count(500)


@pytest.fixture
async def bot(tmp_path):
    config = make_config(tmp_path, admin_ids=frozenset({ADMIN}), timezone="Europe/Berlin")
    async with Harness(config, make_deps(config)) as harness:
        member = harness.api.handlers["getChatMember"]

        async def with_owner_fields(api, call):  # a "creator" answer needs is_anonymous
            answer = await member(api, call)
            if answer["status"] == "creator":
                answer["is_anonymous"] = False
            return answer

        harness.api.handlers["getChatMember"] = with_owner_fields
        yield harness


def chat(chat_id: int, kind: str = "supergroup") -> dict:
    return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}


async def chat_command(
    bot: Harness,
    chat_id: int,
    text: str,
    *,
    user: int | None = None,
    sender_chat: dict | None = None,
    channel: bool = False,
) -> None:
    message = {
        "message_id": next(_ids), "date": int(time.time()),
        "chat": chat(chat_id, "channel" if channel else "supergroup"), "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
    }  # fmt: skip
    if user is not None:
        message["from"] = {"id": user, "is_bot": False, "first_name": "U"}
    if sender_chat is not None:
        message["sender_chat"] = sender_chat
        message.setdefault("from", ANONYMOUS_BOT)
    bot.api.push_update({"channel_post" if channel else "message": message})
    await bot.run()


def links(bot: Harness) -> list[int]:
    return [link.chat_id for link in ChatRepository(bot.deps.db()).links()]


async def test_subscribe_stores_schedule_in_user_timezone(bot: Harness) -> None:
    await bot.text("/subscribe weekly mon 09:00 America/New_York")
    schedule = ScheduleRepository(bot.deps.db()).get(USER, DIGEST)
    assert schedule is not None and schedule.active and schedule.rule == "drift"
    # the clock is Mon 2023-01-02 12:00 UTC = 07:00 New York: today 09:00 EST = 14:00 UTC
    assert schedule.next_due_at == "2023-01-02T14:00:00+00:00"
    assert "every Monday at 09:00 (America/New_York)" in bot.texts()[-1]
    await bot.text("/subscribe monthly 31 18:30")
    schedule = ScheduleRepository(bot.deps.db()).get(USER, DIGEST)
    assert (schedule.timezone, schedule.rule) == ("Europe/Berlin", "calendar")
    assert schedule.next_due_at == "2023-01-31T17:30:00+00:00"
    await bot.text("/unsubscribe")
    assert not ScheduleRepository(bot.deps.db()).get(USER, DIGEST).active
    assert "Unsubscribed" in bot.texts()[-1]


async def test_bad_subscribe_reasks_and_stores_nothing(bot: Harness) -> None:
    for text in (
        "/subscribe daily 09:00 x",
        "/subscribe weekly mon 25:00",
        "/subscribe weekly mon 09:00 Mars/Base",
    ):
        await bot.text(text)
        assert "/subscribe" in bot.texts()[-1] or "time zone" in bot.texts()[-1]
    assert ScheduleRepository(bot.deps.db()).get(USER, DIGEST) is None


async def test_alert_thresholds_set_list_reset(bot: Harness) -> None:
    await bot.text("/alerts set var 3%")
    await bot.text("/alerts set drift 4%")
    assert ThresholdRepository(bot.deps.db()).overrides(USER) == pytest.approx(
        {"var_limit": 0.03, "drift_threshold": 0.04}
    )
    text = bot.texts()[-1]
    assert "3.0%" in text and "(yours)" in text and "4.0%" in text
    await bot.text("/alerts set var lots")
    assert "not a number" in bot.texts()[-1]
    await bot.text("/alerts reset")
    assert ThresholdRepository(bot.deps.db()).overrides(USER) == {}
    assert "2.5%" in bot.texts()[-1]  # the moderate default again


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("var 0.5", {"var_limit": 0.005}),  # before: 0.5 was read as 50%
        ("var 0.5%", {"var_limit": 0.005}),
        ("var 3", {"var_limit": 0.03}),
        ("var 3%", {"var_limit": 0.03}),
        ("cvar 4.25", {"cvar_limit": 0.0425}),
        ("drawdown 1", {"drawdown_limit": 0.01}),  # before: 1 was read as 100% and refused
        ("max_weight 1", None),  # 1% is below the 5% floor: refused, not read as 100%
        ("max_weight 100", {"max_weight": 1.0}),
        ("drift 0.5", {"drift_threshold": 0.005}),  # before: 0.5 was read as 50%
        ("drift 4", {"drift_threshold": 0.04}),
        ("var 0.03", None),  # 0.03% is below the 0.1% floor: refused, not read as 3%
        ("drift 0.04", None),  # before: read as 4%
        ("var 60%", None),
        ("var 3x", None),  # x is for ratios
        ("vol_spike 1.8x", {"vol_spike_ratio": 1.8}),
        ("vol_spike 1.8", {"vol_spike_ratio": 1.8}),
        ("vol_spike 180%", None),  # a ratio, not a percent
        ("stale_days 5", {"stale_days": 5.0}),
    ],
)
async def test_alert_percent_limits_are_always_percent_points(
    bot: Harness, text: str, stored: dict[str, float] | None
) -> None:
    await bot.text(f"/alerts set {text}")
    assert ThresholdRepository(bot.deps.db()).overrides(USER) == pytest.approx(stored or {})
    if stored is None:  # refused with the rule and the usage line
        assert "percent points" in bot.texts()[-1] and "/alerts set" in bot.texts()[-1]
    else:
        assert "Alert limits" in bot.texts()[-1]


async def test_only_group_admins_can_link(bot: Harness) -> None:
    await chat_command(bot, GROUP, "/link", user=MEMBER)
    assert links(bot) == [] and "Only this chat's admins" in bot.texts(GROUP)[-1]
    bot.api.chat_members[(GROUP, MEMBER)] = "administrator"
    await chat_command(bot, GROUP, "/link@smallq_test_bot", user=MEMBER)
    assert links(bot) == [GROUP]
    link = ChatRepository(bot.deps.db()).get(GROUP)
    assert link.linked_by == MEMBER and link.portfolio_id is None
    schedule = ScheduleRepository(bot.deps.db()).get(GROUP, DIGEST)
    assert schedule.active and (schedule.day, schedule.local_time) == (0, "09:00")
    assert "every Monday at 09:00 (Europe/Berlin)" in bot.texts(GROUP)[-1]
    bot.api.chat_members[(OTHER_GROUP, 42)] = "creator"
    await chat_command(bot, OTHER_GROUP, "/link", user=42)
    assert links(bot) == [OTHER_GROUP, GROUP]
    await chat_command(bot, GROUP, "/unlink", user=99)  # a member cannot unlink
    assert GROUP in links(bot)
    await chat_command(bot, GROUP, "/unlink", user=MEMBER)
    assert links(bot) == [OTHER_GROUP]
    assert not ScheduleRepository(bot.deps.db()).get(GROUP, DIGEST).active


async def test_anonymous_admins_and_channel_posts_are_admins(bot: Harness) -> None:
    await chat_command(bot, GROUP, "/link", sender_chat=chat(GROUP))
    assert links(bot) == [GROUP] and ChatRepository(bot.deps.db()).get(GROUP).linked_by is None
    assert not bot.api.calls_of("getChatMember")  # the sender is the group itself
    # a message sent on behalf of another chat (e.g. a linked channel's forward) is not
    await chat_command(bot, OTHER_GROUP, "/link", sender_chat=chat(CHANNEL, "channel"))
    assert OTHER_GROUP not in links(bot)
    await chat_command(bot, CHANNEL, "/link", sender_chat=chat(CHANNEL, "channel"), channel=True)
    assert CHANNEL in links(bot)


async def test_link_in_private_chat_or_to_foreign_portfolio_is_refused(bot: Harness) -> None:
    await bot.text("/link")
    assert "inside the group or channel" in bot.texts()[-1]
    bot.api.chat_members[(GROUP, MEMBER)] = "administrator"
    await chat_command(bot, GROUP, "/link 12345", user=MEMBER)
    assert links(bot) == [] and "you built yourself" in bot.texts(GROUP)[-1]


async def test_broadcast_authorization(bot: Harness) -> None:
    bot.api.chat_members[(GROUP, USER)] = "administrator"
    await bot.text("/broadcast hello")
    assert "No linked chat" in bot.texts()[-1]
    await chat_command(bot, GROUP, "/link", user=USER)
    bot.api.chat_members[(OTHER_GROUP, MEMBER)] = "administrator"
    await chat_command(bot, OTHER_GROUP, "/link", user=MEMBER)
    await bot.text(f"/broadcast {OTHER_GROUP} not yours")
    assert "Only bot admins" in bot.texts()[-1]
    await bot.text("/broadcast <b>hi</b> & welcome")
    assert "Queued for 1 chat(s)" in bot.texts()[-1]
    await bot.text(f"/broadcast {OTHER_GROUP} from the admin", user=ADMIN)
    await bot.text("/broadcast to everyone", user=ADMIN)
    assert "Queued for 2 chat(s)" in bot.texts(ADMIN)[-1]
    rows = DeliveryRepository(bot.deps.db()).records(kind=BROADCAST)
    assert sorted(r.chat_id for r in rows) == sorted([GROUP, OTHER_GROUP, OTHER_GROUP, GROUP])
    dispatcher = dispatcher_for(bot.app)
    dispatcher.clock = lambda: datetime(2023, 1, 2, 12, 0, tzinfo=UTC)
    await dispatcher.tick()
    assert bot.texts(GROUP)[-2:] == ["📣 &lt;b&gt;hi&lt;/b&gt; &amp; welcome", "📣 to everyone"]
    assert bot.texts(OTHER_GROUP)[-2:] == ["📣 from the admin", "📣 to everyone"]
    await dispatcher.tick()  # nothing is sent twice
    assert len([t for t in bot.texts(GROUP) if t.startswith("📣")]) == 2


async def test_bot_removed_from_chat_marks_it_unreachable(bot: Harness) -> None:
    bot.api.push_update({"my_chat_member": {
        "chat": chat(GROUP), "from": {"id": 5, "is_bot": False, "first_name": "A"},
        "date": int(time.time()),
        "old_chat_member": {"status": "member", "user": bot.api.bot_user},
        "new_chat_member": {"status": "kicked", "user": bot.api.bot_user, "until_date": 0},
    }})  # fmt: skip
    await bot.run()
    assert not ChatRepository(bot.deps.db()).is_reachable(GROUP)
    ChatRepository(bot.deps.db()).mark_unreachable(USER, "forbidden")
    await bot.text("/help")  # a user who writes again is reachable again
    assert ChatRepository(bot.deps.db()).is_reachable(USER)
