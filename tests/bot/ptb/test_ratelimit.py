"""The priority rate limiter (bot.ptb.ratelimit): order, limits, 429 retries, superseded edits.

Short windows (a few per 0.1 s) on the event loop's clock stand in for 30/s and 20/min; the
checks compare the loop times at which requests were sent with the bucket's rule, never
with a wall-clock speed.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.ptb.ratelimit import COSMETIC, URGENT, Priority, PriorityRateLimiter, RateLimitArgs

LOW = RateLimitArgs(Priority.LOW)
#: float slack of the loop clock (aiolimiter wakes at, never before, the computed time)
EPS = 1e-3


class Api:
    """A fake Bot API call: records (name, loop time) when a request is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.fail_first: dict[str, float] = {}
        #: seconds a call takes (in flight)
        self.delay: dict[str, float] = {}

    def call(self, name: str) -> Any:
        async def callback() -> dict[str, Any]:
            self.sent.append((name, asyncio.get_running_loop().time()))
            await asyncio.sleep(self.delay.get(name, 0.0))
            if name in self.fail_first:
                with warnings.catch_warnings():  # PTB 22 warns about the future type
                    warnings.simplefilter("ignore", PTBDeprecationWarning)
                    raise RetryAfter(timedelta(seconds=self.fail_first.pop(name)))
            return {"name": name}

        return callback

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def times(self) -> list[float]:
        return [at for _, at in self.sent]


