"""A stored build and the one portfolio view: what storage keeps and what front ends render.

Storage keeps a build's :class:`~smallq.presentation.PortfolioView` as a JSON document
(:class:`storage.portfolios.ViewDocument`) and imports nothing of the presentation; this
module builds that document (:func:`record_of`) and decodes it (:func:`portfolio_view`).

Rows written before views existed hold only the stress summary in that document, and notes
as plain strings; they are presented from their stored columns with the engine's code
(:func:`smallq.presentation.assemble_view`), so old and new builds show the same way.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd

from smallq.errors import StorageError
from smallq.models import (
    MonteCarloResult,
    Report,
    RiskMetrics,
    ScenarioResult,
    StressReport,
    VarEstimate,
)
from smallq.presentation import (
    VIEW_SCHEMA,
    HoldingView,
    OptimizerSummary,
    PortfolioView,
    assemble_view,
    present_portfolio,
)
from smallq.types import MonteCarloMethod, VarMethod
from storage.portfolios import (
    METRIC_FIELDS,
    PortfolioRecord,
    ViewDocument,
    record_from_report,
)


def record_of(report: Report) -> PortfolioRecord:
    """The storable record of a fresh build, with its view (presented once) as a document."""
    return record_from_report(report, ViewDocument(present_portfolio(report).to_dict()))


def portfolio_view(record: PortfolioRecord) -> PortfolioView:
    """The view of a stored build: its stored document, or its columns presented again.

    Raises
    ------
    StorageError
        When the document claims to be a view but cannot be read.
    """
    document = record.view_document
    if document.schema != VIEW_SCHEMA:
        return _legacy_view(record, document.data)
    try:
        return PortfolioView.from_dict(document.data)
    except ValueError as exc:
        raise StorageError(f"stored portfolio view is unreadable: {exc}") from exc


def _legacy_view(record: PortfolioRecord, stress: dict[str, Any]) -> PortfolioView:
    """Present a row stored before views existed, from its columns, with the engine's code."""
    risk = RiskMetrics(
        **{name: float(record.metrics.get(name, math.nan)) for name in METRIC_FIELDS},
        var=tuple(
            VarEstimate(VarMethod(v.method), v.confidence, v.horizon_days, v.var, v.cvar)
            for v in record.var
            if v.method in {m.value for m in VarMethod}
        ),
        risk_contributions=pd.Series(dict(record.risk_contributions), dtype=float),
    )
    capital = float(record.capital)
    return assemble_view(
        as_of=record.as_of,
        source=record.source,
        fetched_at=datetime.fromisoformat(record.fetched_at) if record.fetched_at else None,
        profile=record.profile,
        optimizer=OptimizerSummary(
            record.objective_requested, record.objective_used, record.solver, record.fallbacks
        ),
        capital=capital,
        cash=float(record.cash_left),
        holdings=[
            HoldingView(
                ticker=h.ticker,
                name=None,
                sector=h.sector,
                shares=h.shares,
                price=h.price,
                amount=h.amount,
                target_weight=h.target_weight,
                achieved_weight=h.amount / capital if capital > 0 else math.nan,
            )
            for h in record.holdings
        ],
        metrics=risk,
        stress=_legacy_stress(stress),
        notes=record.notes,
    )


def _legacy_stress(stress: dict[str, Any]) -> StressReport:
    scenarios = tuple(
        ScenarioResult(
            name=str(s["name"]),
            kind=str(s.get("kind", "")),
            portfolio_return=float(_nan_if_none(s.get("portfolio_return"))),
            benchmark_return=s.get("benchmark_return"),
            estimated=bool(s.get("estimated", False)),
            note=str(s.get("note", "")),
        )
        for s in stress.get("scenarios", [])
    )
    monte_carlo = tuple(
        MonteCarloResult(
            method=MonteCarloMethod(m["method"]),
            n_paths=int(m["n_paths"]),
            horizon_days=int(m["horizon_days"]),
            mean_return=float(_nan_if_none(m.get("mean_return"))),
            percentiles=_float_keys(m.get("percentiles", {})),
            loss_probabilities=_float_keys(m.get("loss_probabilities", {})),
            fan=pd.DataFrame(),
        )
        for m in stress.get("monte_carlo", [])
        if m.get("method") in {k.value for k in MonteCarloMethod}
    )
    return StressReport(scenarios=scenarios, monte_carlo=monte_carlo)


def _nan_if_none(value: Any) -> Any:
    return math.nan if value is None else value


def _float_keys(values: dict[str, Any]) -> dict[float, float]:
    return {float(k): float(_nan_if_none(v)) for k, v in values.items()}
