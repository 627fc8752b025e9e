"""Rendering for the terminal and JSON: builds, rankings, backtests and tracking.

A build is rendered from its :class:`~smallq.presentation.PortfolioView` (the same view the
bot and the dashboard render); numbers become text only through
:mod:`smallq.presentation.formatting`. The JSON document (``schema: smallq.report/1``) keeps
every rate as a fraction and every loss as a positive fraction; its keys are documented in
the README ("JSON output").
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from smallq.levels import LevelComparison
from smallq.models import NoteKind, OutOfSampleRecord, Ranking, Report, RiskPlacement
from smallq.performance import PerformanceMetrics
from smallq.presentation import (
    PortfolioView,
    ScenarioView,
    Unit,
    figure_text,
    money,
    num,
    objective_label,
    pct,
    points,
    present_portfolio,
    signed_pct,
)
from smallq.results import BacktestReport, TrackedPortfolio

SCHEMA = "smallq.report/1"


def _num(value: object) -> float | None:
    """A JSON-safe float (NaN and infinities become null)."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _series(series: pd.Series, *, integer: bool = False) -> dict[str, Any]:
    if integer:
        return {str(k): int(v) for k, v in series.items()}
    return {str(k): _num(v) for k, v in series.items()}


def ranking_to_records(ranking: Ranking) -> list[dict[str, Any]]:
    """One object per ranked ticker: ``ticker``, ``sector``, ``score``, ``rank``, factors."""
    records = []
    for ticker, row in ranking.table.iterrows():
        record: dict[str, Any] = {"ticker": str(ticker), "selected": ticker in ranking.selected}
        for column, value in row.items():
            if column == "sector":
                record["sector"] = None if pd.isna(value) else str(value)
            elif column == "rank":
                record["rank"] = int(value)
            else:
                record[str(column)] = _num(value)
        records.append(record)
    return records


def _scenario(result: ScenarioView) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "portfolio_return": _num(result.portfolio_return),
        "benchmark_return": _num(result.benchmark_return),
        "amount": _num(result.amount),
        "estimated": result.estimated,
        "start": result.start.isoformat() if result.start else None,
        "end": result.end.isoformat() if result.end else None,
        "note": result.note,
    }


