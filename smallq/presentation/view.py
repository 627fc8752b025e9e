"""The typed view of one built portfolio that every front end renders.

:func:`smallq.presentation.build.present_portfolio` builds a :class:`PortfolioView` once from
the engine's :class:`~smallq.models.Report`; the CLI text, the JSON document, the bot's HTML
and the dashboard render it, and storage keeps it (``to_dict`` / ``from_dict``, schema
:data:`VIEW_SCHEMA`). Every figure carries its label, value, unit, base and a one-line
explanation. Rates and losses are fractions (losses positive); money is in ``currency``.

Money base: every amount derived from a rate (VaR, CVaR, stress losses) is that rate times
the **capital**, the account value at the build (invested amount plus cash); see
:data:`Base.CAPITAL`. The rates themselves describe the portfolio **as bought**: each stock at
``amount / capital`` and the cash left earning nothing, so a rate is a share of the capital
too and rate x capital is the money.

Holdings rule: a table shows each holding's **achieved** weight (``amount / capital``), and
its target weight too where the two differ by more than :data:`TARGET_SHOWN_ABOVE` (half a
percentage point), see :attr:`HoldingView.shows_target`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from smallq.models import Note, NoteKind, OutOfSampleRecord, RiskPlacement

#: ``schema`` of :meth:`PortfolioView.to_dict`; bump on an incompatible change
VIEW_SCHEMA = "smallq.view/1"

#: a holding's target weight is shown beside the achieved one when they differ by more
TARGET_SHOWN_ABOVE = 0.005


class Unit(StrEnum):
    """How a figure's value is read."""

    FRACTION = "fraction"  # 0.123 is 12.3%
    MONEY = "money"  # in the view's currency
    RATIO = "ratio"  # a plain number such as Sharpe or beta
    COUNT = "count"  # a number of things (effective holdings)


class Base(StrEnum):
    """What a figure is a share of, or the amount it was computed on."""

    PORTFOLIO = "portfolio"  # a rate of the portfolio as bought: the shares plus the cash left
    CAPITAL = "capital"  # money: the rate times the capital (invested + cash at the build)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number with what it means.

    Attributes
    ----------
    key : str
        Stable identifier (``"var_95_amount"``), also the JSON key where one exists.
    label : str
        Short label for people ("VaR 95%, 1 day").
    value : float
        The number; NaN when unknown.
    unit : Unit
        How to read ``value``.
    base : Base or None
        What ``value`` is a share of or was computed on; None for ratios and counts.
    explanation : str
        One plain-language sentence.
    """

    key: str
    label: str
    value: float
    unit: Unit
    base: Base | None
    explanation: str


@dataclass(frozen=True, slots=True)
class HoldingView:
    """One line of the portfolio; weights are fractions, ``achieved_weight = amount / capital``."""

    ticker: str
    name: str | None
    sector: str | None
    shares: float
    price: float
    amount: float
    target_weight: float
    achieved_weight: float

    @property
    def shows_target(self) -> bool:
        """Whether a table shows the target beside the achieved weight (they differ > 0.5 pt)."""
        return abs(self.achieved_weight - self.target_weight) > TARGET_SHOWN_ABOVE + 1e-12


@dataclass(frozen=True, slots=True)
class VarRow:
    """VaR and CVaR for one method, confidence and horizon: fractions and money on ``base``."""

    method: str
    method_label: str
    confidence: float
    horizon_days: int
    var: float
    cvar: float
    var_amount: float
    cvar_amount: float
    base: Base


@dataclass(frozen=True, slots=True)
class ScenarioView:
    """A stress scenario: the portfolio's return (negative is a loss) and that in money."""

    name: str
    kind: str
    portfolio_return: float
    benchmark_return: float | None
    amount: float
    base: Base
    estimated: bool
    start: date | None
    end: date | None
    note: str


