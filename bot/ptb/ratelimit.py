"""Bot API rate limiting with priorities: the question a user waits for before cosmetic edits.

:class:`PriorityRateLimiter` is passed to ``ApplicationBuilder.rate_limiter``. It keeps the
limits python-telegram-bot's ``AIORateLimiter`` keeps, with the same aiolimiter leaky buckets:

* requests that carry a ``chat_id``: 30 per second overall (a bucket of 30 that drains at 30
  per second, so up to 30 at once after a quiet spell and 30 per second under load);
* requests to a group or channel (a negative or ``@username`` ``chat_id``): 20 per minute
  per chat, taken before the overall limit;
* a 429 (``RetryAfter``) holds *every* request for ``retry_after`` + 0.1 s and sends the
  request again, at most ``max_retries`` times (``SMALLQ_RATE_LIMIT_RETRIES``);
* requests without a ``chat_id`` (``answerCallbackQuery``, ``getMe``) are not limited, so a
  button press is answered at once.

What it adds: **waiting requests are served by priority**, then in arrival order. Each call
may pass ``rate_limit_args=RateLimitArgs(...)``; without it a request is ``NORMAL``, so nothing
is deprioritised by accident. Each unit the bucket frees goes to the most important request
waiting at that moment, so ``LOW`` waits while anything more important waits.

**Edits of one message keep their order.** A request that edits or deletes a message waits
until the previous request for that message has finished, so an older edit never lands on top
of a newer one. A *supersedable* request (``RateLimitArgs.supersedable``) that is still waiting
is dropped instead, when it becomes obsolete, and returns ``True`` without being sent:

* a keyboard edit (``editMessageReplyMarkup``), by any later edit or deletion of the same
  message (the later one sets the keyboard anyway, e.g. the next sector tick, or the
  next question written over the sectors);
* a chat action ("typing…"), by any later request to the same chat (the message it announced
  is going out; "typing…" after the message would be wrong).

A request that has been given its turn is sent; only waiting ones are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import constants
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

_LOG = logging.getLogger(__name__)
Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]
#: requests that set a message's keyboard or remove the message: each makes an older
#: keyboard edit of the same message obsolete
MESSAGE_EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "deleteMessage"})
KEYBOARD_EDIT = "editMessageReplyMarkup"
CHAT_ACTION = "sendChatAction"


class Priority(IntEnum):
    """Which waiting request goes first: higher first, then in arrival order."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class RateLimitArgs:
    """Per-call options, passed as ``rate_limit_args=`` to a bot method."""

    priority: Priority = Priority.NORMAL
    #: may be dropped while it waits, when a later request makes it obsolete (see the module)
    supersedable: bool = False
    #: retries after a 429 for this call; ``None``: the limiter's ``max_retries``
    max_retries: int | None = None


#: the next question, a result: someone is waiting for it
URGENT = RateLimitArgs(Priority.HIGH)
#: a tick on a keyboard, a removed keyboard, "typing…": after everything else, and skipped
#: when a later request makes it obsolete
COSMETIC = RateLimitArgs(Priority.LOW, supersedable=True)


class _Ticket:
    """One request on its way through the limiter."""

    __slots__ = ("endpoint", "finished", "predecessor", "priority", "supersedable", "turn")

    def __init__(self, endpoint: str, args: RateLimitArgs) -> None:
        self.endpoint = endpoint
        self.priority = args.priority
        self.supersedable = args.supersedable
        #: the turn it waits for (in a :class:`PriorityGate`, or behind an earlier edit)
        self.turn: asyncio.Future[bool] | None = None
        #: the earlier request for the same message, while this one waits for it
        self.predecessor: _Ticket | None = None
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def supersede(self) -> bool:
        """Drop the request if it still waits for its turn; return whether it was dropped."""
        if not self.supersedable or self.turn is None or self.turn.done():
            return False
        self.turn.set_result(False)
        return True

    async def wait_for(self, earlier: _Ticket) -> bool:
        """Wait until ``earlier`` finished; ``False`` when this one was superseded meanwhile."""
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.turn, self.predecessor = turn, earlier

        def go(_: object) -> None:
            if not turn.done():
                turn.set_result(True)

        earlier.finished.add_done_callback(go)
        try:
            return await turn
        finally:
            self.turn = self.predecessor = None
            earlier.finished.remove_done_callback(go)