def report_to_dict(report: Report, view: PortfolioView | None = None) -> dict[str, Any]:
    """The stable JSON document for ``smallq build --json``.

    The figures, VaR table, stress results and notes come from ``view`` (built from
    ``report`` when not given), so the JSON says what the CLI and the bot show.
    """
    view = present_portfolio(report) if view is None else view
    opt = report.optimization
    alloc = report.allocation
    profile = report.profile
    return {
        "schema": SCHEMA,
        "as_of": report.as_of.isoformat(),
        "source": report.source,
        "data_fetched_at": report.fetched_at.isoformat() if report.fetched_at else None,
        "profile": {
            "sectors": [s.value for s in profile.sectors],
            "capital": profile.capital,
            "currency": profile.currency,
            "risk_level": profile.risk_level.label,
            "strategy": profile.strategy.value,
            "top_n": profile.top_n,
            "lookback_days": profile.lookback_days,
            "fractional": profile.fractional,
        },
        "settings": {
            "objective": report.settings.objective.value,
            "returns_model": report.settings.returns_model.value,
            "cov_model": report.settings.cov_model.value,
            "max_weight": report.settings.max_weight,
            "min_holdings": report.settings.min_holdings,
            "risk_free_rate": report.settings.risk_free_rate,
            "target_volatility": report.settings.target_volatility,
            "risk_aversion": report.settings.risk_aversion,
            "frontier_fraction": report.settings.frontier_fraction,
        },
        "candidates": list(report.candidates),
        "ranking": ranking_to_records(report.ranking),
        "expected_returns": _series(report.mu),
        "weights": _series(opt.weights),
        "shares": _series(alloc.shares, integer=not alloc.fractional),
        "prices": _series(alloc.prices),
        "amounts": _series(alloc.amounts),
        "achieved_weights": _series(alloc.achieved_weights),
        "holdings": [
            {
                "ticker": h.ticker,
                "name": h.name,
                "sector": h.sector,
                "shares": _num(h.shares),
                "price": _num(h.price),
                "amount": _num(h.amount),
                "target_weight": _num(h.target_weight),
                "achieved_weight": _num(h.achieved_weight),
                "weight": _num(h.achieved_weight),
                "shows_target": h.shows_target,
            }
            for h in view.holdings
        ],
        "capital": view.capital,
        "invested": _num(view.invested),
        "cash_left": _num(view.cash),
        "var_base": view.var_base.value,
        "objective_requested": opt.objective_requested.value,
        "objective_used": opt.objective_used.value,
        "solver": opt.solver,
        "fallbacks": [{"step": f.objective.value, "reason": f.reason} for f in opt.fallbacks],
        "risk_placement": placement_to_dict(report.risk_placement),
        "out_of_sample": out_of_sample_to_dict(report.out_of_sample),
        "expected_return_basis": EXPECTED_RETURN_BASIS,
        "metrics": _metrics(report, view),
        "figures": [
            {
                "key": f.key,
                "label": f.label,
                "value": _num(f.value),
                "unit": f.unit.value,
                "base": None if f.base is None else f.base.value,
                "explanation": f.explanation,
            }
            for f in view.figures
        ],
        "stress": {
            "scenarios": [_scenario(s) for s in view.scenarios],
            "monte_carlo": [
                {
                    "method": mc.method,
                    "n_paths": mc.n_paths,
                    "horizon_days": mc.horizon_days,
                    "mean_return": _num(mc.mean_return),
                    "percentiles": {f"{k:g}": _num(v) for k, v in mc.percentiles},
                    "loss_probabilities": {f"{k:g}": _num(v) for k, v in mc.loss_probabilities},
                }
                for mc in view.monte_carlo
            ],
        },
        "notes": [n.text for n in view.notes],
        "note_details": [n.to_dict() for n in view.notes],
    }


def _metrics(report: Report, view: PortfolioView) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        f.key: _num(f.value) for f in view.figures if not f.key.endswith("_amount")
    }
    metrics["risk_contributions"] = _series(report.metrics.risk_contributions)
    metrics["var_table"] = [
        {
            "method": row.method,
            "confidence": row.confidence,
            "horizon_days": row.horizon_days,
            "var": _num(row.var),
            "cvar": _num(row.cvar),
            "var_amount": _num(row.var_amount),
            "cvar_amount": _num(row.cvar_amount),
            "base": row.base.value,
        }
        for row in view.var_table
    ]
    return metrics


# --------------------------------------------------------------------------- text
def format_ranking(ranking: Ranking, *, limit: int | None = None) -> str:
    """A readable ranked table for the terminal."""
    table = ranking.table if limit is None else ranking.table.head(limit)
    factor_cols = [c for c in table.columns if c not in ("sector", "score", "rank")]
    header = f"{'#':>3}  {'ticker':<7} {'sector':<24} {'score':>7}" + "".join(
        f" {c:>12}" for c in factor_cols
    )
    lines = [
        f"Ranking by {ranking.strategy.value} as of {ranking.as_of:%Y-%m-%d} "
        f"({len(ranking.selected)} selected, marked *)",
        header,
        "-" * len(header),
    ]
    for ticker, row in table.iterrows():
        mark = "*" if ticker in ranking.selected else " "
        cells = "".join(f" {_fmt_factor(c, row[c]):>12}" for c in factor_cols)
        sector = "" if pd.isna(row["sector"]) else str(row["sector"])
        lines.append(
            f"{int(row['rank']):>3}{mark} {ticker!s:<7} {sector[:24]:<24} "
            f"{row['score']:>7.2f}{cells}"
        )
    lines += [f"note: {n}" for n in ranking.notes]
    return "\n".join(lines)


def _fmt_factor(column: str, value: float) -> str:
    if pd.isna(value):
        return "n/a"
    if column.endswith("_z"):
        return f"{value:+.2f}"
    return pct(value) if column in ("momentum", "low_vol") else f"{value:.3f}"


