"""The engine pool (bot.workers): jobs in worker processes, errors back, a crash survived."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.services.portfolio import RESULT_CHARTS, build_job, levels_job
from bot.views.draft import Draft
from bot.workers import Engine, EnginePool, open_engine
from smallq import errors
from smallq.errors import InvalidCapitalError, SmallQError, WorkerCrashedError
from smallq.params import DEFAULT_PARAMS

PARAMS = replace(DEFAULT_PARAMS, mc_paths=500)
TODAY = date(2022, 12, 30)


def pid_job(engine: Engine) -> tuple[int, str]:
    return os.getpid(), type(engine.source).__name__


def capital_error_job(engine: Engine, amount: float) -> None:
    raise InvalidCapitalError(amount, "below the cheapest share")


def bug_job(engine: Engine) -> None:
    raise KeyError("a bug")


def crash_job(engine: Engine) -> None:
    os._exit(3)  # a worker killed mid-job (out of memory, SIGKILL)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePool]:
    db = tmp_path_factory.mktemp("pool") / "bot.db"
    engine_pool = EnginePool(1, source="sample", db_path=str(db), params=PARAMS)
    yield engine_pool
    engine_pool.shutdown()


def a_profile() -> object:
    draft = Draft()
    draft.toggle("IT")
    draft.toggle("HC")
    draft.capital, draft.risk, draft.strategy = 10_000.0, 3, "momentum"
    return draft.to_profile(None)


def test_every_smallq_error_pickles_with_its_user_message() -> None:
    samples: list[SmallQError] = [
        InvalidCapitalError("-5", "it must be positive"),
        errors.DataUnavailableError(["AAPL"], "no rows", retryable=True),
        errors.AllocationError(100.0, 250.0),
        WorkerCrashedError("build_job"),
    ]
    for exc in samples:
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc)
        assert back.user_message() == exc.user_message() and str(back) == str(exc)
        assert back.retryable == exc.retryable


async def test_jobs_run_in_another_process_with_their_own_source(pool: EnginePool) -> None:
    assert pool.method in ("forkserver", "spawn")
    pids = await pool.start()
    pid, source = await pool.run(pid_job)
    assert pid != os.getpid() and pid in pids
    assert source == "SampleSource"


async def test_a_domain_error_comes_back_with_its_message(pool: EnginePool) -> None:
    with pytest.raises(InvalidCapitalError) as caught:
        await pool.run(capital_error_job, 5.0)
    assert caught.value.user_message() == "That amount doesn't work: below the cheapest share."
    with pytest.raises(KeyError):
        await pool.run(bug_job)


async def test_a_crashed_worker_gives_a_retryable_error_and_a_new_pool(pool: EnginePool) -> None:
    before = pool.restarts
    with pytest.raises(WorkerCrashedError) as caught:
        await pool.run(crash_job)
    assert caught.value.retryable and "try again" in caught.value.user_message()
    assert pool.restarts == before + 1
    pid, _ = await pool.run(pid_job)  # the next job runs on the new pool
    assert pid != os.getpid()


async def test_a_build_in_a_worker_equals_the_same_build_in_this_process(
    pool: EnginePool, tmp_path: Path
) -> None:
    profile = a_profile()
    report, charts = await pool.run(build_job, profile, TODAY, RESULT_CHARTS)
    local = open_engine("sample", str(tmp_path / "local.db"), PARAMS)
    expected, _ = build_job(local, profile, TODAY, ())
    assert list(charts) == list(RESULT_CHARTS)
    assert all(png.startswith(b"\x89PNG") for png in charts.values())
    assert report.as_of == expected.as_of and report.candidates == expected.candidates
    weights, same = report.optimization.weights, expected.optimization.weights
    assert (weights - same).abs().max() < 1e-9


async def test_the_level_table_in_a_worker_equals_the_same_table_in_this_process(
    pool: EnginePool, tmp_path: Path
) -> None:
    from smallq.pipeline import compare_levels

    profile = a_profile()
    table = await pool.run(levels_job, profile, TODAY)
    local = open_engine("sample", str(tmp_path / "local.db"), PARAMS)
    expected = compare_levels(profile, local.source, today=TODAY, params=PARAMS)
    assert table.as_of == expected.as_of and table.candidates == expected.candidates
    for got, want in zip(table.outcomes, expected.outcomes, strict=True):
        assert got.level == want.level
        assert (got.weights - want.weights).abs().max() < 1e-9
        assert got.var_95 == pytest.approx(want.var_95, abs=1e-12)


async def test_quick_jobs_have_their_own_worker_and_survive_a_crash_there(
    tmp_path: Path,
) -> None:
    lanes = EnginePool(
        1, source="sample", db_path=str(tmp_path / "bot.db"), params=PARAMS, quick_workers=1
    )
    try:
        assert len(set(await lanes.start())) == 2
        main_pid, _ = await lanes.run(pid_job)
        quick_pid, _ = await lanes.run(pid_job, quick=True)
        assert main_pid != quick_pid  # a level table never waits behind queued builds
        with pytest.raises(WorkerCrashedError):
            await lanes.run(crash_job, quick=True)
        assert lanes.restarts == 1
        assert (await lanes.run(pid_job))[0] == main_pid  # the main lane was not touched
        assert (await lanes.run(pid_job, quick=True))[0] not in (main_pid, quick_pid)
    finally:
        lanes.shutdown()
