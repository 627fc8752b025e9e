"""The weekly sweep sends exactly what the per-user path sends, each message once."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from bot.deps import ConnectionFactory, Deps
from bot.scheduler.digest import DigestBuilder
from bot.scheduler.dispatch import DeliveryTarget, Dispatcher, OutgoingMessage
from bot.scheduler.executor import SweepExecutor
from smallq.data.sample import SampleSource
from smallq.pipeline import build_portfolio
from storage.db import connect
from storage.deliveries import DeliveryRepository
from tests.bot.fakes import fake_charts, make_config
from tests.bot.scheduler.sweep_population import T0, populate

NOW = T0 + timedelta(minutes=1)
Sent = tuple[int, str, tuple[tuple[str, ...], ...]]


@dataclass
class RecordingSender:
    """'Telegram': what it accepted, in order (plan ids in buttons reduced to their action)."""

    sent: list[Sent] = field(default_factory=list)

    async def send(self, chat_id: int, message: OutgoingMessage) -> int:
        buttons = tuple(tuple(d.rsplit(":", 1)[0] for _, d in row) for row in message.buttons)
        self.sent.append((chat_id, message.text, buttons))
        return len(self.sent)


class PerUser:
    """The per-user path: the same builder without ``build_many``."""

    def __init__(self, builder: DigestBuilder) -> None:
        self.builder = builder

    async def __call__(self, target: DeliveryTarget) -> Sequence[OutgoingMessage]:
        return await self.builder(target)


def make_deps(tmp_path: Path, name: str, source: SampleSource) -> Deps:
    config = make_config(tmp_path, db_path=tmp_path / f"{name}.db")
    return Deps(
        config=config, db=ConnectionFactory(config.db_path), source=lambda: source,
        build_portfolio=build_portfolio, render_charts=fake_charts,
        executor=ThreadPoolExecutor(1), clock=lambda: NOW,
    )  # fmt: skip


def two_databases(tmp_path: Path, n_users: int) -> tuple[Path, Path]:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    db = connect(first)
    populate(db, n_users)
    db.close()
    shutil.copy(first, second)
    return first, second


async def sweep(
    deps: Deps, builder: object, sender: RecordingSender, batch_size: int = 100
) -> Dispatcher:
    from bot.scheduler.dispatch import DispatchSettings

    dispatcher = Dispatcher(
        connect(deps.config.db_path), sender, builder,  # type: ignore[arg-type]
        clock=lambda: NOW, settings=DispatchSettings(batch_size=batch_size),
    )  # fmt: skip
    await dispatcher.tick()
    return dispatcher


def assert_each_sent_once(dispatcher: Dispatcher, n_users: int) -> None:
    records = DeliveryRepository(dispatcher.db).records()
    assert len(records) == n_users
    assert {r.status for r in records} == {"sent"}
    assert len({(r.chat_id, r.kind, r.period) for r in records}) == n_users


@pytest.fixture(scope="module")
def source() -> SampleSource:
    return SampleSource()


async def run_both(
    tmp_path: Path, source: SampleSource, n_users: int, executor: SweepExecutor | None = None
) -> tuple[RecordingSender, RecordingSender, Dispatcher]:
    two_databases(tmp_path, n_users)
    old_deps, new_deps = make_deps(tmp_path, "a", source), make_deps(tmp_path, "b", source)
    old, new = RecordingSender(), RecordingSender()
    await sweep(old_deps, PerUser(DigestBuilder(old_deps)), old)
    builder = DigestBuilder(new_deps, sweep_executor=executor)
    dispatcher = await sweep(new_deps, builder, new, batch_size=7)
    return old, new, dispatcher


async def test_the_sweep_sends_the_per_user_paths_messages_once(
    tmp_path: Path, source: SampleSource
) -> None:
    n_users = 12
    old, new, dispatcher = await run_both(tmp_path, source, n_users)
    assert sorted(new.sent) == sorted(old.sent)
    assert {chat for chat, _, _ in new.sent} == set(range(1, n_users + 1))
    texts = " ".join(text for _, text, _ in new.sent)
    for expected in ("Your weekly check", "Your monthly check", "Rebalance signals",
                     "No prices for GONE", "Value at risk is high", "On target"):  # fmt: skip
        assert expected in texts, expected
    assert any(buttons for _, _, buttons in new.sent)
    assert_each_sent_once(dispatcher, n_users)
    again = await dispatcher.tick()  # the same period: nothing is due any more
    assert again.sent == 0 and again.planned == 0
    assert len(new.sent) == len(old.sent)
