"""Present a stored build: its stored view document, or its columns presented again.

Storage keeps a build's :class:`~smallq.presentation.PortfolioView` as a JSON document and
imports nothing of the presentation. Every front end (the bot, the dashboard) reads a stored
build through :func:`stored_view`, which takes the stored record structurally (the protocols
below match ``storage.portfolios.PortfolioRecord``), so the engine imports no storage.

Rows written before views existed hold only the stress summary in that document, and notes
as plain strings; they are presented from their stored columns with :func:`assemble_view`,
so old and new builds show the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from smallq.errors import StorageError
from smallq.models import (
    MonteCarloResult,
    Note,
    Profile,
    RiskMetrics,
    ScenarioResult,
    StressReport,
    VarEstimate,
)
from smallq.presentation.build import assemble_view
from smallq.presentation.view import VIEW_SCHEMA, HoldingView, OptimizerSummary, PortfolioView
from smallq.types import MonteCarloMethod, VarMethod

METRIC_FIELDS = tuple(
    f.name for f in fields(RiskMetrics) if f.name not in ("var", "risk_contributions")
)


class StoredHolding(Protocol):
    """One stored holding, as storage keeps it."""

    @property
    def ticker(self) -> str: ...
    @property
    def sector(self) -> str | None: ...
    @property
    def target_weight(self) -> float: ...
    @property
    def shares(self) -> float: ...
    @property
    def price(self) -> float: ...
    @property
    def amount(self) -> float: ...


class StoredVar(Protocol):
    """One stored VaR row."""

    @property
    def method(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def horizon_days(self) -> int: ...
    @property
    def var(self) -> float: ...
    @property
    def cvar(self) -> float: ...


class StoredDocument(Protocol):
    """The stored view document."""

    @property
    def schema(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


class StoredBuild(Protocol):
    """A stored build (``storage.portfolios.PortfolioRecord``), read structurally."""

    @property
    def as_of(self) -> date: ...
    @property
    def source(self) -> str: ...
    @property
    def fetched_at(self) -> str | None: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def capital(self) -> float: ...
    @property
    def cash_left(self) -> float: ...
    @property
    def objective_requested(self) -> str: ...
    @property
    def objective_used(self) -> str: ...
    @property
    def fallbacks(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def solver(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, Any]: ...
    @property
    def var(self) -> Sequence[StoredVar]: ...
    @property
    def risk_contributions(self) -> tuple[tuple[str, float], ...]: ...
    @property
    def view_document(self) -> StoredDocument: ...
    @property
    def holdings(self) -> Sequence[StoredHolding]: ...
    @property
    def notes(self) -> tuple[Note, ...]: ...


def stored_view(record: StoredBuild) -> PortfolioView:
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


def _legacy_view(record: StoredBuild, stress: dict[str, Any]) -> PortfolioView:
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
