"""Message texts: pure functions from records and reports to Telegram HTML.

Every dynamic value is HTML-escaped. Long texts are built from blocks (complete HTML
fragments) that :func:`split_blocks` packs into messages of at most 4096 characters; a
holdings table is cut into several ``<pre>`` blocks rather than split inside a tag.
Captions are plain text cut to 1024 characters by :func:`caption`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from html import escape

from smallq.models import Report
from smallq.pipeline import FALLBACK_NOTE, FRESHNESS_NOTE
from storage.portfolios import HoldingRecord, PortfolioRecord, record_from_report

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
STALE_AFTER_DAYS = 5
DISCLAIMER = "<i>This is an educational model, not investment advice.</i>"


# --------------------------------------------------------------------------- formatting
def money(amount: float, currency: str = "USD") -> str:
    """``$1,234.56`` for USD, else ``1,234.56 EUR``."""
    if not math.isfinite(amount):
        return "n/a"
    return f"${amount:,.2f}" if currency == "USD" else f"{amount:,.2f} {escape(currency)}"


def pct(value: float, digits: int = 1) -> str:
    """A fraction as a percentage (0.123 -> ``12.3%``); NaN -> ``n/a``."""
    return f"{value * 100:.{digits}f}%" if math.isfinite(value) else "n/a"


def num(value: float, digits: int = 2) -> str:
    """A plain number; NaN -> ``n/a``."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


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
    return format_portfolio(record_from_report(report), today=today)


def format_portfolio(
    record: PortfolioRecord, *, today: date | None = None, title: str = "Your portfolio"
) -> list[str]:
    """Holdings, cash, key figures, VaR/CVaR in money, notes and the disclaimer."""
    invested = record.capital - record.cash_left
    head = (
        f"<b>{escape(title)}</b> · {escape(record.profile.risk_level.label)} risk, "
        f"{escape(record.profile.strategy.value.replace('_', ' '))}\n"
        f"Capital {money(record.capital, record.currency)} · invested "
        f"{money(invested, record.currency)} · cash left "
        f"<b>{money(record.cash_left, record.currency)}</b>"
    )
    blocks = [head, *holdings_blocks(record.holdings, record.currency, record.fractional)]
    blocks.append(key_figures(record))
    blocks.append(var_lines(record))
    notes = portfolio_notes(record, today=today)
    if notes:
        blocks.append("<b>Notes</b>\n" + "\n".join(f"• {escape(n)}" for n in notes))
    blocks.append(DISCLAIMER)
    return split_blocks(blocks)


def holdings_blocks(
    holdings: Sequence[HoldingRecord], currency: str = "USD", fractional: bool = False
) -> list[str]:
    """The holdings table as one or more ``<pre>`` blocks."""
    header = f"{'Ticker':<7}{'Weight':>7}{'Shares':>10}{'Amount':>13}"
    rows = [
        f"{h.ticker[:7]:<7}{pct(h.target_weight):>7}"
        f"{(f'{h.shares:.4f}' if fractional else f'{h.shares:,.0f}'):>10}"
        f"{money(h.amount, currency):>13}"
        for h in holdings
    ]
    if not rows:
        return ["No holdings."]
    return pre_blocks(rows, header)


def key_figures(record: PortfolioRecord) -> str:
    """Expected return, volatility, Sharpe and beta."""
    m = record.metrics
    return (
        f"Expected return <b>{pct(m.get('expected_return', math.nan))}</b> a year · "
        f"volatility <b>{pct(m.get('volatility', math.nan))}</b>\n"
        f"Sharpe <b>{num(m.get('sharpe', math.nan))}</b> · "
        f"beta <b>{num(m.get('beta', math.nan))}</b>"
    )


def var_lines(record: PortfolioRecord) -> str:
    """1-day historical VaR and CVaR at 95% and 99%, in money on the invested amount."""
    invested = record.capital - record.cash_left
    lines = [f"<b>1-day risk</b> on {money(invested, record.currency)} invested (historical):"]
    for confidence in (0.95, 0.99):
        estimate = record.var_at(confidence, 1, "historical")
        if estimate is None:
            continue
        lines.append(
            f"VaR {confidence:.0%}: {money(estimate.var * invested, record.currency)} · "
            f"CVaR {money(estimate.cvar * invested, record.currency)}"
        )
    if len(lines) == 1:
        lines.append("not available")
    return "\n".join(lines)


