"""Compare: up to four portfolios side by side, ex ante and after their build date."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import streamlit as st

from dashboard import services, views
from dashboard.inputs import keep_choices, profile_inputs, risk_label
from smallq.errors import SmallQError

MAX_COLUMNS = 4

keep_choices()
st.title("Compare portfolios")
request = profile_inputs()
last = services.data_last_date()
as_of = st.date_input(
    "Build them as of", value=last - timedelta(days=730), max_value=last,
    help="The days after this date are the out-of-sample record.",
)  # fmt: skip
options = [f"obj:{o.value}" for o in services.CONSTRUCTIONS] + [
    f"risk:{level}" for level in range(1, 6)
]
labels = {f"obj:{o.value}": views.OBJECTIVE_LABELS[o] for o in services.CONSTRUCTIONS} | {
    f"risk:{level}": f"Risk {risk_label(level)}" for level in range(1, 6)
}
chosen = st.multiselect(
    "Portfolios (up to four)", options, default=options[:4], max_selections=MAX_COLUMNS,
    format_func=labels.__getitem__,
)  # fmt: skip
if not chosen:
    st.info("Pick at least one portfolio.")
    st.stop()
requests = []
for key in chosen:
    kind, _, value = key.partition(":")
    dated = replace(request, as_of=as_of.isoformat())
    if kind == "obj":
        requests.append((labels[key], replace(dated, objective=value)))
    else:
        requests.append((labels[key], replace(dated, risk_level=int(value))))
try:
    with st.spinner("Building and tracking…"):
        compared = services.compare(requests)
except SmallQError as exc:
    views.show_error(exc)
else:
    views.render_compare([(c.label, c.report, c.tracked) for c in compared])
