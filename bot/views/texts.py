"""Fixed texts, the command menu, and the conversation's summary and profile views (HTML)."""

from __future__ import annotations

from html import escape

from bot.views.draft import Draft
from bot.views.keyboards import SECTOR_CODES, STRATEGY_LABELS
from smallq.choice import SectorCheck
from smallq.models import Profile
from smallq.presentation import money, objective_label, pct
from smallq.profile import RISK_TABLE
from smallq.types import Strategy

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

HELP = "\n".join(
    [
        "<b>smallQ</b> builds a stock portfolio for your sectors, capital and risk level, "
        "and shows its risk.",
        "",
        *(f"/{name} — {escape(text)}" for name, text in COMMANDS),
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
STRATEGY_PROMPT = "Which stock-picking strategy? Momentum is the default."
USE_BUTTONS = "Please use the buttons above (or /cancel)."
STALE_BUTTON = "This button is no longer active."
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


def summary(draft: Draft, base: Profile | None = None) -> str:
    """The confirmation summary before Build."""
    level = draft.risk_level
    policy = RISK_TABLE[level]
    lines = [
        "<b>Please check:</b>",
        f"Sectors: {escape(sectors_line(draft.sectors))}",
        f"Capital: {money(draft.capital or 0.0)}",
        f"Risk: {level.value} · {level.label} ({objective_label(policy.objective.value)}, "
        f"max {pct(base.max_weight if base and base.max_weight else policy.max_weight, 0)} "
        "per stock)",
        f"Strategy: {escape(STRATEGY_LABELS.get(Strategy(draft.strategy), draft.strategy))}",
    ]
    if base is not None:
        lines.append(
            f"Stocks: {base.top_n} · fractional shares {'on' if base.fractional else 'off'}"
        )
    return "\n".join(lines)


def profile_text(profile: Profile) -> str:
    """The saved profile."""
    policy = RISK_TABLE[profile.risk_level]
    max_weight = profile.max_weight if profile.max_weight is not None else policy.max_weight
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
