"""The sweep on a real Dask cluster (2 worker processes) sends what the in-process sweep sends.

Starts ``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`` on 127.0.0.1: worker
processes import smallq, receive the scattered market snapshot and the account chunks, and
return assessments; storage, rendering and sending stay in the test's process.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from bot.config import SweepExecutorKind
from bot.scheduler import jobs
from bot.scheduler.digest import DigestBuilder
from bot.scheduler.executor import DaskExecutor
from smallq.data.sample import SampleSource
from storage.db import connect
from tests.bot.fakes import Harness, make_config
from tests.bot.fakes import make_deps as make_bot_deps
from tests.bot.scheduler.sweep_population import populate
from tests.bot.scheduler.test_sweep import (
    RecordingSender,
    assert_each_sent_once,
    make_deps,
    sweep,
)

pytestmark = pytest.mark.dask
N_USERS = 12


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=":0", silence_logs=40,
    ) as cluster:  # fmt: skip
        yield cluster.scheduler_address


async def test_dask_sweep_sends_the_in_process_messages_once(
    tmp_path: Path, scheduler_address: str
) -> None:
    db = connect(tmp_path / "a.db")
    populate(db, N_USERS)
    db.close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    source = SampleSource()
    local_deps, dask_deps = make_deps(tmp_path, "a", source), make_deps(tmp_path, "b", source)
    local, remote = RecordingSender(), RecordingSender()
    await sweep(local_deps, DigestBuilder(local_deps), local)
    executor = DaskExecutor(scheduler_address)
    builder = DigestBuilder(dask_deps, sweep_executor=executor)
    builder.sweep.chunk_size = 3  # several tasks, so both workers get some
    try:
        dispatcher = await sweep(dask_deps, builder, remote)
        assert executor.tasks >= 4
        assert sorted(remote.sent) == sorted(local.sent)
        assert {chat for chat, _, _ in remote.sent} == set(range(1, N_USERS + 1))
        assert_each_sent_once(dispatcher, N_USERS)
        again = await dispatcher.tick()
        assert again.sent == 0 and len(remote.sent) == len(local.sent)
    finally:
        await executor.close()



async def test_the_bot_closes_its_dask_client_at_shutdown(
    tmp_path: Path, scheduler_address: str
) -> None:
    # before: the client the dispatcher's sweep connected stayed open after the bot stopped
    config = make_config(
        tmp_path, sweep_executor=SweepExecutorKind.DASK, dask_scheduler=scheduler_address
    )
    harness = Harness(config, make_bot_deps(config))
    async with harness:
        jobs.dispatcher_for(harness.app)
        executor = harness.app.bot_data[jobs.SWEEP_EXECUTOR_KEY]
        assert isinstance(executor, DaskExecutor)
        client = await executor.connect()  # as the first sweep does
        assert client.status == "running"
    await harness.app.post_shutdown(harness.app)  # what run_polling calls when the bot stops
    assert client.status == "closed"
    assert jobs.SWEEP_EXECUTOR_KEY not in harness.app.bot_data
