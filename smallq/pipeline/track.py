"""The tracking use case: a stored portfolio's value since its build, against the benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from smallq.data.base import PriceSource
from smallq.data.market import benchmark_notes, data_end
from smallq.data.validation import clean_prices
from smallq.errors import InsufficientHistoryError, ProfileError
from smallq.measures import account_values
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.performance import tracking
from smallq.pipeline.stages import unique
from smallq.results import TrackedPortfolio

__all__ = ["track_portfolio"]


def track_portfolio(
    shares: Mapping[str, float],
    cash: float,
    since: date,
    source: PriceSource,
    *,
    today: date,
    risk_free_rate: float = DEFAULT_PARAMS.risk_free_rate,
    params: EngineParams = DEFAULT_PARAMS,
) -> TrackedPortfolio:
    """Value a stored portfolio (its shares and cash) since ``since`` against the benchmark.

    Raises
    ------
    InsufficientHistoryError
        When the data has fewer than two trading days after ``since``.
    DataError
        When the source has no prices for the holdings or no benchmark.
    """
    held = {t: float(n) for t, n in shares.items() if n}
    if not held:
        raise ProfileError("shares", dict(shares), "the portfolio holds no shares")
    end = data_end(source, today)
    if end <= since:
        raise InsufficientHistoryError(
            0,
            2,
            f"prices after {since.isoformat()}",
            "The data has no later trading day yet; track the portfolio again later.",
        )
    benchmark = source.fetch_benchmark(since, end)
    raw = source.fetch_prices(list(held), since, end)
    cleaned = clean_prices(raw, params, market=benchmark)
    prices = cleaned.close.reindex(columns=list(held)).ffill(limit=5).dropna()
    values = account_values(pd.Series(held, dtype=float), prices, cash)
    report = tracking(
        values, benchmark, risk_free_rate=risk_free_rate, periods_per_year=params.periods_per_year
    )
    notes = [*cleaned.notes, *benchmark_notes(benchmark)]
    return TrackedPortfolio(
        since=values.index[0].date(),
        end=values.index[-1].date(),
        values=values,
        tracking=report,
        notes=unique(notes),
    )
