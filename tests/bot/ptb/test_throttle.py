"""Per-user update processing and throttling (bot.ptb.throttle)."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.ptb.throttle import PerUserUpdateProcessor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_admits_burst_then_rate() -> None:
    clock = Clock()
    throttle = PerUserUpdateProcessor(8, burst=10, rate=2.0, clock=clock)
    assert sum(throttle.admit(1) for _ in range(30)) == 10
    assert throttle.admit(2)  # other users are unaffected
    clock.now = 1.0
    assert sum(throttle.admit(1) for _ in range(30)) == 2
    clock.now = 100.0
    assert sum(throttle.admit(1) for _ in range(30)) == 10


def update_of(user: int, update_id: int) -> Update:
    return Update.de_json(
        {"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "T"}, "text": "x"}},
        None,
    )  # fmt: skip


async def test_one_user_in_order_users_in_parallel() -> None:
    throttle = PerUserUpdateProcessor(16, burst=100, rate=1.0)
    running: dict[int, int] = {}
    overlap: list[tuple[int, int]] = []
    order: list[tuple[int, int]] = []

    async def work(user: int, n: int) -> None:
        running[user] = running.get(user, 0) + 1
        overlap.append((user, running[user]))
        await asyncio.sleep(0.01)
        order.append((user, n))
        running[user] -= 1

    jobs = [throttle.process_update(update_of(u, i), work(u, i)) for i in range(5) for u in (1, 2)]
    await asyncio.gather(*jobs)
    assert max(c for _, c in overlap) == 1  # never two updates of one user at once
    assert [n for u, n in order if u == 1] == list(range(5))
    assert order[:2] in ([(1, 0), (2, 0)], [(2, 0), (1, 0)])  # users interleave


async def test_thirty_updates_in_a_second_do_bounded_work() -> None:
    throttle = PerUserUpdateProcessor(64, burst=10, rate=2.0)
    done: list[int] = []

    async def work(n: int) -> None:
        done.append(n)

    await asyncio.gather(*(throttle.process_update(update_of(1, i), work(i)) for i in range(30)))
    assert 10 <= len(done) <= 12 and throttle.dropped == 30 - len(done)
    assert done == sorted(done)
