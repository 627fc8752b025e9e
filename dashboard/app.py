"""Streamlit entry point: ``streamlit run dashboard/app.py`` (or ``smallq-dashboard``)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder, not the project, on sys.path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.session import handle_token, signed_in_user
from smallq.pandas_options import use_python_strings

use_python_strings()

st.set_page_config(page_title="smallQ", page_icon="📈", layout="wide")
handle_token()
PAGES = Path(__file__).with_name("pages")
navigation = st.navigation(
    [
        st.Page(PAGES / "build.py", title="Build", icon="🧱", default=True),
        st.Page(PAGES / "compare.py", title="Compare", icon="⚖️"),
        st.Page(PAGES / "backtest.py", title="Backtest", icon="📈"),
        st.Page(PAGES / "stress.py", title="Stress", icon="🌪️"),
        st.Page(PAGES / "account.py", title="My account", icon="👤", url_path="account"),
    ],
    position="top",
)
if signed_in_user() is not None:
    st.sidebar.caption("Signed in from the bot.")
navigation.run()
st.caption("smallQ is a tool for learning and exploring. Nothing here is investment advice.")
