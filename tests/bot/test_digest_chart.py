"""The digest's performance chart reads at 300 points wide, like the engine's charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bot.digest as digest
from tests.smallq.test_charts_phone import _check, render


def test_performance_chart_reads_at_300_points(monkeypatch: pytest.MonkeyPatch) -> None:
    days = pd.bdate_range("2022-09-01", periods=65)
    rng = np.random.default_rng(1)
    portfolio = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, 65)), days)
    benchmark = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, 65)), days)
    weights = pd.Series({"AAPL": 0.5, "LLY": 0.5})
    model = digest.ModelPerformance(
        "smallQ model portfolio", weights, portfolio, benchmark, days[-1].date()
    )
    figures: list[Figure] = []
    with monkeypatch.context() as patch:
        patch.setattr(digest, "figure_to_png", lambda fig: figures.append(fig) or b"")
        digest.performance_chart(model)
    _check(render(lambda: figures[-1], monkeypatch), "digest performance chart")
