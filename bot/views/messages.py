"""Message texts: pure functions from portfolio views (and small typed values) to Telegram HTML.

A build is rendered only from its :class:`~smallq.presentation.PortfolioView`; numbers are
formatted by :mod:`smallq.presentation.formatting`, like the CLI's.

Every dynamic value is HTML-escaped. Long texts are built from blocks (complete HTML
fragments) that :func:`split_blocks` packs into messages of at most 4096 characters; a
holdings table is cut into several ``<pre>`` blocks rather than split inside a tag.
Captions are plain text cut to 1024 characters by :func:`caption`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from html import escape
from typing import Protocol

from smallq.models import Note, NoteKind, Report
from smallq.presentation import (
    HoldingView,
    PortfolioView,
    figure_text,
    objective_label,
    present_portfolio,
)
from smallq.presentation import money as money  # the one formatter, for the bot's other texts
from smallq.presentation import num as num
from smallq.presentation import pct as pct


class BacktestFigures(Protocol):
    """What the phone summary of a backtest shows (``bot.services.portfolio`` fills it)."""

    @property
    def cagr(self) -> float: ...
    @property
    def benchmark_cagr(self) -> float | None: ...
    @property
    def max_drawdown(self) -> float: ...
    @property
    def start_value(self) -> float: ...
    @property
    def final_value(self) -> float: ...

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
STALE_AFTER_DAYS = 5
#: captions of the charts (``bot.services.portfolio`` names which are sent)
CHART_TITLES: dict[str, str] = {
    "allocation": "Allocation",
    "frontier": "Efficient frontier",
    "risk_contributions": "Risk contributions",
    "monte_carlo": "Monte Carlo: value paths",
    "stress": "Stress scenarios",
}
DISCLAIMER = "<i>This is an educational model, not investment advice.</i>"


# --------------------------------------------------------------------------- formatting
def split_blocks(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack blocks, joined by blank lines, into messages of at most ``limit`` characters.

    A block longer than ``limit`` is cut at line breaks (and a line longer than ``limit``
    at ``limit``); only plain-text blocks can be that long.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def _fit(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        while len(line) > limit:
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces


def caption(text: str, limit: int = CAPTION_LIMIT) -> str:
    """Plain-text photo caption cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pre_blocks(
    lines: Sequence[str], header: str | None = None, limit: int = MESSAGE_LIMIT - 96
) -> list[str]:
    """Lines in ``<pre>`` blocks of at most ``limit`` characters; ``header`` tops each block."""
    top = [escape(header)] if header is not None else []
    budget = limit - len("<pre></pre>") - sum(len(t) + 1 for t in top)
    blocks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        text = escape(line)[: max(budget - 1, 1)]
        if current and size + len(text) + 1 > budget:
            blocks.append("<pre>" + "\n".join(top + current) + "</pre>")
            current, size = [], 0
        current.append(text)
        size += len(text) + 1
    if current or not blocks:
        blocks.append("<pre>" + "\n".join(top + current) + "</pre>")
    return blocks


# --------------------------------------------------------------------------- portfolio
def format_report(report: Report, *, today: date | None = None) -> list[str]:
    """The result messages of a fresh build."""
    return render_portfolio(present_portfolio(report), today=today)


def render_portfolio(
    view: PortfolioView, *, today: date | None = None, title: str = "Your portfolio"
) -> list[str]:
    """Holdings, cash, key figures, VaR/CVaR in money on the capital, notes and the disclaimer."""
    cur = view.currency
    head = (
        f"<b>{escape(title)}</b> · {escape(view.profile.risk_label)} risk, "
        f"{escape(view.profile.strategy.replace('_', ' '))}\n"
        f"Capital {money(view.capital, cur)} · invested {money(view.invested, cur)} · "
        f"cash left <b>{money(view.cash, cur)}</b>"
    )
    blocks = [head, *holdings_blocks(view.holdings, cur, view.profile.fractional)]
    blocks.append(key_figures(view))
    blocks.append(var_lines(view))
    blocks.append(explanations(view, RESULT_FIGURES))
    notes = portfolio_notes(view, today=today)
    if notes:
        blocks.append("<b>Notes</b>\n" + "\n".join(f"• {escape(n.text)}" for n in notes))
    blocks.append(DISCLAIMER)
    return split_blocks(blocks)