def format_report(
    report: Report, view: PortfolioView | None = None, *, verbose: bool = False
) -> str:
    """The human-readable report printed by ``smallq build`` (rendered from the view).

    The expected-return basis, the risk placement and the out-of-sample record follow the
    figures.
    """
    text = format_view(present_portfolio(report) if view is None else view, verbose=verbose)
    extra = [
        f"Expected return: {EXPECTED_RETURN_BASIS}, over the last "
        f"{report.profile.lookback_days} trading days.",
        *([placement_line(report.risk_placement)] if report.risk_placement else []),
        *([out_of_sample_line(report.out_of_sample)] if report.out_of_sample else []),
    ]
    for marker in ("\nWhat these figures mean:", "\nValue at risk and CVaR"):
        head, found, tail = text.partition(marker)
        if found:
            return head + "\n" + "\n".join(extra) + "\n" + found + tail
    return text + "\n" + "\n".join(extra)


def format_view(view: PortfolioView, *, verbose: bool = False) -> str:
    """A portfolio view as terminal text: holdings, figures, VaR table, stress, notes.

    Method names (``max_sharpe``), the solver and the optimizer's raw reasons appear only
    with ``verbose``; by default every method is named in plain words.
    """
    cur, opt = view.currency, view.optimizer
    technical = f" (objective {opt.objective_used}, solver {opt.solver})" if verbose else ""
    lines = [
        f"smallQ portfolio — {view.profile.risk_label} risk, "
        f"{view.profile.strategy} strategy, as of {view.as_of:%Y-%m-%d}",
        f"Sectors: {', '.join(view.profile.sectors)}",
        f"Capital: {money(view.capital, cur)}   Weights chosen for: "
        f"{objective_label(opt.objective_used)}{technical}",
        "",
        f"{'ticker':<7} {'sector':<24} {'weight':>7} {'target':>7} {'shares':>9} {'price':>10} "
        f"{'amount':>14}",
    ]
    for h in view.holdings:
        shares_text = f"{h.shares:.4f}" if view.profile.fractional else f"{h.shares:.0f}"
        target = pct(h.target_weight) if h.shows_target else ""
        lines.append(
            f"{h.ticker:<7} {(h.sector or '')[:24]:<24} {pct(h.achieved_weight):>7} "
            f"{target:>7} {shares_text:>9} {num(h.price):>10} {money(h.amount, cur):>14}"
        )
    lines += [
        f"Invested: {money(view.invested, cur)}   Cash left: {money(view.cash, cur)}",
        "Weight is what was bought (amount / capital); the optimizer's target is shown where "
        "it differs by more than half a point. The figures below describe what was bought, "
        "with the cash (earning nothing).",
        "",
        *_figure_lines(view),
        "",
        f"Value at risk and CVaR (expected shortfall): losses as a share of the portfolio, "
        f"and in {cur} on the {view.var_base.value} of {money(view.capital, cur)}:",
        f"  {'method':<15} {'level':>5} {'days':>4} {'VaR':>7} {'VaR ' + cur:>14} "
        f"{'CVaR':>7} {'CVaR ' + cur:>14}",
    ]
    lines += [
        f"  {row.method_label:<15} {row.confidence:>5.0%} {row.horizon_days:>4} "
        f"{pct(row.var, 2):>7} {money(row.var_amount, cur):>14} "
        f"{pct(row.cvar, 2):>7} {money(row.cvar_amount, cur):>14}"
        for row in view.var_table
    ]
    lines += ["", f"Stress tests (in {cur} on the {view.var_base.value}):"]
    for scenario in view.scenarios:
        flag = " (estimated via beta)" if scenario.estimated else ""
        lines.append(
            f"  {scenario.name:<36} {pct(scenario.portfolio_return):>8} "
            f"{money(scenario.amount, cur):>14}{flag}"
        )
    for mc in view.monte_carlo:
        lines.append(
            f"  Monte Carlo ({mc.method_label}), {mc.horizon_days} days: "
            f"5th percentile {pct(mc.percentile(0.05))}, "
            f"P(loss) {pct(mc.loss_probability(0.0))}, "
            f"P(loss>20%) {pct(mc.loss_probability(0.2))}"
        )
    if opt.fallbacks:
        lines += ["", "Fallbacks:"] + [
            f"  {objective_label(step)} could not be used with these stocks"
            + (f" ({step}: {reason})" if verbose else "")
            for step, reason in opt.fallbacks
        ]
        lines.append(f"  so the weights are the {objective_label(opt.objective_used)}.")
    notes = view.notes_except(NoteKind.FALLBACK) if opt.fallbacks else view.notes
    if notes:
        lines += ["", "Notes:"] + [f"  - {n.text}" for n in notes]
    lines += ["", "This is not investment advice."]
    return "\n".join(lines)


