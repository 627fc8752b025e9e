"""Stress and Monte Carlo: crises and shocks in dollars, and the chance of a yearly loss."""

from __future__ import annotations

import streamlit as st

from dashboard import services, views
from dashboard.inputs import keep_choices, profile_inputs
from smallq.errors import SmallQError

METHODS = {"bootstrap": "Bootstrap (resampled days)", "normal": "Normal", "student_t": "Student-t"}

keep_choices()
st.title("Stress tests and Monte Carlo")
request = profile_inputs()
try:
    with st.spinner("Building…"):
        report = services.stress_build(request)
except SmallQError as exc:
    views.show_error(exc)
    st.stop()
view = views.present(report)
views.render_stress(view)
st.subheader("Monte Carlo: one year ahead")
method = st.radio(
    "Simulation", list(METHODS), format_func=METHODS.__getitem__, horizontal=True,
    key="mc_method",
)  # fmt: skip
simulation = views.monte_carlo_of(view, method)
loss = st.slider("Loss of more than", 0, 50, 20, step=1, format="%d%%", key="mc_loss")
st.markdown(views.loss_probability_text(view, simulation, round(loss / 100, 2)))
views.render_fan(report, method)
