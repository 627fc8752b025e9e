"""Plain JSON-ready dicts of a :class:`~smallq.presentation.view.PortfolioView`.

Dates are ISO strings, enums their values, tuples lists, note fields an object. Decoding is
tolerant: unknown keys are ignored, a missing optional value takes its default and ``null``
numbers read back as NaN, so a stored view survives new fields.

New fields are added this way, under the same :data:`VIEW_SCHEMA`: ``placement`` and
``out_of_sample`` (objects, or ``null``) came after the first stored views, and a document
without them reads back with ``None`` (the build had no placement or record to show).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import date, datetime
from enum import Enum
from typing import Any

from smallq.models import Note, OutOfSampleRecord, RiskPlacement
from smallq.presentation.view import (
    VIEW_SCHEMA,
    Base,
    Figure,
    HoldingView,
    MonteCarloView,
    OptimizerSummary,
    PortfolioView,
    ProfileSummary,
    ScenarioView,
    Unit,
    VarRow,
)


def view_to_dict(view: PortfolioView) -> dict[str, Any]:
    """The view as plain values with ``"schema": VIEW_SCHEMA``."""
    document = {
        "schema": VIEW_SCHEMA,
        **{
            name: _plain(getattr(view, name))
            for name in ("as_of", "source", "fetched_at", "currency", "capital", "cash")
        },
        "profile": _plain(asdict(view.profile)),
        "optimizer": _plain(asdict(view.optimizer)),
        "holdings": [_plain(asdict(h)) for h in view.holdings],
        "figures": [_plain(asdict(f)) for f in view.figures],
        "var_table": [_plain(asdict(r)) for r in view.var_table],
        "var_base": view.var_base.value,
        "risk_contributions": _plain(view.risk_contributions),
        "scenarios": [_plain(asdict(s)) for s in view.scenarios],
        "monte_carlo": [_plain(asdict(m)) for m in view.monte_carlo],
        "notes": [n.to_dict() for n in view.notes],
        "placement": None if view.placement is None else _plain(asdict(view.placement)),
        "out_of_sample": (
            None if view.out_of_sample is None else _plain(asdict(view.out_of_sample))
        ),
    }
    return document


def view_from_dict(data: dict[str, Any]) -> PortfolioView:
    """Rebuild a view written by :func:`view_to_dict`.

    Raises
    ------
    ValueError
        When the schema is not :data:`VIEW_SCHEMA` or a required field is unreadable.
    """
    if data.get("schema") != VIEW_SCHEMA:
        raise ValueError(f"not a {VIEW_SCHEMA} document: schema {data.get('schema')!r}")
    try:
        profile, optimizer = data["profile"], data["optimizer"]
        return PortfolioView(
            as_of=date.fromisoformat(data["as_of"]),
            source=str(data.get("source", "")),
            fetched_at=_datetime(data.get("fetched_at")),
            currency=str(data.get("currency", "USD")),
            capital=_float(data["capital"]),
            cash=_float(data["cash"]),
            profile=ProfileSummary(
                sectors=tuple(str(s) for s in profile.get("sectors", ())),
                risk_level=int(profile["risk_level"]),
                risk_label=str(profile["risk_label"]),
                strategy=str(profile["strategy"]),
                top_n=int(profile.get("top_n", 0)),
                lookback_days=int(profile.get("lookback_days", 0)),
                fractional=bool(profile.get("fractional", False)),
            ),
            optimizer=OptimizerSummary(
                objective_requested=str(optimizer["objective_requested"]),
                objective_used=str(optimizer["objective_used"]),
                solver=str(optimizer.get("solver", "")),
                fallbacks=tuple((str(o), str(r)) for o, r in optimizer.get("fallbacks", ())),
            ),
            holdings=tuple(_holding(h) for h in data.get("holdings", ())),
            figures=tuple(_figure(f) for f in data.get("figures", ())),
            var_table=tuple(_var_row(r) for r in data.get("var_table", ())),
            var_base=Base(data.get("var_base", Base.CAPITAL.value)),
            risk_contributions=tuple(
                (str(t), _float(s)) for t, s in data.get("risk_contributions", ())
            ),
            scenarios=tuple(_scenario(s) for s in data.get("scenarios", ())),
            monte_carlo=tuple(_monte_carlo(m) for m in data.get("monte_carlo", ())),
            notes=tuple(Note.from_dict(n) for n in data.get("notes", ())),
            placement=_placement(data.get("placement")),
            out_of_sample=_out_of_sample(data.get("out_of_sample")),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unreadable {VIEW_SCHEMA} document: {exc!r}") from exc


def _holding(data: dict[str, Any]) -> HoldingView:
    return HoldingView(
        ticker=str(data["ticker"]),
        name=_opt_str(data.get("name")),
        sector=_opt_str(data.get("sector")),
        shares=_float(data["shares"]),
        price=_float(data.get("price")),
        amount=_float(data["amount"]),
        target_weight=_float(data["target_weight"]),
        achieved_weight=_float(data["achieved_weight"]),
    )


def _figure(data: dict[str, Any]) -> Figure:
    base = data.get("base")
    return Figure(
        key=str(data["key"]),
        label=str(data["label"]),
        value=_float(data.get("value")),
        unit=Unit(data["unit"]),
        base=None if base is None else Base(base),
        explanation=str(data.get("explanation", "")),
    )


def _var_row(data: dict[str, Any]) -> VarRow:
    return VarRow(
        method=str(data["method"]),
        method_label=str(data.get("method_label", data["method"])),
        confidence=_float(data["confidence"]),
        horizon_days=int(data["horizon_days"]),
        var=_float(data.get("var")),
        cvar=_float(data.get("cvar")),
        var_amount=_float(data.get("var_amount")),
        cvar_amount=_float(data.get("cvar_amount")),
        base=Base(data.get("base", Base.CAPITAL.value)),
    )


def _scenario(data: dict[str, Any]) -> ScenarioView:
    bench = data.get("benchmark_return")
    return ScenarioView(
        name=str(data["name"]),
        kind=str(data.get("kind", "")),
        portfolio_return=_float(data.get("portfolio_return")),
        benchmark_return=None if bench is None else _float(bench),
        amount=_float(data.get("amount")),
        base=Base(data.get("base", Base.CAPITAL.value)),
        estimated=bool(data.get("estimated", False)),
        start=_date(data.get("start")),
        end=_date(data.get("end")),
        note=str(data.get("note", "")),
    )


def _monte_carlo(data: dict[str, Any]) -> MonteCarloView:
    return MonteCarloView(
        method=str(data["method"]),
        method_label=str(data.get("method_label", data["method"])),
        n_paths=int(data["n_paths"]),
        horizon_days=int(data["horizon_days"]),
        mean_return=_float(data.get("mean_return")),
        percentiles=tuple((_float(q), _float(v)) for q, v in data.get("percentiles", ())),
        loss_probabilities=tuple(
            (_float(x), _float(p)) for x, p in data.get("loss_probabilities", ())
        ),
    )


def _placement(data: dict[str, Any] | None) -> RiskPlacement | None:
    if data is None:
        return None
    return RiskPlacement(
        level=int(data["level"]),
        levels=int(data["levels"]),
        volatility=_float(data.get("volatility")),
        min_volatility=_float(data.get("min_volatility")),
        max_volatility=_float(data.get("max_volatility")),
        target_volatility=_float(data.get("target_volatility")),
    )


def _out_of_sample(data: dict[str, Any] | None) -> OutOfSampleRecord | None:
    if data is None:
        return None
    return OutOfSampleRecord(
        start=date.fromisoformat(str(data["start"])),
        end=date.fromisoformat(str(data["end"])),
        years=_float(data.get("years")),
        cagr=_float(data.get("cagr")),
        volatility=_float(data.get("volatility")),
        max_drawdown=_float(data.get("max_drawdown")),
        benchmark_cagr=_float(data.get("benchmark_cagr")),
        benchmark_volatility=_float(data.get("benchmark_volatility")),
        benchmark_max_drawdown=_float(data.get("benchmark_max_drawdown")),
        note=str(data.get("note", "")),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _date(value: Any) -> date | None:
    return None if not value else date.fromisoformat(str(value))


def _datetime(value: Any) -> datetime | None:
    return None if not value else datetime.fromisoformat(str(value))