def _figure_lines(view: PortfolioView) -> list[str]:
    """Each headline figure with its value, then what each one means."""
    shown = [
        f
        for f in view.figures
        if not (f.unit is Unit.FRACTION and f.key.startswith(("var_", "cvar_")))
    ]  # a VaR share is shown beside its amount
    width = max((len(f.label) for f in shown), default=0)
    lines = []
    for figure in shown:
        value = figure_text(figure, view.currency)
        if figure.unit is Unit.MONEY:
            value += f" ({pct(view.figure(figure.key.removesuffix('_amount')).value, 2)})"
        lines.append(f"{figure.label:<{width}}  {value}")
    lines += ["", "What these figures mean:"]
    lines += [f"  {f.label}: {f.explanation}" for f in shown]
    return lines


# --------------------------------------------------------------------------- risk levels
#: what the "expected return" of a build is
EXPECTED_RETURN_BASIS = "the historical average return, not a forecast"
LEVELS_SCHEMA = "smallq.levels/1"


def placement_line(placement: RiskPlacement) -> str:
    """"Risk level 2 of 5: volatility 14.1%; the calmest mix ... 12.0%, the most ... 31.0%"."""
    return (
        f"Risk level {placement.level} of {placement.levels}: volatility "
        f"{pct(placement.volatility)}; the calmest mix of these stocks has "
        f"{pct(placement.min_volatility)}, the most aggressive {pct(placement.max_volatility)}"
    )


def out_of_sample_line(record: OutOfSampleRecord) -> str:
    """One line: the walk-forward record against the benchmark."""
    return (
        f"Out of sample {record.start:%Y-%m-%d} to {record.end:%Y-%m-%d} ({record.years:.1f} y, "
        f"same profile rebalanced monthly): CAGR {pct(record.cagr)} vs S&P 500 "
        f"{pct(record.benchmark_cagr)}, volatility {pct(record.volatility)} vs "
        f"{pct(record.benchmark_volatility)}, max drawdown {pct(record.max_drawdown)} vs "
        f"{pct(record.benchmark_max_drawdown)}"
    )


def placement_to_dict(placement: RiskPlacement | None) -> dict[str, Any] | None:
    """JSON ``risk_placement``: level, levels and the volatilities (fractions)."""
    if placement is None:
        return None
    return {
        "level": placement.level,
        "levels": placement.levels,
        "volatility": _num(placement.volatility),
        "min_volatility": _num(placement.min_volatility),
        "max_volatility": _num(placement.max_volatility),
        "target_volatility": _num(placement.target_volatility),
    }


def out_of_sample_to_dict(record: OutOfSampleRecord | None) -> dict[str, Any] | None:
    """JSON ``out_of_sample``: the walk-forward record and the benchmark's, as fractions."""
    if record is None:
        return None
    return {
        "start": record.start.isoformat(),
        "end": record.end.isoformat(),
        "years": _num(record.years),
        "rebalance": "monthly",
        "cagr": _num(record.cagr),
        "volatility": _num(record.volatility),
        "max_drawdown": _num(record.max_drawdown),
        "benchmark_cagr": _num(record.benchmark_cagr),
        "benchmark_volatility": _num(record.benchmark_volatility),
        "benchmark_max_drawdown": _num(record.benchmark_max_drawdown),
        "note": record.note,
    }


