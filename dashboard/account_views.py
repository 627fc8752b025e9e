"""The account page's widgets: which build to show, alert limits and the digest schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import streamlit as st

from dashboard.services import Account
from smallq.alerts import THRESHOLD_NAMES
from storage.portfolios import PortfolioRecord

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LIMIT_LABELS = {
    "var": "Bad-day loss limit (VaR 95%, % of the account)",
    "cvar": "Average bad-day loss limit (CVaR 95%, %)",
    "drawdown": "Fall from the peak (%)",
    "vol_spike": "Volatility spike (× the yearly level)",
    "min_holdings": "Fewest effective holdings",
    "max_weight": "Largest single holding (%)",
    "stale_days": "Days without new prices",
}


def pick_build(builds: Sequence[PortfolioRecord]) -> PortfolioRecord:
    """A select box over the user's builds, newest first."""
    def label(i: int) -> str:
        build = builds[i]
        sectors = ", ".join(s.value for s in build.profile.sectors)
        created = (build.created_at or "")[:10]
        return f"#{build.id} · {created} · {build.profile.risk_level.label} · {sectors}"

    index = st.selectbox("Your builds", range(len(builds)), key="account_build", format_func=label)
    return builds[int(index)]


def limit_inputs(account: Account) -> dict[str, float]:
    """One number input per alert limit, starting from the effective value; field → value."""
    assert account.thresholds is not None
    values: dict[str, float] = {}
    columns = st.columns(2)
    for i, (name, (field, kind, low, high)) in enumerate(THRESHOLD_NAMES.items()):
        current = float(getattr(account.thresholds, field))
        scale = 100.0 if kind == "percent" else 1.0
        shown = columns[i % 2].number_input(
            LIMIT_LABELS.get(name, name), min_value=low * scale, max_value=high * scale,
            value=current * scale, step=0.5 if kind == "percent" else 1.0 if kind == "count"
            else 0.05, key=f"limit_{name}",
        )  # fmt: skip
        if abs(shown / scale - current) > 1e-12:
            values[field] = shown / scale
    return values


class ScheduleChoice(TypedDict):
    """The schedule form's values, as :func:`dashboard.services.save_schedule` takes them."""

    frequency: str
    day: int
    local_time: str
    timezone: str


def schedule_inputs(account: Account, default_zone: str) -> ScheduleChoice:
    """Frequency, day, local time and zone of the digest, starting from the stored one."""
    stored = account.schedule if account.schedule and account.schedule.active else None
    if stored:
        st.caption(
            f"Now: {stored.frequency}, {stored.local_time} ({stored.timezone}); "
            f"next check due {stored.next_due_at[:16].replace('T', ' ')} UTC."
        )
    else:
        st.caption("No scheduled checks.")
    frequency = st.radio(
        "Frequency", ["weekly", "monthly"], horizontal=True, key="sched_frequency",
        index=1 if stored and stored.frequency == "monthly" else 0,
    )  # fmt: skip
    left, right = st.columns(2)
    if frequency == "weekly":
        day = left.selectbox(
            "Day", range(7), format_func=WEEKDAYS.__getitem__, key="sched_weekday",
            index=stored.day if stored and stored.frequency == "weekly" else 0,
        )  # fmt: skip
    else:
        day = left.number_input(
            "Day of the month", 1, 31, stored.day if stored and stored.frequency == "monthly"
            else 1, key="sched_monthday",
        )  # fmt: skip
    at = right.text_input("Time (HH:MM)", stored.local_time if stored else "09:00", key="sched_at")
    zone = st.text_input("Time zone", stored.timezone if stored else default_zone, key="sched_zone")
    return {"frequency": frequency, "day": int(day), "local_time": at, "timezone": zone}
