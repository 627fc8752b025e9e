"""User profiles: strict parsing, validation, the risk-level table and the level questionnaire.

Risk levels are places on the chosen universe's own capped efficient frontier. For the
candidates of a build, with ONE per-stock cap for every level, mean historical returns and
Ledoit-Wolf covariance:

* ``vmin`` is the volatility of the capped min-volatility portfolio;
* ``vmax`` is the volatility of the capped max-return portfolio (an LP: fill the stocks with
  the highest expected return up to the cap, within any sector caps);
* level ``k`` maximises expected return at volatility ``vmin + f_k * (vmax - vmin)``
  (PyPortfolioOpt's ``efficient_risk``; level 1 is the min-volatility portfolio itself):

====  ============  ========  ==============================  =====================
lvl   name          f_k       objective                       expert defaults
====  ============  ========  ==============================  =====================
1     conservative  0         min volatility                  target 10%, aversion 5
2     cautious      0.25      efficient risk at the target    target 12%, aversion 4
3     moderate      0.5       efficient risk at the target    target 18%, aversion 3
4     growth        0.75      efficient risk at the target    target 22%, aversion 2
5     aggressive    1         efficient risk at vmax          target 30%, aversion 1
====  ============  ========  ==============================  =====================

Volatility never decreases from level 1 to 5 by construction (a higher target can only
relax the constraint). The cap is :data:`LEVEL_MAX_WEIGHT` (25%) for every level, raised to
``1/n`` when there are fewer than four candidates; ``--max-weight`` overrides it. There is no
separate minimum number of holdings: a cap ``c`` already forces at least ``ceil(1/c)``
holdings, the same for every level, so the levels differ only in where they sit.

An explicit ``objective`` (experts) switches placement off; the "expert defaults" then supply
``target_volatility`` (efficient risk) and ``risk_aversion`` (max utility) unless given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from smallq.errors import InvalidCapitalError, ProfileError
from smallq.models import Note, NoteKind, Profile, Settings
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import CovModel, Objective, ReturnsModel, RiskLevel, Sector, Strategy

SUPPORTED_CURRENCIES: tuple[str, ...] = ("USD",)
_CURRENCY_MARKS = {"$": "USD", "usd": "USD", "us$": "USD", "dollars": "USD", "dollar": "USD"}
_FOREIGN_MARKS = ("€", "£", "¥", "₽", "eur", "gbp", "jpy", "chf", "rub", "cad", "aud")

#: the per-stock cap of every risk level (raised to 1/n for fewer than 4 candidates)
LEVEL_MAX_WEIGHT: float = 0.25
#: the one returns model and covariance model of every risk level
LEVEL_RETURNS_MODEL: ReturnsModel = ReturnsModel.MEAN
LEVEL_COV_MODEL: CovModel = CovModel.LEDOIT_WOLF


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """What one risk level implies.

    Attributes
    ----------
    frontier_fraction : float
        Where the level sits in the volatility range of its universe (0 = min volatility,
        1 = max return).
    target_volatility, risk_aversion : float
        Used only when an explicit objective (efficient risk, max utility) replaces placement.
    """

    frontier_fraction: float
    target_volatility: float
    risk_aversion: float


RISK_TABLE: Mapping[RiskLevel, RiskPolicy] = {
    RiskLevel.CONSERVATIVE: RiskPolicy(0.0, 0.10, 5.0),
    RiskLevel.CAUTIOUS: RiskPolicy(0.25, 0.12, 4.0),
    RiskLevel.MODERATE: RiskPolicy(0.5, 0.18, 3.0),
    RiskLevel.GROWTH: RiskPolicy(0.75, 0.22, 2.0),
    RiskLevel.AGGRESSIVE: RiskPolicy(1.0, 0.30, 1.0),
}


#: the frontier fractions of the levels, level 1 first
LEVEL_FRACTIONS: tuple[float, ...] = tuple(p.frontier_fraction for p in RISK_TABLE.values())


def level_max_weight(n_candidates: int, requested: float | None = None) -> float:
    """The per-stock cap of the risk levels for ``n_candidates`` stocks.

    Parameters
    ----------
    n_candidates : int
        Stocks entering the optimizer.
    requested : float, optional
        The user's ``max_weight``; it overrides the rule (and may then be infeasible).

    Returns
    -------
    float
        ``requested`` if given, else ``max(LEVEL_MAX_WEIGHT, 1 / n_candidates)``.
    """
    if requested is not None:
        return requested
    return max(LEVEL_MAX_WEIGHT, 1.0 / max(n_candidates, 1))


# --------------------------------------------------------------------------- questionnaire
class Horizon(StrEnum):
    """How long the money can stay invested."""

    UNDER_3_YEARS = "short"
    YEARS_3_TO_7 = "medium"
    OVER_7_YEARS = "long"


class DrawdownReaction(StrEnum):
    """What the investor would do after a 20% fall."""

    SELL = "sell"
    WAIT = "wait"
    BUY_MORE = "buy"


#: points of each answer; the suggested level is 1 + the sum (0..4 -> levels 1..5)
HORIZON_POINTS: Mapping[Horizon, int] = {
    Horizon.UNDER_3_YEARS: 0,
    Horizon.YEARS_3_TO_7: 1,
    Horizon.OVER_7_YEARS: 2,
}
REACTION_POINTS: Mapping[DrawdownReaction, int] = {
    DrawdownReaction.SELL: 0,
    DrawdownReaction.WAIT: 1,
    DrawdownReaction.BUY_MORE: 2,
}


def suggest_level(horizon: Horizon, reaction: DrawdownReaction) -> RiskLevel:
    """The risk level the two questions suggest (the user may still pick any level).

    ``level = 1 + horizon points + reaction points``, with under 3 years / sell = 0,
    3-7 years / wait = 1 and over 7 years / buy more = 2. A short horizon caps the suggestion
    at level 2 and a "sell" answer at level 2: money needed soon, or a investor who would sell
    after a fall, should not hold the portfolio most likely to fall far.
    """
    level = 1 + HORIZON_POINTS[horizon] + REACTION_POINTS[reaction]
    if horizon is Horizon.UNDER_3_YEARS or reaction is DrawdownReaction.SELL:
        level = min(level, 2)
    return RiskLevel(level)


# --------------------------------------------------------------------------- capital
def parse_capital(
    text: str, *, currency: str = "USD", params: EngineParams = DEFAULT_PARAMS
) -> float:
    """Parse an amount of money typed by a person, strictly.

    Accepted: ``5000``, ``5000.50``, ``10,000`` and ``10 000`` (thousands separators in
    groups of three), ``$5000``, ``5000 USD``, and the suffixes ``k``/``m`` (``10k``).
    Rejected with a reason: zero, negatives, NaN, infinities, exponents (``1e6``),
    Python-style underscores (``1_000``), a decimal comma (``10,5``), foreign currencies,
    more than two decimals, and amounts above ``params.max_capital``.

    Raises
    ------
    InvalidCapitalError
        With a reason fit to show the person.
    """
    raw = text if isinstance(text, str) else str(text)
    s = raw.strip().lower().replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    if not s:
        raise InvalidCapitalError(raw, "please type an amount, for example 10000")
    if len(s) > 40:
        raise InvalidCapitalError(raw[:40] + "…", "that number is far too long")
    if any(ch.isnumeric() and not ch.isascii() for ch in s):
        raise InvalidCapitalError(raw, "type the amount with the digits 0-9, for example 10000")
    if any(mark in s for mark in _FOREIGN_MARKS):
        raise InvalidCapitalError(
            raw, f"only {', '.join(SUPPORTED_CURRENCIES)} amounts are supported"
        )
    for mark in sorted(_CURRENCY_MARKS, key=len, reverse=True):
        if mark in s:
            if _CURRENCY_MARKS[mark] != currency:
                raise InvalidCapitalError(raw, f"the amount must be in {currency}")
            s = s.replace(mark, " ")
    s = s.strip()
    if s.startswith("-") or s.startswith("−"):
        raise InvalidCapitalError(raw, "the amount must be positive")
    if s.startswith("+"):
        s = s[1:].strip()
    if "_" in s:
        raise InvalidCapitalError(raw, "write the number without underscores, for example 1000")
    if (
        re.search(r"[0-9]\s*e\s*[+-]?[0-9]", s)
        or s in ("nan", "inf", "infinity")
        or "nan" in s
        or "inf" in s
    ):
        raise InvalidCapitalError(raw, "write the amount as plain digits, for example 1000000")
    multiplier = 1.0
    if s.endswith("k"):
        multiplier, s = 1e3, s[:-1].strip()
    elif s.endswith("m") or s.endswith("mln"):
        multiplier, s = 1e6, s.rstrip("mln").strip()
    number = _parse_grouped_number(raw, s)
    value = number * multiplier
    if not math.isfinite(value):
        raise InvalidCapitalError(raw, "the amount must be a finite number")
    if value <= 0:
        raise InvalidCapitalError(raw, "the amount must be greater than zero")
    if value > params.max_capital:
        raise InvalidCapitalError(raw, f"the amount must be at most {params.max_capital:,.0f}")
    return round(value, 2)


def _parse_grouped_number(raw: str, s: str) -> float:
    """Digits with optional 3-digit groups (`,` or space) and an optional `.` decimal part."""
    if re.fullmatch(r"[0-9]+,[0-9]{1,2}", s):
        raise InvalidCapitalError(raw, "use a dot for decimals, for example 10.50")
    match = re.fullmatch(r"([0-9]{1,3}(?:[, ][0-9]{3})+|[0-9]+)(?:\.([0-9]+))?", s)
    if match is None:
        raise InvalidCapitalError(
            raw, "that is not an amount I understand; type digits such as 10000"
        )
    whole, decimals = match.group(1), match.group(2)
    if decimals is not None and len(decimals) > 2:
        raise InvalidCapitalError(raw, "use at most two decimals")
    return float(re.sub(r"[, ]", "", whole) + ("." + decimals if decimals else ""))


def validate_capital(value: float, *, params: EngineParams = DEFAULT_PARAMS) -> float:
    """Check a numeric capital: finite, positive, not absurdly large."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidCapitalError(value, "the amount must be a number")
    if not math.isfinite(value):
        raise InvalidCapitalError(value, "the amount must be a finite number")
    if value <= 0:
        raise InvalidCapitalError(value, "the amount must be greater than zero")
    if value > params.max_capital:
        raise InvalidCapitalError(value, f"the amount must be at most {params.max_capital:,.0f}")
    return float(value)


