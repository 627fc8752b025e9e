"""One typed presentation of a built portfolio that every front end renders.

* :mod:`~smallq.presentation.view` – the frozen view (:class:`PortfolioView`, :class:`Figure`,
  ...), with ``to_dict`` / ``from_dict`` for storage and the dashboard;
* :mod:`~smallq.presentation.build` – :func:`present_portfolio`, built once from a report;
* :mod:`~smallq.presentation.formatting` – :func:`money`, :func:`pct` and friends: the one
  place numbers become text.
"""

from __future__ import annotations

from smallq.presentation.build import (
    OBJECTIVE_LABELS,
    VAR_BASE,
    assemble_view,
    monte_carlo_views,
    objective_label,
    present_portfolio,
    var_explanation,
)
from smallq.presentation.formatting import figure_text, money, num, pct, points, signed_pct
from smallq.presentation.view import (
    TARGET_SHOWN_ABOVE,
    VIEW_SCHEMA,
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

__all__ = [
    "OBJECTIVE_LABELS",
    "TARGET_SHOWN_ABOVE",
    "VAR_BASE",
    "VIEW_SCHEMA",
    "Base",
    "Figure",
    "HoldingView",
    "MonteCarloView",
    "OptimizerSummary",
    "PortfolioView",
    "ProfileSummary",
    "ScenarioView",
    "Unit",
    "VarRow",
    "assemble_view",
    "figure_text",
    "money",
    "monte_carlo_views",
    "num",
    "objective_label",
    "pct",
    "points",
    "present_portfolio",
    "signed_pct",
    "var_explanation",
]
