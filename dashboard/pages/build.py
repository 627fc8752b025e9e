"""Build: sectors, capital, risk level and strategy in; the portfolio out."""

from __future__ import annotations

import streamlit as st

from dashboard import services, views
from dashboard.inputs import keep_choices, profile_inputs
from smallq.errors import SmallQError

keep_choices()
st.title("Build a portfolio")
request = profile_inputs()
try:
    with st.spinner("Building…"):
        report = services.build(request)
        benchmark = services.benchmark_point(report)
except SmallQError as exc:
    views.show_error(exc)
else:
    views.render_build(report, benchmark)