def levels_to_dict(comparison: LevelComparison) -> dict[str, Any]:
    """The JSON document of ``smallq levels --json`` (amounts on the capital)."""
    capital = comparison.capital
    return {
        "schema": LEVELS_SCHEMA,
        "as_of": comparison.as_of.isoformat(),
        "capital": capital,
        "currency": comparison.currency,
        "candidates": list(comparison.candidates),
        "min_volatility": _num(comparison.min_volatility),
        "max_volatility": _num(comparison.max_volatility),
        "levels": [
            {
                "level": int(o.level),
                "name": o.level.label,
                "fraction": o.fraction,
                "objective_used": o.objective_used.value,
                "expected_return": _num(o.expected_return),
                "volatility": _num(o.volatility),
                "var_95": _num(o.var_95),
                "var_95_amount": _num(o.var_95 * capital),
                "monte_carlo_p5": _num(o.monte_carlo_p5),
                "crisis_2008": _num(o.crisis_2008),
                "crisis_2008_value": _num(
                    None if o.crisis_2008 is None else capital * (1 + o.crisis_2008)
                ),
                "crisis_2008_estimated": o.crisis_estimated,
                "weights": _series(o.weights[o.weights > 0]),
            }
            for o in comparison.outcomes
        ],
        "notes": list(comparison.notes),
    }


def format_levels(comparison: LevelComparison) -> str:
    """The table printed by ``smallq levels``: each level's risk in % and in money."""
    cur, capital = comparison.currency, comparison.capital
    lines = [
        f"smallQ risk levels for {', '.join(comparison.candidates)} as of "
        f"{comparison.as_of:%Y-%m-%d}, on {money(capital, cur)}",
        f"The calmest mix of these stocks has volatility {pct(comparison.min_volatility)}, "
        f"the most aggressive {pct(comparison.max_volatility)}.",
        "",
        f"  {'level':<16} {'volatility':>10} {'bad day (VaR 95%)':>22} "
        f"{'1y MC 5th pct':>14} {'2008-like':>10} {capital:>10,.0f} becomes",
    ]
    for o in comparison.outcomes:
        crisis = "n/a" if o.crisis_2008 is None else pct(o.crisis_2008)
        value = "n/a" if o.crisis_2008 is None else f"{capital * (1 + o.crisis_2008):,.0f}"
        flag = "*" if o.crisis_estimated else ""
        lines.append(
            f"  {int(o.level)} {o.level.label:<14} {pct(o.volatility):>10} "
            f"{pct(o.var_95, 2):>8} {money(o.var_95 * capital, cur):>13} "
            f"{pct(o.monte_carlo_p5):>14} {crisis + flag:>10} {value:>16}"
        )
    lines += [
        "",
        "Volatility is annual; a bad day is the 1-day loss exceeded on one day in twenty;",
        "the Monte Carlo and 2008 figures also depend on the historical average returns, so",
        "they need not rise with the level (* = estimated through beta to the index).",
        *[f"note: {n}" for n in comparison.notes],
        "",
        "This is not investment advice.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- backtest
BACKTEST_SCHEMA = "smallq.backtest/1"
_METRIC_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("total_return", "Total return", True),
    ("cagr", "CAGR", True),
    ("volatility", "Volatility", True),
    ("sharpe", "Sharpe", False),
    ("sortino", "Sortino", False),
    ("calmar", "Calmar", False),
    ("max_drawdown", "Max drawdown", True),
    ("max_drawdown_days", "Drawdown length (days)", False),
    ("alpha", "Alpha (annual)", True),
    ("beta", "Beta", False),
    ("information_ratio", "Information ratio", False),
    ("tracking_error", "Tracking error", True),
    ("hit_rate", "Hit rate (months)", True),
    ("best_month", "Best month", True),
    ("worst_month", "Worst month", True),
)


