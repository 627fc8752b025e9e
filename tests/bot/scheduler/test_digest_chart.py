"""The digest's performance chart reads at 300 points wide, like the engine's charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bot.scheduler.digest as digest
from smallq.performance import tracking
from tests.smallq.charts.test_phone import _check, render


def test_performance_chart_reads_at_300_points(monkeypatch: pytest.MonkeyPatch) -> None:
    days = pd.bdate_range("2022-09-01", periods=65)
    rng = np.random.default_rng(1)
    values = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, 65)), days)
    benchmark = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, 65)), days)
    tracked = tracking(values, benchmark, risk_free_rate=0.02)
    model = digest.ModelPerformance(
        "smallQ model portfolio",
        pd.Series({"AAPL": 0.5, "LLY": 0.5}),
        tracked.growth * 100,
        tracked.benchmark_growth * 100,
        days[-1].date(),
        tracked,
    )
    _check(render(lambda: digest.performance_chart(model), monkeypatch), "digest chart")
