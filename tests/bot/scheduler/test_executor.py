"""Choosing the sweep executor from the settings."""

from __future__ import annotations

import pytest

from bot.config import SweepExecutorKind, load_config
from bot.scheduler.executor import DaskExecutor, InProcessExecutor, make_sweep_executor
from smallq.errors import InputError


def test_in_process_is_the_default() -> None:
    config = load_config({}, dotenv_path=None)
    assert config.sweep_executor is SweepExecutorKind.INPROCESS
    assert isinstance(make_sweep_executor(config), InProcessExecutor)


def test_dask_with_a_scheduler_address() -> None:
    config = load_config(
        {"SMALLQ_SWEEP_EXECUTOR": "Dask", "SMALLQ_DASK_SCHEDULER": "tcp://10.0.0.5:8786"},
        dotenv_path=None,
    )
    executor = make_sweep_executor(config)
    assert isinstance(executor, DaskExecutor) and executor.address == "tcp://10.0.0.5:8786"


@pytest.mark.parametrize(
    "env",
    [
        {"SMALLQ_SWEEP_EXECUTOR": "ray"},
        {"SMALLQ_DASK_SCHEDULER": "10.0.0.5"},
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(InputError, match=next(iter(env))):
        load_config(env, dotenv_path=None)


def test_dask_without_an_address_is_refused() -> None:
    config = load_config({"SMALLQ_SWEEP_EXECUTOR": "dask"}, dotenv_path=None)
    with pytest.raises(InputError, match="SMALLQ_DASK_SCHEDULER"):
        make_sweep_executor(config)
