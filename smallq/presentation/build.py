"""Build the :class:`~smallq.presentation.view.PortfolioView` of a report, once.

:func:`present_portfolio` reads a :class:`~smallq.models.Report`; :func:`assemble_view` takes
the same engine values one by one, so a build stored before views existed can be presented
by the same code (see ``storage.portfolios``).

VaR, CVaR and stress results in money are the loss fraction times the capital (the account
value at the build: invested amount plus cash), in every front end. Reasons: the capital is
the number the user typed and sees at the top of every result, so "VaR 95% $205 on $10,000"
is read against the right amount; and since the risk figures describe the bought portfolio
with its cash (weights ``amount / capital``, cash earning nothing), a loss fraction is a
share of the capital, so fraction x capital is exactly the money at risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime

from smallq.models import (
    Note,
    NoteKind,
    OutOfSampleRecord,
    Profile,
    Report,
    RiskMetrics,
    RiskPlacement,
    StressReport,
)
from smallq.presentation.view import (
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
from smallq.types import MonteCarloMethod, Objective, VarMethod

#: the amount every money figure derived from a rate is computed on
VAR_BASE = Base.CAPITAL

#: names of the methods for people (no ``cornish_fisher`` in front of a user)
VAR_METHOD_LABELS: dict[str, str] = {
    VarMethod.HISTORICAL.value: "historical",
    VarMethod.PARAMETRIC.value: "normal curve",
    VarMethod.CORNISH_FISHER.value: "skew-adjusted",
}
#: names of the optimizer's objectives for people (no ``max_sharpe`` in front of a user)
OBJECTIVE_LABELS: dict[str, str] = {
    Objective.MAX_SHARPE.value: "best return for its risk",
    Objective.MIN_VOLATILITY.value: "lowest volatility",
    Objective.EFFICIENT_RISK.value: "highest return at a set volatility",
    Objective.MAX_UTILITY.value: "balance of return and risk",
    Objective.HRP.value: "risk spread across groups of similar stocks",
    Objective.EQUAL_WEIGHT.value: "equal weights",
}
MONTE_CARLO_LABELS: dict[str, str] = {
    MonteCarloMethod.BOOTSTRAP.value: "resampled past days",
    MonteCarloMethod.NORMAL.value: "normal curve",
    MonteCarloMethod.STUDENT_T.value: "fat-tailed",
}

#: (key, label, unit, base, explanation) of the return and risk figures, in display order
_METRIC_FIGURES: tuple[tuple[str, str, Unit, Base | None, str], ...] = (
    ("expected_return", "Expected return (a year)", Unit.FRACTION, Base.PORTFOLIO,
     "The yearly return of the shares bought (cash earns nothing) estimated from the lookback "
     "window's prices; not a promise."),
    ("volatility", "Volatility (a year)", Unit.FRACTION, Base.PORTFOLIO,
     "How far a year's return typically lands from the expected one (one standard deviation)."),
    ("sharpe", "Sharpe ratio", Unit.RATIO, None,
     "Expected return above the risk-free rate per unit of volatility; higher is better."),
    ("beta", "Beta", Unit.RATIO, None,
     "How much the portfolio moved with the S&P 500: 1.0 moved with it, 0.5 half as much."),
    ("max_drawdown", "Max drawdown (lookback)", Unit.FRACTION, Base.PORTFOLIO,
     "The worst fall from a peak the shares bought would have had over the lookback window."),
    ("realized_return", "Realised return (a year)", Unit.FRACTION, Base.PORTFOLIO,
     "What the shares bought and the cash would have earned a year over the lookback window."),
    ("realized_volatility", "Realised volatility (a year)", Unit.FRACTION, Base.PORTFOLIO,
     "How much the yearly return of what was bought actually swung over the lookback window."),
    ("effective_holdings", "Effective holdings", Unit.COUNT, None,
     "How many equal-sized holdings would be as spread out as this portfolio."),
)  # fmt: skip


def present_portfolio(report: Report) -> PortfolioView:
    """The view of one build.

    Parameters
    ----------
    report : Report
        The engine's result.

    Returns
    -------
    PortfolioView
        Holdings of every ticker with a positive target weight (largest target first), the
        figures, the VaR table, stress results in money on the capital, and the notes.
    """
    alloc, opt = report.allocation, report.optimization
    names = report.ranking.table.get("name")
    holdings = []
    for ticker, target in opt.weights.items():
        if not target > 0:
            continue
        amount = float(alloc.amounts.get(ticker, 0.0))
        holdings.append(
            HoldingView(
                ticker=str(ticker),
                name=_text(names.get(ticker)) if names is not None else None,
                sector=_text(report.sectors.get(ticker)),
                shares=float(alloc.shares.get(ticker, 0.0)),
                price=float(alloc.prices.get(ticker, math.nan)),
                amount=amount,
                target_weight=float(target),
                achieved_weight=amount / alloc.capital if alloc.capital > 0 else math.nan,
            )
        )
    return assemble_view(
        as_of=report.as_of,
        source=report.source,
        fetched_at=report.fetched_at,
        profile=report.profile,
        optimizer=OptimizerSummary(
            objective_requested=opt.objective_requested.value,
            objective_used=opt.objective_used.value,
            solver=opt.solver,
            fallbacks=tuple((s.objective.value, s.reason) for s in opt.fallbacks),
        ),
        capital=float(alloc.capital),
        cash=float(alloc.cash_left),
        holdings=holdings,
        metrics=report.metrics,
        stress=report.stress,
        notes=report.notes,
        placement=report.risk_placement,
        out_of_sample=report.out_of_sample,
    )


def assemble_view(
    *,
    as_of: date,
    source: str,
    fetched_at: datetime | None,
    profile: Profile,
    optimizer: OptimizerSummary,
    capital: float,
    cash: float,
    holdings: Sequence[HoldingView],
    metrics: RiskMetrics,
    stress: StressReport,
    notes: Sequence[Note],
    placement: RiskPlacement | None = None,
    out_of_sample: OutOfSampleRecord | None = None,
) -> PortfolioView:
    """The view from its parts (see :func:`present_portfolio`).

    ``holdings`` are sorted by the weight bought (largest first, then target, then ticker);
    an allocation note is added when some holding got no shares.
    """
    ordered = tuple(
        sorted(holdings, key=lambda h: (-h.achieved_weight, -h.target_weight, h.ticker))
    )
    return PortfolioView(
        as_of=as_of,
        source=source,
        fetched_at=fetched_at,
        currency=profile.currency,
        capital=capital,
        cash=cash,
        profile=ProfileSummary(
            sectors=tuple(s.value for s in profile.sectors),
            risk_level=int(profile.risk_level),
            risk_label=profile.risk_level.label,
            strategy=profile.strategy.value,
            top_n=profile.top_n,
            lookback_days=profile.lookback_days,
            fractional=profile.fractional,
        ),
        optimizer=optimizer,
        holdings=ordered,
        figures=_figures(metrics, capital),
        var_table=_var_table(metrics, capital),
        var_base=VAR_BASE,
        risk_contributions=tuple(
            sorted(
                ((str(t), float(s)) for t, s in metrics.risk_contributions.items()),
                key=lambda item: -item[1],
            )
        ),
        scenarios=tuple(
            ScenarioView(
                name=s.name,
                kind=s.kind,
                portfolio_return=float(s.portfolio_return),
                benchmark_return=None if s.benchmark_return is None else float(s.benchmark_return),
                amount=float(s.portfolio_return) * capital,
                base=VAR_BASE,
                estimated=bool(s.estimated),
                start=s.start,
                end=s.end,
                note=s.note,
            )
            for s in stress.scenarios
        ),
        monte_carlo=monte_carlo_views(stress),
        notes=(*notes, *_allocation_notes(ordered)),
        placement=placement,
        out_of_sample=out_of_sample,
    )


def monte_carlo_views(stress: StressReport) -> tuple[MonteCarloView, ...]:
    """The Monte Carlo results of ``stress`` as a view shows them (each method in words).

    A report runs one method; the stress views put every method into the view of a stored
    build with ``dataclasses.replace(view, monte_carlo=monte_carlo_views(...))`` after
    :func:`smallq.simulation.simulate_methods`.
    """
    return tuple(
        MonteCarloView(
            method=m.method.value,
            method_label=MONTE_CARLO_LABELS.get(m.method.value, m.method.value),
            n_paths=int(m.n_paths),
            horizon_days=int(m.horizon_days),
            mean_return=float(m.mean_return),
            percentiles=tuple(sorted((float(q), float(v)) for q, v in m.percentiles.items())),
            loss_probabilities=tuple(
                sorted((float(x), float(p)) for x, p in m.loss_probabilities.items())
            ),
        )
        for m in stress.monte_carlo
    )


def objective_label(objective: str) -> str:
    """The plain name of an optimizer objective (its value when unknown)."""
    return OBJECTIVE_LABELS.get(objective, objective.replace("_", " "))


def var_explanation(confidence: float, horizon_days: int, *, tail: bool = False) -> str:
    """One plain sentence for a VaR (or, with ``tail``, a CVaR) figure."""
    odds = _odds(confidence)
    period = "day" if horizon_days == 1 else f"{horizon_days}-day period"
    if tail:
        return f"The average loss on those worst {period}s (one {period} in {odds})."
    return f"On one {period} in {odds}, expect to lose at least this much."


def _figures(metrics: RiskMetrics, capital: float) -> tuple[Figure, ...]:
    figures = [
        Figure(key, label, float(getattr(metrics, key)), unit, base, text)
        for key, label, unit, base, text in _METRIC_FIGURES
    ]
    for confidence in (0.95, 0.99):
        try:
            estimate = metrics.var_at(confidence, 1, VarMethod.HISTORICAL)
        except KeyError:
            continue
        level = f"{confidence:.0%}"
        var_text = var_explanation(confidence, 1)
        cvar_text = var_explanation(confidence, 1, tail=True)
        suffix = f"_{round(confidence * 100)}"
        figures += [
            Figure(f"var{suffix}", f"VaR {level}, 1 day", estimate.var, Unit.FRACTION,
                   Base.PORTFOLIO, var_text),
            Figure(f"var{suffix}_amount", f"VaR {level}, 1 day", estimate.var * capital,
                   Unit.MONEY, VAR_BASE, var_text),
            Figure(f"cvar{suffix}", f"CVaR {level}, 1 day", estimate.cvar, Unit.FRACTION,
                   Base.PORTFOLIO, cvar_text),
            Figure(f"cvar{suffix}_amount", f"CVaR {level}, 1 day", estimate.cvar * capital,
                   Unit.MONEY, VAR_BASE, cvar_text),
        ]  # fmt: skip
    return tuple(figures)


def _var_table(metrics: RiskMetrics, capital: float) -> tuple[VarRow, ...]:
    order = [m.value for m in VarMethod]
    rows = [
        VarRow(
            method=e.method.value,
            method_label=VAR_METHOD_LABELS.get(e.method.value, e.method.value),
            confidence=float(e.confidence),
            horizon_days=int(e.horizon_days),
            var=float(e.var),
            cvar=float(e.cvar),
            var_amount=float(e.var) * capital,
            cvar_amount=float(e.cvar) * capital,
            base=VAR_BASE,
        )
        for e in metrics.var
    ]
    return tuple(sorted(rows, key=lambda r: (order.index(r.method), r.horizon_days, r.confidence)))


def _allocation_notes(holdings: tuple[HoldingView, ...]) -> tuple[Note, ...]:
    unbought = [h.ticker for h in holdings if not h.shares > 0]
    if not unbought:
        return ()
    text = f"Not bought (a whole share does not fit its weight): {', '.join(unbought)}."
    return (Note(NoteKind.ALLOCATION, text, (("tickers", ",".join(unbought)),)),)


def _odds(confidence: float) -> str:
    tail = 1.0 - confidence
    if tail <= 0:
        return "never"
    ratio = 1.0 / tail
    words = {20: "twenty", 100: "a hundred", 10: "ten", 40: "forty"}
    rounded = round(ratio)
    return words.get(rounded, f"{rounded}") if abs(ratio - rounded) < 1e-6 else f"{ratio:.0f}"


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
