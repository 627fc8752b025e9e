"""The tick's dispatcher as the application wires it: sends go through the app's rate limiter.

The dispatcher has no pacing or 429 loop of its own: the application's limiter
(``PriorityRateLimiter``, AIORateLimiter's limits with priorities) paces sends (30/s
overall, 20/min per group) and waits out a 429 for ``retry_after`` before retrying. These
tests run the real application over the in-process fake Bot API.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ptb.ratelimit import PriorityRateLimiter
from bot.scheduler.dispatch import BROADCAST, OutgoingMessage, iso
from bot.scheduler.jobs import dispatcher_for
from storage.deliveries import DeliveryRepository, NewOccurrence
from tests.bot.fakes import Harness, make_config, make_deps

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
GROUP = -100777
NOW = datetime(2023, 1, 2, 12, 0, tzinfo=UTC)


def queue_broadcast(harness: Harness, text: str) -> int:
    repo = DeliveryRepository(harness.deps.db())
    delivery_id = repo.enqueue(
        NewOccurrence(GROUP, BROADCAST, "b1", iso(NOW), None),
        now=iso(NOW),
        parts=[OutgoingMessage(text).to_part()],
    )
    assert delivery_id is not None
    return delivery_id


def status_of(harness: Harness, delivery_id: int) -> tuple[str, str | None]:
    row = (
        harness.deps.db()
        .execute("SELECT status, not_before FROM deliveries WHERE id = ?", (delivery_id,))
        .fetchone()
    )
    return row[0], row[1]


def test_the_application_limiter_has_telegrams_flood_limits(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    harness = Harness(config, make_deps(config))
    limiter = harness.app.bot.rate_limiter
    assert isinstance(limiter, PriorityRateLimiter)
    overall = limiter._overall
    assert overall is not None
    assert (overall.bucket.max_rate, overall.bucket.time_period) == (30, 1)
    assert limiter._group_rate == (20, 60)
    assert limiter._max_retries == config.rate_limit_retries


async def test_a_429_is_waited_out_by_the_limiter_and_sent_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Harness(config, make_deps(config)) as harness:
        delivery_id = queue_broadcast(harness, "📣 hello")
        harness.api.inject("sendMessage", "429", retry_after=1)
        started = time.monotonic()
        stats = await dispatcher_for(harness.app).tick()
        waited = time.monotonic() - started
    assert stats.sent == 1 and stats.released == 0
    assert waited >= 1.0  # retry_after honoured before the retry
    assert len(harness.api.calls_of("sendMessage", GROUP)) == 2
    assert harness.api.texts_to(GROUP) == ["📣 hello"]
    assert status_of(harness, delivery_id)[0] == "sent"


async def test_a_429_the_limiter_gives_up_on_is_released_until_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known limit: the limiter waits any ``retry_after`` inline, however long.

    A 600 s flood wait keeps the tick busy for ``rate_limit_retries`` × 600 s before the
    dispatcher gets the ``RetryAfter`` and puts the row back; the lease (10 min) may run out
    meanwhile. One tick runs at a time per process, so nothing is sent twice.
    """
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("bot.ptb.ratelimit.asyncio.sleep", no_sleep)
    config = make_config(tmp_path, rate_limit_retries=2)
    async with Harness(config, make_deps(config)) as harness:
        delivery_id = queue_broadcast(harness, "📣 later")
        harness.api.inject("sendMessage", "429", times=3, retry_after=600)
        stats = await dispatcher_for(harness.app).tick()
        monkeypatch.undo()
    assert slept == [pytest.approx(600.1)] * 2  # the limiter's two inline waits
    assert stats.released == 1 and harness.api.texts_to(GROUP) == []
    status, not_before = status_of(harness, delivery_id)
    assert status == "due" and not_before == iso(NOW + timedelta(seconds=600))
