"""The smallQ error tree: the only place error types live.

Every error carries structured fields for code and a ``user_message()`` for people;
``str(exc)`` is for logs. Third-party exceptions are translated into these only in
adapters (``smallq.data``, ``smallq.optimize``, ``storage``) with ``raise X(...) from exc``.

::

    SmallQError
    ├── InputError                      bad user input; nothing is changed
    │   ├── InvalidCapitalError         capital zero, negative, NaN, inf, unparsable, too large
    │   ├── UnknownSectorError          a sector name that no alias resolves
    │   ├── UnknownOptionError          an unknown strategy/objective/risk level/... value
    │   ├── ProfileError                any other invalid profile field (field, value)
    │   └── SignInError                 a dashboard sign-in link that is forged/expired (reason)
    ├── DataError
    │   ├── DataUnavailableError        no usable prices for some tickers (tickers)
    │   ├── InsufficientHistoryError    too few observations (n_observations, required)
    │   ├── DataFormatError             a CSV/frame with the wrong shape or columns (path, detail)
    │   └── FundamentalsMissingError    a factor lacks fundamentals (tickers, factor)
    │       └── FundamentalsNotKnownYetError  none dated on or before the decision (as_of)
    ├── SelectionError
    │   └── TooFewCandidatesError       a filter left too few stocks (filter_name, remaining)
    ├── OptimizationError
    │   ├── InfeasibleConstraintsError  constraints cannot all hold (constraint, suggestion)
    │   └── SolverError                 every solver failed (objective, detail)
    ├── AllocationError                 capital below the cheapest share (capital, cheapest)
    └── StorageError                    database problems (retryable when locked)
        └── DatabaseLockedError
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from datetime import date


def closest_match(value: object, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``value`` (case-insensitive), or None when none is close.

    Used for "did you mean" hints: ``closest_match("momentun", ["momentum", "value"])`` is
    ``"momentum"``.
    """
    by_key = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(str(value).strip().lower()[:100], by_key, n=1, cutoff=0.6)
    return by_key[found[0]] if found else None


def _hint(suggestion: str | None) -> str:
    return f" Did you mean {suggestion!r}?" if suggestion else ""


class SmallQError(Exception):
    """Base class of every error smallQ raises on purpose."""

    retryable: bool = False

    def user_message(self) -> str:
        """Return a short sentence for the person using smallQ."""
        return "Something went wrong while building your portfolio."


# --------------------------------------------------------------------------- input
class InputError(SmallQError):
    """The user's input is invalid; nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(message)

    def user_message(self) -> str:
        return self.message


class InvalidCapitalError(InputError):
    """Capital that is not a finite positive amount within limits."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"Invalid capital {value!r}: {reason}", field="capital")

    def user_message(self) -> str:
        return f"That amount doesn't work: {self.reason}."


class UnknownSectorError(InputError):
    """A sector name that no alias resolves."""

    def __init__(self, name: str, known: Sequence[str], suggestion: str | None = None) -> None:
        self.name = name
        self.known = tuple(known)
        self.suggestion = suggestion if suggestion is not None else closest_match(name, known)
        super().__init__(
            f"Unknown sector {name!r}.{_hint(self.suggestion)} "
            f"Known sectors: {', '.join(self.known)}.",
            field="sectors",
        )


class UnknownOptionError(InputError):
    """An option value (strategy, objective, risk level, ...) that is not recognised."""

    def __init__(self, option: str, value: object, allowed: Sequence[str]) -> None:
        self.option = option
        self.value = value
        self.allowed = tuple(allowed)
        self.suggestion = closest_match(value, self.allowed)
        super().__init__(
            f"Unknown {option} {value!r}.{_hint(self.suggestion)} "
            f"Choose one of: {', '.join(self.allowed)}.",
            field=option,
        )


class ProfileError(InputError):
    """Any other invalid profile field."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"Invalid {field} {value!r}: {reason}", field=field)


# --------------------------------------------------------------------------- data
class DataError(SmallQError):
    """Market data is missing or unusable."""

    def user_message(self) -> str:
        return "I couldn't get usable market data for this request."


class DataUnavailableError(DataError):
    """No usable prices for some tickers (an empty or partial frame, a date outside the data).

    ``retryable`` is True only when a provider may answer later (Yahoo unreachable or
    rate-limited); local data (sample, CSV) that lacks a ticker or a date is final.
    """

    def __init__(
        self,
        tickers: Sequence[str],
        detail: str = "",
        *,
        retryable: bool = False,
        what: str = "prices",
    ) -> None:
        self.tickers = tuple(tickers)
        self.detail = detail
        self.retryable = retryable
        self.what = what
        msg = f"no usable {what} for {', '.join(self.tickers) or '(none)'}"
        super().__init__(f"{msg}: {detail}" if detail else msg)

    def user_message(self) -> str:
        shown = ", ".join(self.tickers[:10]) + (" …" if len(self.tickers) > 10 else "")
        text = f"I couldn't get {self.what} for {shown or 'this request'}"
        text += f": {self.detail}." if self.detail else "."
        return f"{text} Please try again later." if self.retryable else text


class InsufficientHistoryError(DataError):
    """Too few observations for the requested computation."""

    DEFAULT_HINT = "Choose an earlier start, a shorter lookback or fewer stocks."

    def __init__(
        self, n_observations: int, required: int, what: str = "price history", hint: str = ""
    ) -> None:
        self.n_observations = n_observations
        self.required = required
        self.what = what
        self.hint = hint or self.DEFAULT_HINT
        super().__init__(f"{what}: {n_observations} observations, {required} required")

    def user_message(self) -> str:
        return (
            f"Not enough {self.what}: {self.n_observations} trading days, "
            f"{self.required} needed. {self.hint}"
        )


class DataFormatError(DataError):
    """A file or frame has the wrong shape or columns."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")

    def user_message(self) -> str:
        return f"The data in {self.path} is not in the expected format: {self.detail}"


