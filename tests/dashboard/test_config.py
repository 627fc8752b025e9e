"""Dashboard settings and the ``smallq-dashboard`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.config import DashboardConfig, load_dashboard_config
from dashboard.main import main, streamlit_command
from smallq.errors import InputError


def test_defaults_and_the_secret_stays_out_of_repr() -> None:
    config = load_dashboard_config({"SMALLQ_DASHBOARD_SECRET": "s" * 32}, dotenv_path=None)
    assert (config.port, config.source, config.db_path) == (8501, "sample", Path("data/smallq.db"))
    assert "s" * 32 not in repr(config)
    assert load_dashboard_config({}, dotenv_path=None) == DashboardConfig()


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_bad_port_is_refused_by_name(port: str) -> None:
    with pytest.raises(InputError, match="SMALLQ_DASHBOARD_PORT"):
        load_dashboard_config({"SMALLQ_DASHBOARD_PORT": port}, dotenv_path=None)


def test_the_command_runs_streamlit_headless_on_the_port_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command = streamlit_command(8600)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("dashboard/app.py")
    assert "--server.headless" in command and "8600" in command
    monkeypatch.setenv("SMALLQ_DASHBOARD_PORT", "nope")
    monkeypatch.chdir("/")
    assert main() == 2
    assert "SMALLQ_DASHBOARD_PORT" in capsys.readouterr().err