def backtest_to_dict(report: BacktestReport) -> dict[str, Any]:
    """The stable JSON document for ``smallq backtest --json``."""
    document = report.result.to_dict()
    return {
        "schema": BACKTEST_SCHEMA,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "source": report.source,
        "strategy": report.profile.strategy.value,
        "objective": report.settings.objective.value,
        "rebalance": document["rule"],
        "costs_bps": document["costs_bps"],
        "equity": document["equity"],
        "benchmark_equity": document["benchmark_equity"],
        "rebalances": document["rebalances"],
        "turnover": document["turnover"],
        "costs": document["costs"],
        "metrics": report.metrics.to_dict(),
        "benchmark_metrics": report.benchmark_metrics.to_dict(),
        "fallbacks": [{"date": d.isoformat(), "objective": o} for d, o in report.fallback_dates],
        "notes": list(report.notes),
    }


def metric_rows(report: BacktestReport) -> list[tuple[str, str, str]]:
    """(label, strategy, benchmark) rows of the side-by-side summary table."""
    return _side_by_side(report.metrics, report.benchmark_metrics)


def _side_by_side(
    ours: PerformanceMetrics, theirs: PerformanceMetrics
) -> list[tuple[str, str, str]]:
    a, b = ours.to_dict(), theirs.to_dict()
    return [
        (label, _cell(a[key], is_pct), _cell(b[key], is_pct)) for key, label, is_pct in _METRIC_ROWS
    ]


def format_backtest(report: BacktestReport) -> str:
    """The human-readable summary printed by ``smallq backtest``."""
    result = report.result
    lines = [
        f"smallQ backtest — {report.profile.strategy.value} strategy, "
        f"{report.settings.objective.value}, {result.rule} rebalancing, "
        f"{result.costs_bps:g} bps costs",
        f"{report.start:%Y-%m-%d} → {report.end:%Y-%m-%d}  ({len(result.rebalances)} rebalances, "
        f"turnover {result.turnover:.1f}x, costs {pct(result.costs, 2)} of capital)",
        "",
        f"{'':<24} {'strategy':>10} {'S&P 500':>10}",
    ]
    lines += [f"{label:<24} {a:>10} {b:>10}" for label, a, b in metric_rows(report)]
    if report.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in report.notes]
    lines += ["", "Past performance says little about the future. This is not investment advice."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- tracking
TRACKING_SCHEMA = "smallq.tracking/1"


def tracking_to_dict(tracked: TrackedPortfolio) -> dict[str, Any]:
    """The JSON document for ``smallq track --json``."""
    report = tracked.tracking
    return {
        "schema": TRACKING_SCHEMA,
        "since": tracked.since.isoformat(),
        "end": tracked.end.isoformat(),
        "total_return": _num(report.total_return),
        "benchmark_total_return": _num(report.benchmark_total_return),
        "excess_return": _num(report.excess_return),
        "values": {d.strftime("%Y-%m-%d"): _num(v) for d, v in tracked.values.items()},
        "metrics": report.metrics.to_dict(),
        "benchmark_metrics": report.benchmark_metrics.to_dict(),
        "notes": list(tracked.notes),
    }


def format_tracking(tracked: TrackedPortfolio, *, currency: str = "USD") -> str:
    """A short text: growth since the build against the S&P 500, then the metrics table."""
    report = tracked.tracking
    first, last = float(tracked.values.iloc[0]), float(tracked.values.iloc[-1])
    lines = [
        f"Since {tracked.since:%Y-%m-%d} (to {tracked.end:%Y-%m-%d}): portfolio "
        f"{signed_pct(report.total_return)} ({money(first, currency)} → "
        f"{money(last, currency)}), S&P 500 {signed_pct(report.benchmark_total_return)}, "
        f"difference {points(report.excess_return)}",
        "",
        f"{'':<24} {'portfolio':>10} {'S&P 500':>10}",
    ]
    rows = _side_by_side(report.metrics, report.benchmark_metrics)
    lines += [f"{label:<24} {a:>10} {b:>10}" for label, a, b in rows]
    lines += [f"note: {n}" for n in tracked.notes]
    return "\n".join(lines)


def _cell(value: object, is_pct: bool) -> str:
    if value is None:
        return "n/a"
    if is_pct:
        return pct(float(value))  # type: ignore[arg-type]
    if isinstance(value, int):
        return str(value)
    return num(float(value))  # type: ignore[arg-type]