# --------------------------------------------------------------------------- profile
def parse_sectors(value: str | Iterable[str | Sector]) -> tuple[Sector, ...]:
    """Parse "tech, Health Care" or a list of names/aliases into unique sectors, in order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    sectors: list[Sector] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        sector = Sector.parse(item)
        if sector not in sectors:
            sectors.append(sector)
    if not sectors:
        raise ProfileError("sectors", value, "choose at least one sector")
    return tuple(sectors)


def make_profile(
    *,
    sectors: str | Iterable[str | Sector],
    capital: float | str,
    risk_level: RiskLevel | str | int = RiskLevel.MODERATE,
    strategy: Strategy | str = Strategy.MOMENTUM,
    **fields: object,
) -> Profile:
    """Build a validated :class:`Profile` from loosely typed input (CLI flags, bot answers).

    Raises
    ------
    InputError
        Any subclass, with a message naming the bad field.
    """
    money = parse_capital(capital) if isinstance(capital, str) else validate_capital(capital)
    parsed: dict[str, object] = dict(fields)
    for key, enum in (
        ("objective", Objective),
        ("returns_model", ReturnsModel),
        ("cov_model", CovModel),
    ):
        if parsed.get(key) is not None:
            parsed[key] = enum.parse(parsed[key])
    caps = parsed.get("sector_caps")
    if caps:
        parsed["sector_caps"] = {Sector.parse(k): float(v) for k, v in dict(caps).items()}  # type: ignore[call-overload]
    for key in ("include", "exclude"):
        if parsed.get(key):
            value = parsed[key]
            items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
            parsed[key] = tuple(t.strip().upper().replace(".", "-") for t in items if t.strip())
    profile = Profile(
        sectors=parse_sectors(sectors),
        capital=money,
        risk_level=RiskLevel.parse(risk_level),
        strategy=Strategy.parse(strategy),
        **parsed,  # type: ignore[arg-type]
    )
    validate_profile(profile)
    return profile


def validate_profile(profile: Profile) -> Profile:
    """Check every field's range; return the profile unchanged.

    Raises
    ------
    ProfileError, InvalidCapitalError
    """
    validate_capital(profile.capital)
    if profile.currency not in SUPPORTED_CURRENCIES:
        raise ProfileError(
            "currency", profile.currency, f"supported: {', '.join(SUPPORTED_CURRENCIES)}"
        )
    _check_range("top_n", profile.top_n, 2, 500, integer=True)
    _check_range("lookback_days", profile.lookback_days, 126, 10_000, integer=True)
    _check_range("risk_free_rate", profile.risk_free_rate, -0.05, 0.25)
    if profile.max_weight is not None:
        _check_range("max_weight", profile.max_weight, 0.0, 1.0, low_open=True)
    if profile.target_volatility is not None:
        _check_range("target_volatility", profile.target_volatility, 0.0, 2.0, low_open=True)
    if profile.risk_aversion is not None:
        _check_range("risk_aversion", profile.risk_aversion, 0.0, 1000.0, low_open=True)
    for sector, cap in profile.sector_caps.items():
        _check_range(f"sector cap for {sector}", cap, 0.0, 1.0, low_open=True)
    for name in ("min_market_cap", "max_market_cap", "min_dollar_volume"):
        value = getattr(profile, name)
        if value is not None:
            _check_range(name, value, 0.0, 1e15)
    if (
        profile.min_market_cap is not None
        and profile.max_market_cap is not None
        and profile.min_market_cap > profile.max_market_cap
    ):
        raise ProfileError(
            "market cap band",
            (profile.min_market_cap, profile.max_market_cap),
            "the minimum is above the maximum",
        )
    return profile


def _check_range(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(name, value, "must be a finite number")
    if integer and int(value) != value:
        raise ProfileError(name, value, "must be a whole number")
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"above {low:g}" if low_open else f"at least {low:g}"
        raise ProfileError(name, value, f"must be {bound} and at most {high:g}")


def validate_backtest_request(start: date, end: date, costs_bps: float) -> None:
    """Check a backtest's dates and costs.

    Raises
    ------
    ProfileError
        When ``end`` is not after ``start`` or ``costs_bps`` is outside 0..1000.
    """
    if end <= start:
        raise ProfileError(
            "end", end.isoformat(), f"the end date must be after the start date {start.isoformat()}"
        )
    if not 0 <= costs_bps <= 1_000:
        raise ProfileError("costs_bps", costs_bps, "must be between 0 and 1000 basis points")


def resolve_settings(profile: Profile, n_candidates: int | None = None) -> Settings:
    """Fill every knob the profile leaves open from its risk level (:data:`RISK_TABLE`).

    Without an explicit objective the level places the portfolio on the frontier
    (``frontier_fraction``); with one, the level only supplies the expert defaults.

    Parameters
    ----------
    profile : Profile
    n_candidates : int, optional
        Stocks entering the optimizer; the level cap is raised to ``1/n`` when needed.
    """
    policy = RISK_TABLE[profile.risk_level]
    n = n_candidates if n_candidates is not None else 1_000
    return Settings(
        objective=profile.objective or Objective.EFFICIENT_RISK,
        returns_model=profile.returns_model or LEVEL_RETURNS_MODEL,
        cov_model=profile.cov_model or LEVEL_COV_MODEL,
        max_weight=level_max_weight(n, profile.max_weight),
        min_holdings=1,
        risk_free_rate=profile.risk_free_rate,
        target_volatility=(
            profile.target_volatility
            if profile.target_volatility is not None
            else policy.target_volatility
        ),
        risk_aversion=profile.risk_aversion
        if profile.risk_aversion is not None
        else policy.risk_aversion,
        frontier_fraction=policy.frontier_fraction if profile.objective is None else None,
    )


def fit_min_holdings(settings: Settings, n_candidates: int) -> Settings:
    """Lower ``min_holdings`` to the number of candidates when the risk level asks for more.

    The build and the backtest policy both do this before checking feasibility, so a short
    candidate list is not refused for the risk level's minimum alone.
    """
    if settings.min_holdings > n_candidates:
        return replace(settings, min_holdings=n_candidates)
    return settings


def cap_notes(profile: Profile, settings: Settings) -> list[Note]:
    """Say when the minimum number of holdings lowers the max weight the user asked for."""
    effective = min(settings.max_weight, 1.0 / settings.min_holdings)
    if effective >= settings.max_weight - 1e-12:
        return []
    text = (
        f"Max weight {settings.max_weight:.0%} lowered to {effective:.1%} so the portfolio "
        f"holds at least {settings.min_holdings} stocks ({profile.risk_level.label} risk)."
    )
    fields = (
        ("max_weight", repr(settings.max_weight)),
        ("effective_max_weight", repr(effective)),
        ("min_holdings", str(settings.min_holdings)),
    )
    return [Note(NoteKind.CONSTRAINT, text, fields)]


def level_cap_notes(profile: Profile, settings: Settings, n_candidates: int) -> list[Note]:
    """Say when the risk levels' cap was raised to ``1/n`` so few stocks can fill 100%."""
    if profile.max_weight is not None or settings.max_weight <= LEVEL_MAX_WEIGHT + 1e-12:
        return []
    text = (
        f"Max weight raised from {LEVEL_MAX_WEIGHT:.0%} to {settings.max_weight:.1%} "
        f"(1/{n_candidates}) so {n_candidates} stocks can fill the portfolio; every risk level "
        "then holds the same equal-weight mix."
    )
    fields = (("max_weight", repr(settings.max_weight)), ("n_candidates", str(n_candidates)))
    return [Note(NoteKind.CONSTRAINT, text, fields)]


def with_as_of(profile: Profile, as_of: date | None) -> Profile:
    """Return the profile with another decision date."""
    return replace(profile, as_of=as_of)
