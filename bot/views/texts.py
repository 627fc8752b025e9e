"""Fixed texts, the command menu, and the conversation's summary and profile views (HTML)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from bot.views.draft import Draft
from bot.views.keyboards import SECTOR_CODES, STRATEGY_LABELS
from smallq.choice import SectorCheck
from smallq.models import Profile
from smallq.presentation import PortfolioView, money, pct
from smallq.profile import LEVEL_MAX_WEIGHT, RISK_TABLE
from smallq.types import RiskLevel, Strategy

if TYPE_CHECKING:
    from smallq.levels import LevelComparison

#: (command, description) in menu order; the other handler modules own the second half
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Build a portfolio step by step"),
    ("portfolio", "Show your last portfolio"),
    ("risk", "Risk figures of your last portfolio"),
    ("stress", "Stress tests and Monte Carlo charts"),
    ("profile", "Show or edit your profile"),
    ("settings", "Strategy, number of stocks, max weight, fractional shares"),
    ("backtest", "Backtest your strategy"),
    ("performance", "Your last portfolio since it was built, vs the S&P 500"),
    ("rebalance", "Rebalance your paper portfolio"),
    ("holdings", "Your paper-trading holdings"),
    ("trades", "Your paper trades"),
    ("subscribe", "Get scheduled digests"),
    ("unsubscribe", "Stop scheduled digests"),
    ("alerts", "Risk alerts"),
    ("link", "Link a channel"),
    ("unlink", "Stop a group's or channel's digests (admins, in that chat)"),
    ("delete", "Erase all your data"),
    ("cancel", "Cancel the current step"),
    ("help", "What this bot can do"),
)

#: in the menu and /help only when the dashboard is set up (after /performance)
DASHBOARD_COMMAND = ("dashboard", "Open your web dashboard")


def menu(*, dashboard: bool) -> tuple[tuple[str, str], ...]:
    """The command menu: :data:`COMMANDS`, with /dashboard when it is set up."""
    if not dashboard:
        return COMMANDS
    at = [name for name, _ in COMMANDS].index("performance") + 1
    return (*COMMANDS[:at], DASHBOARD_COMMAND, *COMMANDS[at:])


def help_text(*, dashboard: bool) -> str:
    """/help: every command of the menu."""
    return "\n".join(
        [
            "<b>smallQ</b> builds a stock portfolio for your sectors, capital and risk level, "
            "and shows its risk.",
            "",
            *(f"/{name} — {escape(text)}" for name, text in menu(dashboard=dashboard)),
            "",
            "<i>This is an educational model, not investment advice.</i>",
        ]
    )


SECTORS_PROMPT = "Which sectors? Tap to select one or more, then <b>Done</b>."
SECTORS_EMPTY = "Select at least one sector first."
SECTORS_COUNTS_HINT = "The number beside each sector is how many of its stocks are in the data."
SECTORS_TOO_FEW_SHORT = "Too few stocks for every risk level: add a sector."
CAPITAL_PROMPT = "How much do you want to invest, in USD? For example <code>10000</code>."
CAPITAL_NOT_TEXT = "Please type the amount as text, for example <code>10000</code>."
RISK_PROMPT = "How much risk can you take?"
HORIZON_PROMPT = "For how long can this money stay invested?"
REACTION_PROMPT = "Your portfolio falls 20% in a few months. What do you do?"
#: how the two questions map to a level (smallq.profile.suggest_level)
SUGGESTION_RULE = (
    "Suggested from your answers: 1 + horizon (under 3 y: 0, 3–7 y: 1, over 7 y: 2) + reaction "
    "(sell: 0, wait: 1, buy more: 2), at most 2 with a short horizon or a sell answer. "
    "You can still pick any level."
)
STRATEGY_PROMPT = "Which stock-picking strategy? Momentum is the default."
USE_BUTTONS = "Please use the buttons above (or /cancel)."
STALE_BUTTON = "This button is no longer active."
STALE_REASKED = "That keyboard is old; here is the current question again."
RESENDING = "Already built: sending the result again."
START_IN_PRIVATE = (
    "I ask a few questions to build your portfolio, and in a group I can't see typed answers. "
    "Tap below to continue in a private chat with me."
)
OPEN_PRIVATE_BUTTON = "Build my portfolio in a private chat"
NOT_YOURS = "This button belongs to the person who sent the command."
BACKTEST_USAGE = (
    "Use <code>/backtest</code> (5 years) or <code>/backtest N</code> with N from 1 to 30 years."
)
BUSY = "Already working on it…"
CANCELLED = "Cancelled. Send /start whenever you like."
NOTHING_TO_CANCEL = "Nothing to cancel."
SESSION_EXPIRED = "That session has ended. Send /start to begin again."
BUILDING = "Building your portfolio… this takes a few seconds."
RESULT_NOT_DELIVERED = (
    "Your portfolio is built and saved, but the connection to Telegram failed while sending "
    "it. Send /portfolio to see it."
)
NO_PORTFOLIO = "You have no portfolio yet. Send /start to build one."
NO_PROFILE = "You have no profile yet. Send /start to create one."
DELETE_CONFIRM = (
    "Delete your profile, every portfolio and all other data stored about you? "
    "This cannot be undone."
)
DELETED = "Done: everything stored about you has been erased."
KEPT = "Nothing was deleted."
BACKTEST_SOON = "Backtests are coming soon."
APOLOGY = "Sorry, something went wrong on my side. The problem has been logged."


def welcome(first_name: str | None) -> str:
    """The first message of /start."""
    name = f", {escape(first_name)}" if first_name else ""
    return (
        f"Hi{name}! I'll build a stock portfolio in four quick steps: sectors, capital, "
        f"risk level and strategy. /cancel stops at any time.\n\n{SECTORS_PROMPT}"
    )


def sectors_too_few(check: SectorCheck) -> str:
    """Why Done was refused: the chosen sectors are too small for some risk levels, what to add."""
    levels = ", ".join(str(level.value) for level in check.short_levels)
    plural = "s" if len(check.short_levels) > 1 else ""
    more = check.needed - check.n_stocks
    examples = " or ".join(f"{escape(s.value)} ({n} stocks)" for s, n in check.suggestions)
    return (
        f"These sectors have {check.n_stocks} stock{'' if check.n_stocks == 1 else 's'} in the "
        f"data, but risk level{plural} {levels} need{'' if plural else 's'} at least "
        f"{check.needed}, so that no single stock takes too large a share. Add a sector with "
        f"at least {more} more stock{'' if more == 1 else 's'}"
        + (f", for example {examples}" if examples else "")
        + ", then press <b>Done</b>."
    )


def capital_reask(reason: str) -> str:
    """Re-ask for the capital after a bad answer."""
    return f"{escape(reason)}\n{CAPITAL_PROMPT}"


def sectors_line(codes: list[str]) -> str:
    """Selected sector names, comma separated."""
    return ", ".join(SECTOR_CODES[c].value for c in codes if c in SECTOR_CODES) or "none"


def level_description(level: RiskLevel) -> str:
    """Where a level sits, in words ("25% of the way from the calmest to ...")."""
    fraction = RISK_TABLE[level].frontier_fraction
    if fraction <= 0:
        return "the calmest mix of your stocks"
    if fraction >= 1:
        return "the most aggressive mix of your stocks"
    return f"{pct(fraction, 0)} of the way from the calmest to the most aggressive mix"


def summary(draft: Draft, base: Profile | None = None) -> str:
    """The confirmation summary before Build."""
    level = draft.risk_level
    lines = [
        "<b>Please check:</b>",
        f"Sectors: {escape(sectors_line(draft.sectors))}",
        f"Capital: {money(draft.capital or 0.0)}",
        f"Risk: {level.value} · {level.label} ({level_description(level)}, max "
        f"{pct(base.max_weight if base and base.max_weight else LEVEL_MAX_WEIGHT, 0)} per stock)",
        f"Strategy: {escape(STRATEGY_LABELS.get(Strategy(draft.strategy), draft.strategy))}",
    ]
    if base is not None:
        lines.append(
            f"Stocks: {base.top_n} · fractional shares {'on' if base.fractional else 'off'}"
        )
    return "\n".join(lines)


HELP_HINT = "\nNot sure? Tap <b>Help me choose</b>."


def suggestion(level: RiskLevel) -> str:
    """The suggested level and how it was found, appended to the risk question."""
    return f"\n<b>Suggested: {level.value} · {level.label}</b> (★)\n{SUGGESTION_RULE}"


def risk_prompt(comparison: LevelComparison | None, note: str = "") -> str:
    """The risk question: each level in money for these sectors and this capital."""
    lines = [RISK_PROMPT]
    if comparison is not None:
        cur, capital = comparison.currency, comparison.capital
        lines += [
            f"What each level meant for {money(capital, cur)} in these stocks "
            f"(as of {comparison.as_of:%Y-%m-%d}):",
        ]
        for outcome in comparison.outcomes:
            crisis = (
                f"a 2008-like year: {money(capital, cur)} could fall to about "
                f"<b>{money(capital * (1 + outcome.crisis_2008), cur)}</b>"
                if outcome.crisis_2008 is not None
                else "no 2008 replay"
            )
            lines.append(
                f"<b>{int(outcome.level)}</b> · {outcome.level.label}: a bad day "
                f"−{money(outcome.var_95 * capital, cur)}, {crisis}"
            )
        lines.append(
            "<i>A bad day: the loss exceeded on one day in twenty. The 2008 figures depend on "
            "past returns too, so they need not grow with the level.</i>"
        )
    elif note:
        lines.append(f"<i>{escape(note)}</i>")
    return "\n".join(lines) + HELP_HINT


def result_extras(view: PortfolioView) -> str | None:
    """Where the portfolio sits among the levels and its out-of-sample record, or None."""
    lines = []
    placement = view.placement
    if placement is not None:
        lines.append(
            f"Risk level {placement.level} of {placement.levels}: volatility "
            f"<b>{pct(placement.volatility)}</b>; the calmest mix of these stocks has "
            f"{pct(placement.min_volatility)}, the most aggressive "
            f"{pct(placement.max_volatility)}."
        )
    record = view.out_of_sample
    if record is not None:
        lines.append(
            f"Out of sample ({record.start:%Y}–{record.end:%Y}, same profile each month): "
            f"{pct(record.cagr)} a year vs S&P 500 {pct(record.benchmark_cagr)}, worst fall "
            f"{pct(record.max_drawdown)} vs {pct(record.benchmark_max_drawdown)}."
        )
    if lines:
        lines.append("<i>The expected return is the historical average, not a forecast.</i>")
    return "\n".join(lines) if lines else None


def profile_text(profile: Profile) -> str:
    """The saved profile."""
    max_weight = profile.max_weight if profile.max_weight is not None else LEVEL_MAX_WEIGHT
    return "\n".join(
        [
            "<b>Your profile</b>",
            f"Sectors: {escape(', '.join(s.value for s in profile.sectors))}",
            f"Capital: {money(profile.capital, profile.currency)}",
            f"Risk: {profile.risk_level.value} · {profile.risk_level.label}",
            f"Strategy: {escape(STRATEGY_LABELS.get(profile.strategy, profile.strategy.value))}",
            f"Stocks: {profile.top_n} · max weight {pct(max_weight, 0)}"
            f"{'' if profile.max_weight is not None else ' (from the risk level)'}"
            f" · fractional shares {'on' if profile.fractional else 'off'}",
        ]
    )


def settings_text(profile: Profile) -> str:
    """The /settings header."""
    return profile_text(profile) + "\n\nTap to change a setting; it applies to your next build."


def no_performance_yet(as_of: object) -> str:
    """No trading day has passed since the portfolio's data date."""
    return (
        f"Your portfolio uses prices up to {as_of}, and the data has no later trading day yet, "
        "so there is no performance to show. Try again after the next trading day."
    )
