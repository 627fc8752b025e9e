"""Backtest: the strategy walk-forward against the S&P 500, as a tear sheet."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import services, tearsheet, views
from dashboard.inputs import keep_choices, profile_inputs
from smallq.errors import SmallQError
from smallq.profile import parse_capital

RULES = {"monthly": "Monthly", "weekly": "Weekly", "drift:0.05": "When drift passes 5%"}

keep_choices()
st.title("Backtest")
request = profile_inputs()
last = services.data_last_date()
left, right = st.columns(2)
start = left.date_input("Start", value=date(last.year - 8, 1, 1), max_value=last, key="bt_start")
end = right.date_input("End", value=last, max_value=last, key="bt_end")
left, right = st.columns(2)
rule = left.selectbox("Rebalance", list(RULES), format_func=RULES.__getitem__, key="bt_rule")
costs = right.number_input("Costs (bps)", 0.0, 200.0, 10.0, step=5.0, key="bt_costs")
if st.button("Run backtest", type="primary"):
    bar = st.progress(0.0, text="Simulating…")

    def show_progress(done: float) -> None:
        bar.progress(done, text=f"Simulating… {done:.0%}")

    try:
        capital = parse_capital(request.capital)
        report = services.backtest(
            request, start, end, rule, costs,
            progress=show_progress,
        )  # fmt: skip
    except SmallQError as exc:
        bar.empty()
        views.show_error(exc)
    else:
        bar.progress(1.0, text="Done")
        st.session_state["bt_result"] = (report, capital)
result = st.session_state.get("bt_result")
if result is not None:
    tearsheet.render_tearsheet(*result)
else:
    st.info("Choose the period and press **Run backtest**.")