@dataclass(frozen=True, slots=True)
class MonteCarloView:
    """Simulated returns over a horizon: ``(quantile, return)`` and ``(loss, probability)``."""

    method: str
    method_label: str
    n_paths: int
    horizon_days: int
    mean_return: float
    percentiles: tuple[tuple[float, float], ...]
    loss_probabilities: tuple[tuple[float, float], ...]

    def percentile(self, quantile: float) -> float | None:
        """The return at one quantile (0.05 is the 5th percentile), or None."""
        return _lookup(self.percentiles, quantile)

    def loss_probability(self, loss: float) -> float | None:
        """P(return < -loss), or None."""
        return _lookup(self.loss_probabilities, loss)


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """The request in words and numbers."""

    sectors: tuple[str, ...]
    risk_level: int
    risk_label: str
    strategy: str
    top_n: int
    lookback_days: int
    fractional: bool


@dataclass(frozen=True, slots=True)
class OptimizerSummary:
    """Which step of the fallback chain produced the weights, and why the others did not."""

    objective_requested: str
    objective_used: str
    solver: str
    fallbacks: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """Everything a front end shows about one build.

    Attributes
    ----------
    figures : tuple of Figure
        Return and risk figures, including the headline 1-day historical VaR/CVaR at 95% and
        99% as fractions (``var_95``) and in money (``var_95_amount``).
    var_table : tuple of VarRow
        Every method x confidence x horizon computed.
    var_base : Base
        The amount VaR, CVaR and stress results in money were computed on.
    risk_contributions : tuple of (str, float)
        Share of the variance from each holding, largest first.
    placement : RiskPlacement or None
        Where the risk level sits on the frontier of these stocks (volatilities as fractions);
        None when the level was not placed (an explicit objective, or placement failed).
    out_of_sample : OutOfSampleRecord or None
        The profile's walk-forward record before the decision date, with its ``note``; None
        when the build ran without one.
    """

    as_of: date
    source: str
    fetched_at: datetime | None
    currency: str
    capital: float
    cash: float
    profile: ProfileSummary
    optimizer: OptimizerSummary
    holdings: tuple[HoldingView, ...]
    figures: tuple[Figure, ...]
    var_table: tuple[VarRow, ...]
    var_base: Base
    risk_contributions: tuple[tuple[str, float], ...]
    scenarios: tuple[ScenarioView, ...]
    monte_carlo: tuple[MonteCarloView, ...]
    notes: tuple[Note, ...]
    placement: RiskPlacement | None = None
    out_of_sample: OutOfSampleRecord | None = None

    @property
    def invested(self) -> float:
        """Money spent on shares."""
        return self.capital - self.cash

    def figure(self, key: str) -> Figure:
        """One figure by key.

        Raises
        ------
        KeyError
            When the view has no such figure.
        """
        for item in self.figures:
            if item.key == key:
                return item
        raise KeyError(key)

    def var_row(
        self, confidence: float, horizon_days: int = 1, method: str = "historical"
    ) -> VarRow | None:
        """The VaR row for one method, confidence and horizon, or None."""
        for row in self.var_table:
            if (
                row.method == method
                and abs(row.confidence - confidence) < 1e-9
                and row.horizon_days == horizon_days
            ):
                return row
        return None

    def notes_of(self, *kinds: NoteKind) -> tuple[Note, ...]:
        """The notes of the given kinds, in order."""
        return tuple(n for n in self.notes if n.kind in kinds)

    def notes_except(self, *kinds: NoteKind) -> tuple[Note, ...]:
        """The notes of every other kind, in order."""
        return tuple(n for n in self.notes if n.kind not in kinds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain values (NaN stays a float; storage writes it as null)."""
        from smallq.presentation.codec import view_to_dict

        return view_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PortfolioView:
        """Rebuild a view written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            When ``data`` is not a view of a known schema or a field is unreadable.
        """
        from smallq.presentation.codec import view_from_dict

        return view_from_dict(data)


def _lookup(pairs: tuple[tuple[float, float], ...], key: float) -> float | None:
    for k, v in pairs:
        if abs(k - key) < 1e-9:
            return v
    return None