class PriorityGate:
    """An aiolimiter bucket whose waiters are served by priority, then in arrival order.

    A request that finds nobody waiting and room in the bucket passes at once. Otherwise it
    waits in a heap; one serving task takes each unit from the bucket as it frees and only
    then hands it to the most important request waiting at that moment, so every waiting
    request stays supersedable until it is let through.
    """

    def __init__(self, bucket: AsyncLimiter) -> None:
        self.bucket = bucket
        self._waiting: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._order = itertools.count()
        self._server: asyncio.Task[None] | None = None

    async def acquire(self, ticket: _Ticket) -> bool:
        """Take one unit of the bucket; ``False`` when the ticket was superseded meanwhile."""
        if not self._waiting and self.bucket.has_capacity():
            await self.bucket.acquire()  # returns at once: there is room
            return True
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        ticket.turn = turn
        heapq.heappush(self._waiting, (-ticket.priority, next(self._order), turn))
        if self._server is None or self._server.done():
            self._server = loop.create_task(self._serve(), name="rate limiter")
        try:
            return await turn
        finally:
            ticket.turn = None

    async def _serve(self) -> None:
        while self._someone_waits():
            await self.bucket.acquire()
            while self._waiting:  # the unit goes to the best request waiting now
                _, _, turn = heapq.heappop(self._waiting)
                if not turn.done():  # not cancelled, not superseded
                    turn.set_result(True)
                    break

    def _someone_waits(self) -> bool:
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)
        return bool(self._waiting)

    @property
    def idle(self) -> bool:
        """Nobody waits and the bucket is empty (the gate can be forgotten)."""
        return not self._someone_waits() and self.bucket.has_capacity(self.bucket.max_rate)

    def close(self) -> None:
        """Stop serving (shutdown): requests still waiting stay waiting."""
        if self._server is not None:
            self._server.cancel()