def holdings_blocks(
    holdings: Sequence[HoldingView], currency: str = "USD", fractional: bool = False
) -> list[str]:
    """The holdings table as ``<pre>`` blocks: the weight bought, the target where it differs."""
    targets = any(h.shows_target for h in holdings)
    target_head = f"{'Target':>7}" if targets else ""
    header = f"{'Ticker':<7}{'Weight':>7}{target_head}{'Shares':>10}{'Amount':>13}"
    rows = [
        f"{h.ticker[:7]:<7}{pct(h.achieved_weight):>7}"
        + (f"{pct(h.target_weight) if h.shows_target else '':>7}" if targets else "")
        + f"{(f'{h.shares:.4f}' if fractional else f'{h.shares:,.0f}'):>10}"
        f"{money(h.amount, currency):>13}"
        for h in holdings
    ]
    if not rows:
        return ["No holdings."]
    blocks = pre_blocks(rows, header)
    if targets:
        blocks.append(
            "<i>Weight is what was bought; Target is the optimizer's aim where "
            "whole shares missed it by more than half a point.</i>"
        )
    return blocks


def key_figures(view: PortfolioView) -> str:
    """Expected return, volatility, Sharpe and beta."""
    return (
        f"Expected return <b>{_figure(view, 'expected_return')}</b> a year · "
        f"volatility <b>{_figure(view, 'volatility')}</b>\n"
        f"Sharpe <b>{_figure(view, 'sharpe')}</b> · beta <b>{_figure(view, 'beta')}</b>"
    )


def var_lines(view: PortfolioView) -> str:
    """1-day historical VaR and CVaR at 95% and 99%, in money on the view's base, explained."""
    lines = [
        f"<b>1-day risk</b> on your {escape(view.var_base.value)} of "
        f"{money(view.capital, view.currency)} (historical):"
    ]
    for level in (95, 99):
        try:
            var, cvar = view.figure(f"var_{level}_amount"), view.figure(f"cvar_{level}_amount")
        except KeyError:
            continue
        lines.append(
            f"VaR {level}%: {money(var.value, view.currency)} · "
            f"CVaR {money(cvar.value, view.currency)}"
        )
    if len(lines) == 1:
        lines.append("not available")
    else:
        lines.append(
            f"<i>VaR 95%: {escape(view.figure('var_95_amount').explanation.lower())} "
            f"CVaR: {escape(view.figure('cvar_95_amount').explanation.lower())}</i>"
        )
    return "\n".join(lines)


def portfolio_notes(view: PortfolioView, *, today: date | None = None) -> list[Note]:
    """Fallbacks, engine notes, data freshness and staleness, in the bot's words."""
    notes: list[Note] = []
    opt = view.optimizer
    if opt.fallbacks:
        tried = " and ".join(f"“{objective_label(o)}”" for o, _ in opt.fallbacks)
        notes.append(
            Note(
                NoteKind.FALLBACK,
                f"The optimizer fell back: {tried} could not be used with these stocks, so the "
                f"weights aim at “{objective_label(opt.objective_used)}”.",
            )
        )
    # the fallback path and the data date are written above and below from the view's fields
    notes.extend(view.notes_except(NoteKind.FALLBACK, NoteKind.FRESHNESS))
    fresh = f"Prices as of {view.as_of.isoformat()} from the {view.source} source"
    if view.fetched_at is not None:
        fresh += f", fetched {view.fetched_at:%Y-%m-%d %H:%M} UTC"
    notes.append(Note(NoteKind.FRESHNESS, fresh + "."))
    if today is not None and (today - view.as_of).days > STALE_AFTER_DAYS:
        days = (today - view.as_of).days
        notes.append(Note(NoteKind.STALE, f"These prices are {days} days old."))
    return notes


#: figures the result and /risk show, each explained in one line under them
RESULT_FIGURES: tuple[str, ...] = ("expected_return", "volatility", "sharpe", "beta")
RISK_FIGURES: tuple[str, ...] = (
    *RESULT_FIGURES,
    "realized_return",
    "realized_volatility",
    "max_drawdown",
    "effective_holdings",
)


def explanations(view: PortfolioView, keys: Sequence[str]) -> str:
    """One plain line per figure shown: its label and what it means."""
    lines = ["<b>What these mean</b>"]
    for key in keys:
        try:
            figure = view.figure(key)
        except KeyError:
            continue
        lines.append(f"• {escape(figure.label)}: {escape(figure.explanation)}")
    return "\n".join(lines)


def _figure(view: PortfolioView, key: str) -> str:
    try:
        return figure_text(view.figure(key), view.currency)
    except KeyError:
        return "n/a"


