"""Type aliases and option enums, each parsed once at the edge with ``parse``.

Parsing raises :class:`~smallq.errors.UnknownOptionError` (or ``UnknownSectorError``)
with the allowed values, so the CLI and the bot can show a clear message.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import Self, TypeAlias

from smallq.errors import UnknownOptionError, UnknownSectorError

Ticker: TypeAlias = str

ProgressCallback: TypeAlias = Callable[[int, int], None]
"""``on_progress(done, total)``: long engine loops report their progress through it."""


def _key(text: str) -> str:
    """Lower-case ``text`` without spaces and ASCII punctuation.

    Other characters are kept, so ``"3²"`` or a full-width ``"３"`` match nothing instead of
    collapsing to ``"3"``.
    """
    lowered = text.strip().lower()
    return "".join(c for c in lowered if not (c.isspace() or (c.isascii() and not c.isalnum())))


class _ParseMixin:
    """``parse`` accepts the value, the name, or a spelling with other case/punctuation."""

    @classmethod
    def parse(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        text = _key(str(value))
        for member in cls:  # type: ignore[attr-defined]
            if text in (_key(member.value), _key(member.name)):
                return member  # type: ignore[no-any-return]
        raise UnknownOptionError(
            _key(cls.__name__),
            value,
            [m.value for m in cls],  # type: ignore[attr-defined]
        )


class Strategy(_ParseMixin, StrEnum):
    """Stock ranking factor."""

    MOMENTUM = "momentum"
    VALUE = "value"
    LOW_VOL = "low_vol"
    COMPOSITE = "composite"


class Objective(_ParseMixin, StrEnum):
    """Optimization objective; ``EQUAL_WEIGHT`` is the last step of the fallback chain.

    ``RISK_PARITY`` gives every holding the same share of risk; ``HYBRID`` blends max-Sharpe
    (MVO) and HRP weights in the stated ratio ``smallq.optimize.HYBRID_MVO_SHARE``.
    """

    MAX_SHARPE = "max_sharpe"
    MIN_VOLATILITY = "min_volatility"
    EFFICIENT_RISK = "efficient_risk"
    MAX_UTILITY = "max_utility"
    HRP = "hrp"
    EQUAL_WEIGHT = "equal_weight"
    RISK_PARITY = "risk_parity"
    HYBRID = "hybrid"


class ReturnsModel(_ParseMixin, StrEnum):
    """Expected-returns estimator."""

    MEAN = "mean"
    EMA = "ema"
    CAPM = "capm"


class CovModel(_ParseMixin, StrEnum):
    """Covariance estimator."""

    SAMPLE = "sample"
    LEDOIT_WOLF = "ledoit_wolf"
    EXP = "exp"


class VarMethod(_ParseMixin, StrEnum):
    """Value-at-risk estimation method."""

    HISTORICAL = "historical"
    PARAMETRIC = "parametric"
    CORNISH_FISHER = "cornish_fisher"


class MonteCarloMethod(_ParseMixin, StrEnum):
    """Monte Carlo return generator."""

    BOOTSTRAP = "bootstrap"
    NORMAL = "normal"
    STUDENT_T = "student_t"


class RiskLevel(IntEnum):
    """Risk appetite, 1 (most careful) to 5 (most aggressive).

    ``parse`` accepts the words conservative/moderate/aggressive (and cautious, growth)
    as well as the digits 1-5.
    """

    CONSERVATIVE = 1
    CAUTIOUS = 2
    MODERATE = 3
    GROWTH = 4
    AGGRESSIVE = 5

    @classmethod
    def parse(cls, value: object) -> RiskLevel:
        if isinstance(value, RiskLevel):
            return value
        text = _key(str(value))
        for member in cls:
            if text in (_key(member.name), str(member.value)):
                return member
        raise UnknownOptionError(
            "risk level",
            value,
            [
                "conservative",
                "cautious",
                "moderate",
                "growth",
                "aggressive",
                "1",
                "2",
                "3",
                "4",
                "5",
            ],
        )

    @property
    def label(self) -> str:
        """Lower-case name for messages ("moderate")."""
        return self.name.lower()


class Sector(StrEnum):
    """The 11 GICS sectors (post-2018 names)."""

    COMMUNICATION_SERVICES = "Communication Services"
    CONSUMER_DISCRETIONARY = "Consumer Discretionary"
    CONSUMER_STAPLES = "Consumer Staples"
    ENERGY = "Energy"
    FINANCIALS = "Financials"
    HEALTH_CARE = "Health Care"
    INDUSTRIALS = "Industrials"
    INFORMATION_TECHNOLOGY = "Information Technology"
    MATERIALS = "Materials"
    REAL_ESTATE = "Real Estate"
    UTILITIES = "Utilities"

    @classmethod
    def parse(cls, value: object) -> Sector:
        """Resolve a sector name or alias ("tech", "IT", "technology" → Information Technology).

        Raises
        ------
        UnknownSectorError
            When no sector or alias matches.
        """
        if isinstance(value, Sector):
            return value
        found = _sector_of_text(str(value))
        if found is not None:
            return found
        key = _key(str(value))
        names = {**{_key(m.value): m for m in cls}, **SECTOR_ALIASES}
        near = difflib.get_close_matches(key[:100], names, n=1, cutoff=0.6)
        suggestion = names[near[0]].value if near else None
        raise UnknownSectorError(str(value), [m.value for m in cls], suggestion)

    @property
    def short(self) -> str:
        """Short label for buttons and charts."""
        return _SHORT[self]


SECTOR_ALIASES: dict[str, Sector] = {
    _key(alias): sector
    for sector, aliases in {
        Sector.INFORMATION_TECHNOLOGY: [
            "IT",
            "tech",
            "technology",
            "info tech",
            "information tech",
        ],
        Sector.HEALTH_CARE: ["healthcare", "health", "pharma", "medical"],
        Sector.FINANCIALS: ["financial", "finance", "banks", "banking", "fin"],
        Sector.CONSUMER_DISCRETIONARY: ["discretionary", "consumer cyclical", "cyclical", "retail"],
        Sector.CONSUMER_STAPLES: ["staples", "consumer defensive", "defensive"],
        Sector.ENERGY: ["oil", "oil and gas", "oil & gas"],
        Sector.INDUSTRIALS: ["industrial", "industry"],
        Sector.MATERIALS: ["basic materials", "material", "chemicals"],
        Sector.REAL_ESTATE: ["realestate", "reit", "reits", "property"],
        Sector.UTILITIES: ["utility", "utils"],
        Sector.COMMUNICATION_SERVICES: [
            "communication",
            "communications",
            "telecom",
            "telecommunication services",
            "telecommunications",
            "media",
            "comm services",
        ],
    }.items()
    for alias in aliases
}



@functools.cache
def _sector_keys() -> dict[str, Sector]:
    """Every spelling key :meth:`Sector.parse` accepts: values and names first, then aliases.

    Built once: a company table parses one sector per row.
    """
    keys: dict[str, Sector] = {}
    for member in reversed(Sector):  # the first member in order wins a shared key
        keys[_key(member.name)] = member
        keys[_key(member.value)] = member
    return {**SECTOR_ALIASES, **keys}


@functools.lru_cache(maxsize=1024)
def _sector_of_text(text: str) -> Sector | None:
    """The sector :func:`_sector_keys` gives ``text``'s key (None when none), memoised.

    A company table repeats a dozen sector spellings over every row (hundreds of rows per
    build): each spelling's key is formed once.
    """
    return _sector_keys().get(_key(text))


_SHORT: dict[Sector, str] = {
    Sector.COMMUNICATION_SERVICES: "Comm",
    Sector.CONSUMER_DISCRETIONARY: "Discr",
    Sector.CONSUMER_STAPLES: "Staples",
    Sector.ENERGY: "Energy",
    Sector.FINANCIALS: "Fin",
    Sector.HEALTH_CARE: "Health",
    Sector.INDUSTRIALS: "Indust",
    Sector.INFORMATION_TECHNOLOGY: "Tech",
    Sector.MATERIALS: "Mater",
    Sector.REAL_ESTATE: "RE",
    Sector.UTILITIES: "Util",
}


class Side(StrEnum):
    """Order direction."""

    BUY = "BUY"
    SELL = "SELL"


class PlanOutcome(StrEnum):
    """What pressing Apply or Skip on a stored rebalance plan did."""

    APPLIED = "applied"
    SKIPPED = "skipped"
    ALREADY_DONE = "already_done"
    STALE = "stale"
    EXPIRED = "expired"
    NOT_FOUND = "not_found"