def request(
    limiter: PriorityRateLimiter,
    api: Api,
    name: str,
    data: dict[str, Any],
    args: RateLimitArgs | None = None,
    endpoint: str = "sendMessage",
) -> asyncio.Task[Any]:
    return asyncio.ensure_future(
        limiter.process_request(api.call(name), (), {}, endpoint, data, args)
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def slow_limiter(**kw: Any) -> PriorityRateLimiter:
    """One request per 20 ms overall: every request after the first waits its turn."""
    return PriorityRateLimiter(overall_max_rate=1, overall_time_period=0.02, **kw)


async def test_high_goes_before_low_under_contention() -> None:
    limiter, api = slow_limiter(), Api()
    first = request(limiter, api, "first", {"chat_id": 1})
    await settle()
    lows = [request(limiter, api, f"low{i}", {"chat_id": 2}, LOW) for i in range(3)]
    await settle()
    normals = [request(limiter, api, f"normal{i}", {"chat_id": 3}) for i in range(2)]
    highs = [request(limiter, api, f"high{i}", {"chat_id": 4}, URGENT) for i in range(2)]
    await asyncio.gather(first, *lows, *normals, *highs)
    # each freed unit goes to the most important waiting request, each class in order
    assert api.names() == [
        "first", "high0", "high1", "normal0", "normal1", "low0", "low1", "low2",
    ]  # fmt: skip


async def test_requests_without_a_chat_are_not_limited() -> None:
    limiter, api = slow_limiter(), Api()
    queued = [request(limiter, api, f"m{i}", {"chat_id": 1}) for i in range(3)]
    await settle()
    answer = request(
        limiter, api, "answer", {"callback_query_id": "9"}, endpoint="answerCallbackQuery"
    )
    await settle()
    assert "answer" in api.names() and api.names().index("answer") <= 1
    await asyncio.gather(*queued, answer)


async def test_overall_limit_is_the_bucket_of_aioratelimiter() -> None:
    """A burst of ``max_rate``, then never ahead of ``max_rate`` per period, across chats."""
    rate, period = 5, 0.1
    limiter, api = PriorityRateLimiter(overall_max_rate=rate, overall_time_period=period), Api()
    tasks = [request(limiter, api, f"m{i}", {"chat_id": i % 7 + 1}) for i in range(25)]
    await asyncio.gather(*tasks)
    times = api.times()
    assert len(times) == 25
    start = times[0]
    for k, at in enumerate(times):  # the k-th send needs k + 1 - rate units drained
        assert at - start >= (k + 1 - rate) * period / rate - EPS
    # any window of one period after the burst holds at most rate (+1 at its edges)
    steady = [t for t in times if t >= start + period]
    for t in steady:
        assert sum(1 for u in steady if t <= u < t + period) <= rate + 1


async def test_group_limit_per_group_and_private_chats_unaffected() -> None:
    rate, period = 3, 0.3
    limiter = PriorityRateLimiter(overall_max_rate=0, group_max_rate=rate, group_time_period=period)
    api = Api()
    group = [request(limiter, api, f"g{i}", {"chat_id": -100}) for i in range(6)]
    channel = [request(limiter, api, f"c{i}", {"chat_id": "@news"}) for i in range(2)]
    private = [request(limiter, api, f"p{i}", {"chat_id": 5}) for i in range(6)]
    await asyncio.gather(*channel, *private)
    assert not any(name.startswith("g") and int(name[1:]) >= rate for name in api.names())
    await asyncio.gather(*group)
    times = [at for name, at in api.sent if name.startswith("g")]
    for k, at in enumerate(times):
        assert at - times[0] >= (k + 1 - rate) * period / rate - EPS


async def test_retry_after_waits_everyone_and_retries() -> None:
    limiter, api = PriorityRateLimiter(max_retries=2), Api()
    api.fail_first["flooded"] = 0.1
    flooded = request(limiter, api, "flooded", {"chat_id": 1})
    await settle()
    other = request(limiter, api, "other", {"chat_id": 2})
    assert await flooded == {"name": "flooded"}
    await other
    assert api.names() == ["flooded", "other", "flooded"] or api.names() == [
        "flooded", "flooded", "other",
    ]  # fmt: skip
    first_try = api.sent[0][1]
    assert all(at >= first_try + 0.2 - EPS for _, at in api.sent[1:])  # retry_after + 0.1


async def test_retry_after_gives_up_after_max_retries() -> None:
    limiter, api = PriorityRateLimiter(max_retries=3), Api()
    api.fail_first["flooded"] = 0.0
    with pytest.raises(RetryAfter):
        await request(limiter, api, "flooded", {"chat_id": 1}, RateLimitArgs(max_retries=0))
    assert api.names() == ["flooded"]


async def test_a_waiting_keyboard_edit_is_replaced_by_the_next_edit() -> None:
    limiter, api = slow_limiter(), Api()
    blocker = request(limiter, api, "blocker", {"chat_id": 1})  # the bucket is empty now
    await settle()
    message = {"chat_id": 1, "message_id": 7}
    ticks = [
        request(limiter, api, f"tick{i}", message, COSMETIC, endpoint="editMessageReplyMarkup")
        for i in range(3)
    ]
    await settle()
    question = request(limiter, api, "question", message, URGENT, endpoint="editMessageText")
    results = await asyncio.gather(blocker, *ticks, question)
    assert api.names() == ["blocker", "question"]
    assert results[1:4] == [True, True, True]  # superseded edits report success
    assert limiter.superseded == 3


async def test_edits_of_one_message_keep_their_order() -> None:
    limiter, api = slow_limiter(), Api()
    message = {"chat_id": 1, "message_id": 7}
    api.delay["text"] = 0.05
    text = request(limiter, api, "text", message, endpoint="editMessageText")
    await settle()  # in flight
    tick = request(limiter, api, "tick", message, COSMETIC, endpoint="editMessageReplyMarkup")
    late_text = request(limiter, api, "late", message, URGENT, endpoint="editMessageText")
    await asyncio.gather(text, tick, late_text)
    # the tick waited for the text edit and was then replaced; the later text came last
    assert api.names() == ["text", "late"]
    # a text edit is never dropped, even marked cosmetic: only keyboard edits are replaced
    api.sent.clear()
    first = request(limiter, api, "first", message, COSMETIC, endpoint="editMessageText")
    second = request(limiter, api, "second", message, COSMETIC, endpoint="editMessageReplyMarkup")
    await asyncio.gather(first, second)
    assert api.names() == ["first", "second"]


async def test_a_waiting_chat_action_is_dropped_when_its_chat_gets_a_message() -> None:
    limiter, api = slow_limiter(), Api()
    blocker = request(limiter, api, "blocker", {"chat_id": 9})
    await settle()
    typing = request(limiter, api, "typing", {"chat_id": 1}, COSMETIC, endpoint="sendChatAction")
    elsewhere = request(
        limiter, api, "typing2", {"chat_id": 2}, COSMETIC, endpoint="sendChatAction"
    )
    await settle()
    answer = request(limiter, api, "answer", {"chat_id": 1}, URGENT)
    await asyncio.gather(blocker, typing, elsewhere, answer)
    assert api.names() == ["blocker", "answer", "typing2"]


async def test_cancelled_waiters_do_not_block_the_rest() -> None:
    limiter, api = slow_limiter(), Api()
    tasks = [request(limiter, api, f"m{i}", {"chat_id": 1}) for i in range(4)]
    await settle()
    tasks[1].cancel()
    tasks[2].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert api.names() == ["m0", "m3"]