# --------------------------------------------------------------------------- risk, stress
def render_risk(view: PortfolioView) -> list[str]:
    """Every VaR/CVaR estimate in money on the capital, drawdown, realised figures, risk shares."""
    cur = view.currency
    blocks = [
        f"<b>Risk of your portfolio of {view.as_of.isoformat()}</b> "
        f"(capital {money(view.capital, cur)}, {money(view.invested, cur)} invested)",
        key_figures(view),
        f"Realised return {_figure(view, 'realized_return')} · realised volatility "
        f"{_figure(view, 'realized_volatility')} a year\n"
        f"Max drawdown {_figure(view, 'max_drawdown')} · effective holdings "
        f"{_figure(view, 'effective_holdings')}",
    ]
    rows = [f"{'Method':<14}{'Conf':>5}{'Days':>5}{'VaR':>12}{'CVaR':>12}"]
    for v in sorted(view.var_table, key=lambda v: (v.horizon_days, v.confidence, v.method)):
        rows.append(
            f"{v.method_label[:14]:<14}{v.confidence:>5.0%}{v.horizon_days:>5}"
            f"{money(v.var_amount, cur):>12}{money(v.cvar_amount, cur):>12}"
        )
    blocks.append(
        f"<b>Value at risk</b> in money on your {escape(view.var_base.value)} of "
        f"{money(view.capital, cur)}: VaR 95% is the loss of one day (or period) in twenty; "
        "CVaR is the average loss on those worst days"
    )
    blocks += pre_blocks(rows[1:], rows[0])
    shares = view.risk_contributions
    if shares:
        blocks.append(
            "<b>Share of risk</b> (how much of the ups and downs comes from each stock)\n"
            + escape(", ".join(f"{t} {pct(s)}" for t, s in shares[:10]))
        )
    blocks.append(explanations(view, RISK_FIGURES))
    blocks.append(DISCLAIMER)
    return split_blocks(blocks)


def render_stress(view: PortfolioView) -> list[str]:
    """Scenario returns in money on the capital, and Monte Carlo percentiles."""
    cur = view.currency
    blocks = [f"<b>Stress tests of your portfolio of {view.as_of.isoformat()}</b>"]
    if view.scenarios:
        lines = [
            f"• {escape(s.name)}{' (estimated)' if s.estimated else ''}: "
            f"{pct(s.portfolio_return)} ({money(s.amount, cur)})"
            for s in view.scenarios
        ]
        blocks.append(
            f"<b>Scenarios</b> (money on your {escape(view.var_base.value)} of "
            f"{money(view.capital, cur)})\n" + "\n".join(lines)
        )
    for mc in view.monte_carlo:
        shown = ", ".join(f"{q:.0%}: {pct(v)}" for q, v in mc.percentiles)
        losses = ", ".join(f"P(loss > {x:.0%}) = {pct(p)}" for x, p in mc.loss_probabilities)
        blocks.append(
            f"<b>Monte Carlo</b> ({escape(mc.method_label)}, {mc.n_paths:,} paths, "
            f"{mc.horizon_days} days): return percentiles {escape(shown)}\n{escape(losses)}"
        )
    if len(blocks) == 1:
        blocks.append("No stress results were stored for this portfolio.")
    blocks.append(DISCLAIMER)
    return split_blocks(blocks)


def format_performance(summary: str, since: date) -> list[str]:
    """The engine's tracking summary (plain text) in ``<pre>``, after a title."""
    blocks = [f"<b>Your portfolio since {since.isoformat()}</b> against the S&amp;P 500"]
    blocks += pre_blocks(summary.strip().split("\n"))
    return split_blocks(blocks)


def format_backtest(
    summary: str,
    start: date,
    end: date,
    figures: BacktestFigures | None = None,
) -> list[str]:
    """A short phone summary of a backtest (a few lines), else the engine's text in ``<pre>``.

    ``figures`` is any object with ``cagr``, ``benchmark_cagr``, ``max_drawdown``,
    ``start_value`` and ``final_value`` (:class:`bot.services.portfolio.BacktestFigures`).
    """
    title = f"<b>Backtest {start:%b %Y} → {end:%b %Y}</b> · monthly rebalancing"
    if figures is None:
        return split_blocks([title, *pre_blocks(summary.strip().split("\n"))])
    bench = figures.benchmark_cagr
    versus = f" (S&amp;P 500 {pct(bench, 1)})" if bench is not None else ""
    lines = [
        title,
        f"{money(figures.start_value)} → <b>{money(figures.final_value)}</b>",
        f"Yearly growth: <b>{pct(figures.cagr, 1)}</b>{versus}",
        f"Worst fall: {pct(-abs(figures.max_drawdown), 1)}",
        "<i>Past results, costs included; not investment advice.</i>",
    ]
    return ["\n".join(lines)]