class PriorityRateLimiter(BaseRateLimiter[RateLimitArgs]):
    """``AIORateLimiter``'s limits, with priorities and superseded cosmetic requests dropped.

    Parameters
    ----------
    overall_max_rate, overall_time_period : float
        Requests with a ``chat_id`` per period (default 30 per 1 s); 0 turns it off.
    group_max_rate, group_time_period : float
        Requests per group chat per period (default 20 per 60 s); 0 turns it off.
    max_retries : int
        Retries of a request answered 429; ``RateLimitArgs.max_retries`` overrides it.
    """

    def __init__(
        self,
        overall_max_rate: float = constants.FloodLimit.MESSAGES_PER_SECOND,
        overall_time_period: float = 1.0,
        group_max_rate: float = constants.FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        group_time_period: float = 60.0,
        max_retries: int = 0,
    ) -> None:
        self._overall = (
            PriorityGate(AsyncLimiter(overall_max_rate, overall_time_period))
            if overall_max_rate and overall_time_period
            else None
        )
        self._group_rate = (group_max_rate, group_time_period)
        self._groups: dict[int | str, PriorityGate] = {}
        self._max_retries = max_retries
        self._not_held = asyncio.Event()
        self._not_held.set()
        #: the latest request for each (chat, message), until it finished
        self._edits: dict[tuple[str, str], _Ticket] = {}
        #: a waiting supersedable chat action of each chat
        self._actions: dict[str, _Ticket] = {}
        #: requests dropped because a later one made them obsolete
        self.superseded = 0

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Stop the tasks that hand out turns."""
        for gate in [self._overall, *self._groups.values()]:
            if gate is not None:
                gate.close()

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RateLimitArgs | None,
    ) -> Result:
        """Send the request when its turn comes; retry it after a 429."""
        options = rate_limit_args or RateLimitArgs()
        ticket = _Ticket(endpoint, options)
        chat = data.get("chat_id")
        message = _message_key(endpoint, data)
        try:
            if chat is not None:
                self._supersede_action(str(chat))
            if message is not None and not await self._after_earlier_edit(message, ticket):
                self.superseded += 1
                return True
            if chat is not None and endpoint == CHAT_ACTION and options.supersedable:
                self._actions[str(chat)] = ticket
            retries = self._max_retries if options.max_retries is None else options.max_retries
            return await self._send(callback, args, kwargs, chat, ticket, retries)
        finally:
            ticket.finished.set_result(None)
            if message is not None and self._edits.get(message) is ticket:
                del self._edits[message]
            if chat is not None and self._actions.get(str(chat)) is ticket:
                del self._actions[str(chat)]

    async def _send(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        chat: object,
        ticket: _Ticket,
        retries: int,
    ) -> Result:
        for attempt in range(retries + 1):
            if not await self._admit(chat, ticket):
                self.superseded += 1
                return True
            try:
                await self._not_held.wait()
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    _LOG.warning("rate limit hit after %d retries: %s", retries, exc)
                    raise
                await self._hold(exc._retry_after.total_seconds() + 0.1)  # as AIORateLimiter
        raise AssertionError("unreachable")

    async def _hold(self, pause: float) -> None:
        """Hold every request for ``pause`` seconds (only the one that was refused lifts it)."""
        _LOG.info("rate limit hit; every request waits %.1f s", pause)
        self._not_held.clear()
        try:
            await asyncio.sleep(pause)
        finally:
            self._not_held.set()

    async def _admit(self, chat: object, ticket: _Ticket) -> bool:
        """The group's limit, then the overall one (as AIORateLimiter nests them)."""
        if chat is None:
            return True
        group = self._group_gate(chat)
        if group is not None and not await group.acquire(ticket):
            return False
        return self._overall is None or await self._overall.acquire(ticket)

    def _group_gate(self, chat: object) -> PriorityGate | None:
        """The gate of a group or channel; ``None`` for a private chat or no group limit."""
        rate, period = self._group_rate
        key = _group_key(chat)
        if key is None or not (rate and period):
            return None
        if len(self._groups) > 512:  # forget idle groups, as AIORateLimiter does
            for other in [k for k, gate in self._groups.items() if k != key and gate.idle]:
                del self._groups[other]
        if key not in self._groups:
            self._groups[key] = PriorityGate(AsyncLimiter(rate, period))
        return self._groups[key]

    def _supersede_action(self, chat: str) -> None:
        """A waiting chat action of this chat is obsolete: this request goes to the chat."""
        action = self._actions.pop(chat, None)
        if action is not None:
            action.supersede()

    async def _after_earlier_edit(self, message: tuple[str, str], ticket: _Ticket) -> bool:
        """Drop waiting keyboard edits this request replaces, and wait for the one before.

        Returns ``False`` when this request itself was superseded while it waited.
        """
        earlier = self._edits.get(message)
        self._edits[message] = ticket
        while earlier is not None and not earlier.finished.done():
            replaces = ticket.endpoint in MESSAGE_EDITS and earlier.endpoint == KEYBOARD_EDIT
            if replaces and earlier.supersede():
                earlier = earlier.predecessor  # it waited for this one: now this request does
                continue
            return await ticket.wait_for(earlier)
        return True


def _message_key(endpoint: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """(chat, message) of a request that changes an existing message, else ``None``."""
    if not endpoint.startswith(("editMessage", "deleteMessage", "stopPoll")):
        return None
    chat, message = data.get("chat_id"), data.get("message_id")
    if chat is None or message is None:  # an inline message: no chat to pace
        return None
    return str(chat), str(message)


def _group_key(chat: object) -> int | str | None:
    """A group's or channel's id (negative, or an ``@username``); ``None`` for a user."""
    with contextlib.suppress(TypeError, ValueError):
        chat = int(chat)  # type: ignore[call-overload]
    if isinstance(chat, int):
        return chat if chat < 0 else None
    return str(chat)
