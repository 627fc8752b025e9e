"""The entry point (bot.main): wiring the deps, and one-line exits when it cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.main import NO_TOKEN, main


def test_scheduler_settings_reach_the_deps(tmp_path: Path) -> None:
    from bot.main import make_deps

    config = load_config(
        {"SMALLQ_DB_PATH": str(tmp_path / "s.db"), "SMALLQ_GRACE_HOURS": "2",
         "SMALLQ_DIGEST_DAY": "4", "SMALLQ_DIGEST_TIME": "7:30", "SMALLQ_DRIFT_THRESHOLD": "0.1",
         "SMALLQ_PAPER_COSTS_BPS": "7"},
        dotenv_path=None,
    )  # fmt: skip
    deps = make_deps(config)
    try:
        assert deps.scheduler.grace.total_seconds() == 2 * 3600
        assert (deps.scheduler.link_day, deps.scheduler.link_time) == (4, "07:30")
        assert deps.scheduler.drift_threshold == 0.1
        # builds leave room for the fees Accept pays (the paper ledger's costs)
        assert deps.params.purchase_costs_bps == deps.scheduler.costs_bps == 7.0
        assert deps.run_backtest is not None
        assert deps.engine_pool is not None  # the default: builds in worker processes
    finally:
        deps.executor.shutdown()
        if deps.engine_pool is not None:
            deps.engine_pool.shutdown()


def test_main_without_token_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert main() == 2
    err = capsys.readouterr().err
    assert err.strip() == NO_TOKEN and err.count("\n") == 1


def test_main_with_bad_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMALLQ_WORKERS", "many")
    assert main() == 2
    assert "SMALLQ_WORKERS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMALLQ_TIMEZONE", "Europe"),  # a directory of zones: IsADirectoryError before
        ("SMALLQ_TIMEZONE", "America"),
        ("SMALLQ_TIMEZONE", "Z" * 300),  # over-long: OSError before
        ("SMALLQ_DIGEST_TIME", "²:00"),  # "²".isdigit(), then int("²") raised before
        ("SMALLQ_WORKERS", "٤"),  # int() reads Arabic-Indic digits: refused, ASCII only
        ("SMALLQ_ADMIN_IDS", "1,②"),
    ],
)
def test_main_with_an_unreadable_setting_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv(variable, value)
    assert main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and variable in err and "Traceback" not in err
    assert len(err) < 200