def portfolio_notes(record: PortfolioRecord, *, today: date | None = None) -> list[str]:
    """Fallbacks, unbought tickers, engine notes and data freshness (plain text)."""
    notes: list[str] = []
    if record.fallbacks:
        path = " → ".join([*(o for o, _ in record.fallbacks), record.objective_used])
        reasons = "; ".join(f"{o}: {r}" for o, r in record.fallbacks)
        notes.append(f"The optimizer fell back ({path}) because {reasons}.")
    unbought = [h.ticker for h in record.holdings if h.shares <= 0]
    if unbought:
        notes.append(f"Not bought (a whole share does not fit its weight): {', '.join(unbought)}.")
    # the fallback path and the data date are rendered here from the record's fields
    notes.extend(n for n in record.notes if not n.startswith((FALLBACK_NOTE, FRESHNESS_NOTE)))
    fresh = f"Prices as of {record.as_of.isoformat()} from the {record.source} source"
    if record.fetched_at:
        fresh += f", fetched {record.fetched_at[:16].replace('T', ' ')} UTC"
    notes.append(fresh + ".")
    if today is not None and (today - record.as_of).days > STALE_AFTER_DAYS:
        notes.append(f"These prices are {(today - record.as_of).days} days old.")
    return notes


# --------------------------------------------------------------------------- risk, stress
def format_risk(record: PortfolioRecord) -> list[str]:
    """Every stored VaR/CVaR estimate in money, drawdown, realised figures, risk shares."""
    invested = record.capital - record.cash_left
    m = record.metrics
    blocks = [
        f"<b>Risk of your portfolio of {record.as_of.isoformat()}</b> "
        f"({money(invested, record.currency)} invested)",
        key_figures(record),
        f"Realised return {pct(m.get('realized_return', math.nan))} · realised volatility "
        f"{pct(m.get('realized_volatility', math.nan))} a year\n"
        f"Max drawdown {pct(m.get('max_drawdown', math.nan))} · effective holdings "
        f"{num(m.get('effective_holdings', math.nan), 1)}",
    ]
    rows = [f"{'Method':<15}{'Conf':>5}{'Days':>5}{'VaR':>12}{'CVaR':>12}"]
    for v in sorted(record.var, key=lambda v: (v.horizon_days, v.confidence, v.method)):
        rows.append(
            f"{v.method[:15]:<15}{v.confidence:>5.0%}{v.horizon_days:>5}"
            f"{money(v.var * invested, record.currency):>12}"
            f"{money(v.cvar * invested, record.currency):>12}"
        )
    blocks.append(
        "<b>Value at risk</b> (the loss not exceeded at the confidence; CVaR is the "
        "average loss beyond it)"
    )
    blocks += pre_blocks(rows[1:], rows[0])
    shares = sorted(record.risk_contributions, key=lambda item: -item[1])
    if shares:
        blocks.append(
            "<b>Share of risk</b>\n" + escape(", ".join(f"{t} {pct(s)}" for t, s in shares[:10]))
        )
    blocks.append(DISCLAIMER)
    return split_blocks(blocks)


def format_stress(record: PortfolioRecord) -> list[str]:
    """Scenario returns and Monte Carlo percentiles, in money on the invested amount."""
    invested = record.capital - record.cash_left
    blocks = [f"<b>Stress tests of your portfolio of {record.as_of.isoformat()}</b>"]
    scenarios = record.stress.get("scenarios", [])
    if scenarios:
        lines = []
        for s in scenarios:
            change = s["portfolio_return"] if s["portfolio_return"] is not None else math.nan
            mark = " (estimated)" if s.get("estimated") else ""
            lines.append(
                f"• {escape(s['name'])}{mark}: {pct(change)} "
                f"({money(change * invested, record.currency)})"
            )
        blocks.append("<b>Scenarios</b>\n" + "\n".join(lines))
    for mc in record.stress.get("monte_carlo", []):
        pcts = mc.get("percentiles", {})
        shown = ", ".join(
            f"{float(q):.0%}: {pct(v if v is not None else math.nan)}"
            for q, v in sorted(pcts.items(), key=lambda kv: float(kv[0]))
        )
        losses = ", ".join(
            f"P(loss > {float(x):.0%}) = {pct(p if p is not None else math.nan)}"
            for x, p in sorted(
                mc.get("loss_probabilities", {}).items(), key=lambda kv: float(kv[0])
            )
        )
        blocks.append(
            f"<b>Monte Carlo</b> ({escape(mc['method'])}, {mc['n_paths']:,} paths, "
            f"{mc['horizon_days']} days): return percentiles {escape(shown)}\n{escape(losses)}"
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


def format_backtest(summary: str, start: date, end: date) -> list[str]:
    """The engine's backtest summary (plain text, with its own disclaimer) in ``<pre>``."""
    blocks = [f"<b>Backtest {start.isoformat()} → {end.isoformat()}</b> (monthly rebalancing)"]
    blocks += pre_blocks(summary.strip().split("\n"))
    return split_blocks(blocks)
