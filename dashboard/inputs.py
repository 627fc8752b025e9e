"""The profile widgets shared by the Build, Compare, Backtest and Stress pages.

Widget values live in ``st.session_state`` under :data:`KEYS`, so a choice made on one page
is still there on the next (:func:`keep_choices` re-assigns them, Streamlit's way of keeping
the state of widgets that a page does not draw).
"""

from __future__ import annotations

import streamlit as st

from dashboard import services
from smallq.profile import RISK_TABLE
from smallq.types import RiskLevel, Strategy

KEYS = ("in_sectors", "in_capital", "in_risk", "in_strategy")
DEFAULT_SECTORS = ("Information Technology", "Health Care")
STRATEGY_LABELS = {
    Strategy.MOMENTUM: "Momentum",
    Strategy.VALUE: "Value",
    Strategy.LOW_VOL: "Low volatility",
    Strategy.COMPOSITE: "Composite",
}


def keep_choices() -> None:
    """Carry the profile widgets' values over from the page that set them."""
    for key in KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def risk_label(level: int) -> str:
    """``"3 · moderate (50% of the way up the frontier)"``."""
    risk = RiskLevel(level)
    place = RISK_TABLE[risk].frontier_fraction
    return f"{level} · {risk.label} ({place:.0%} of the way up the frontier)"


def profile_inputs() -> services.BuildRequest:
    """Sectors (with stock counts), capital, risk level and strategy."""
    counts = services.sector_counts(services.settings().source)
    if "in_sectors" not in st.session_state:
        st.session_state["in_sectors"] = [s for s in DEFAULT_SECTORS if s in counts]
    st.session_state.setdefault("in_capital", "10,000")
    st.session_state.setdefault("in_risk", 3)
    sectors = st.multiselect(
        "Sectors", list(counts), key="in_sectors",
        format_func=lambda s: f"{s} ({counts.get(s, 0)} stocks)",
    )  # fmt: skip
    left, right = st.columns(2)
    capital = left.text_input("Capital (USD)", key="in_capital")
    strategy = right.selectbox(
        "Strategy", [s.value for s in Strategy], key="in_strategy",
        format_func=lambda s: STRATEGY_LABELS[Strategy(s)],
    )  # fmt: skip
    risk = st.select_slider(
        "Risk level", options=[int(r) for r in RiskLevel], key="in_risk",
        format_func=risk_label,
    )  # fmt: skip
    return services.BuildRequest(
        sectors=tuple(sectors), capital=capital, risk_level=int(risk), strategy=str(strategy)
    )
