"""Update processing: concurrent across users, one at a time per user, rate-limited per user.

:class:`PerUserUpdateProcessor` is passed to ``ApplicationBuilder.concurrent_updates``:

* updates of different users run concurrently (up to ``max_concurrent_updates``), so one
  user's portfolio build never holds up another user's replies;
* updates of the same user run in arrival order, one at a time, so a conversation step never
  races the next one (python-telegram-bot's ``ConversationHandler`` is not safe against two
  updates of one conversation at once);
* each user has a token bucket of ``burst`` updates refilled at ``rate`` per second; an
  update that finds the bucket empty is dropped unprocessed (logged at DEBUG). With the
  defaults (burst 10, 2 per second) thirty messages in one second cause about 12 handler
  runs, in order, and no duplicate work; a person tapping buttons never notices.
* nothing is dropped silently: a dropped button press is answered ("slow down"), so its
  spinner stops; a dropped text message (it may be the answer to an open question) gets a
  reply asking to send it again, at most once per ``notice_interval_s`` per user.

Updates without a user (channel posts, polls) are processed immediately.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

_LOG = logging.getLogger(__name__)
SLOW_DOWN = "Slow down a little, please: that tap was skipped. Try again in a second."
RESEND = (
    "You are sending messages faster than I can read them, so I skipped some. "
    "If one of them answered my question, please send it again."
)


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Serialise each user's updates and drop a user's updates beyond a rate."""

    def __init__(
        self,
        max_concurrent_updates: int = 64,
        *,
        burst: int = 10,
        rate: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        notice_interval_s: float = 10.0,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self.dropped = 0
        self.notice_interval_s = notice_interval_s
        self._noticed: dict[int, float] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user_id = _user_id(update)
        if user_id is None:
            await coroutine
            return
        if not self.admit(user_id):
            self.dropped += 1
            _LOG.debug("throttled an update of user %s", user_id)
            if hasattr(coroutine, "close"):
                coroutine.close()
            await self._tell_dropped(update, user_id)
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[user_id] -= 1
            if self._waiting[user_id] == 0:
                del self._waiting[user_id]
                self._locks.pop(user_id, None)

    async def _tell_dropped(self, update: object, user_id: int) -> None:
        """Answer a dropped button press; ask for a dropped text once in a while."""
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(SLOW_DOWN)
                return
            message = update.message
            if message is None or message.text is None:
                return
            now = self._clock()
            if now - self._noticed.get(user_id, -math.inf) < self.notice_interval_s:
                return
            self._noticed[user_id] = now
            await message.reply_text(RESEND)
        except (TelegramError, RuntimeError) as exc:  # RuntimeError: an update without a bot
            _LOG.debug("could not tell user %s about a dropped update: %s", user_id, exc)

    def admit(self, user_id: int) -> bool:
        """Take one token from the user's bucket; return whether there was one."""
        now = self._clock()
        tokens, last = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        for uid in [u for u, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[uid]
            self._noticed.pop(uid, None)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def _user_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_user is not None:
        return update.effective_user.id
    return None