class FundamentalsMissingError(DataError):
    """A factor needs fundamentals (P/E, P/B, dividend yield) that the source does not have."""

    def __init__(self, factor: str, tickers: Sequence[str]) -> None:
        self.factor = factor
        self.tickers = tuple(tickers)
        super().__init__(f"{factor} needs fundamentals missing for {len(self.tickers)} tickers")

    def user_message(self) -> str:
        return (
            f"The {self.factor} strategy needs fundamentals (P/E, P/B, dividend yield), "
            "which this data source does not have. Try momentum or low volatility."
        )


class FundamentalsNotKnownYetError(FundamentalsMissingError):
    """A factor needs fundamentals at a date, but all the source has is dated later (or undated).

    Using them would score the past with figures from the future, so the ranking is refused.
    """

    def __init__(
        self,
        factor: str,
        tickers: Sequence[str],
        as_of: date,
        available: str,
        first_date: date | None,
    ) -> None:
        self.as_of = as_of
        self.available = available
        self.first_date = first_date
        super().__init__(factor, tickers)
        self.args = (
            f"{factor} at {as_of.isoformat()}: no fundamentals dated on or before it ({available})",
        )

    def user_message(self) -> str:
        when = f"{self.as_of:%Y-%m-%d}"
        if self.first_date is None:
            why = (
                f"the only fundamentals here are {self.available}: they may be later than "
                f"{when}, so using them would score that date with figures from the future"
            )
        else:
            why = (
                f"the fundamentals here are {self.available}, so none was known on {when}; "
                "using them would score that date with figures from the future"
            )
        return (
            f"The {self.factor} ranking on {when} needs P/E, P/B and dividend yields known by "
            f"then, but {why}. Try momentum or low volatility, which use prices only."
        )


# --------------------------------------------------------------------------- selection
class SelectionError(SmallQError):
    """Stock selection failed."""


class TooFewCandidatesError(SelectionError):
    """A filter left too few stocks; the message says which filter to relax."""

    def __init__(self, filter_name: str, remaining: int, required: int, hint: str = "") -> None:
        self.filter_name = filter_name
        self.remaining = remaining
        self.required = required
        self.hint = hint
        super().__init__(f"filter {filter_name!r} left {remaining} stocks, {required} required")

    def user_message(self) -> str:
        base = (
            f"Only {self.remaining} stock(s) pass the {self.filter_name} filter; "
            f"at least {self.required} are needed."
        )
        return f"{base} {self.hint}".strip()


# --------------------------------------------------------------------------- optimization
class OptimizationError(SmallQError):
    """Portfolio optimization failed."""


class InfeasibleConstraintsError(OptimizationError):
    """The constraints cannot all hold; ``suggestion`` says what to relax."""

    def __init__(self, constraint: str, detail: str, suggestion: str) -> None:
        self.constraint = constraint
        self.detail = detail
        self.suggestion = suggestion
        super().__init__(f"infeasible {constraint}: {detail}")

    def user_message(self) -> str:
        return f"These settings cannot all hold: {self.detail}. {self.suggestion}"


class SolverError(OptimizationError):
    """Every solver failed for an objective."""

    def __init__(self, objective: str, detail: str) -> None:
        self.objective = objective
        self.detail = detail
        super().__init__(f"{objective}: {detail}")

    def user_message(self) -> str:
        return "The optimizer could not find a portfolio for these settings."


class SignInError(InputError):
    """A signed dashboard link that cannot sign anyone in.

    ``reason`` is ``"malformed"``, ``"forged"`` (the signature does not match: altered,
    another user's id, or another secret), ``"expired"`` or ``"disabled"`` (no secret set).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"sign-in refused: {reason}", field="token")

    def user_message(self) -> str:
        if self.reason == "expired":
            return "This sign-in link has expired. Send /dashboard to the bot for a new one."
        if self.reason == "disabled":
            return "Sign-in is not set up on this dashboard."
        return "This sign-in link is not valid. Send /dashboard to the bot for a new one."


# --------------------------------------------------------------------------- allocation
class AllocationError(SmallQError):
    """The capital cannot buy a whole share of any candidate."""

    def __init__(self, capital: float, cheapest: float, currency: str = "USD") -> None:
        self.capital = capital
        self.cheapest = cheapest
        self.currency = currency
        super().__init__(f"capital {capital} below the cheapest share {cheapest}")

    def user_message(self) -> str:
        return (
            f"{self.capital:,.2f} {self.currency} is less than one share of any candidate "
            f"(the cheapest costs {self.cheapest:,.2f}). Add capital or allow fractional shares."
        )


# --------------------------------------------------------------------------- storage
class StorageError(SmallQError):
    """The database could not be read or written."""

    def user_message(self) -> str:
        return "I couldn't save or load your data just now. Please try again in a moment."


class DatabaseLockedError(StorageError):
    """The database stayed locked past the busy timeout; nothing was written."""

    retryable = True
