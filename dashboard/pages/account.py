"""My account: the signed-in user's builds, paper holdings, trades, tracking, alerts, schedule."""

from __future__ import annotations

import streamlit as st

from dashboard import account_views, services, session, views
from smallq.errors import SmallQError

st.title("My account")
user_id = session.signed_in_user()
if user_id is None:
    refusal = session.refusal()
    if refusal:
        st.error(refusal)
    st.info(
        "Sign in from the bot: send **/dashboard** to the smallQ bot in a private chat and "
        "open the link it sends (valid for 15 minutes)."
    )
    st.stop()
try:
    account = services.load_account(user_id)
except SmallQError as exc:
    views.show_error(exc)
    st.stop()
if not account.builds:
    st.info("You have no portfolio yet. Send /start to the bot to build one.")
    st.stop()
record = account_views.pick_build(account.builds)
views.render_holdings(record.view)
tracked = services.track(
    {h.ticker: h.shares for h in record.view.holdings}, record.view.cash, record.as_of
)
views.render_tracking(record, tracked)
views.render_paper(account)
st.subheader("Alert limits")
changes = account_views.limit_inputs(account)
left, right = st.columns(2)
if left.button("Save limits", type="primary"):
    try:
        services.save_limits(user_id, changes)
    except SmallQError as exc:
        views.show_error(exc)
    else:
        st.success("Saved. The bot uses these limits from its next check.")
if right.button("Back to my risk level's limits"):
    services.reset_limits(user_id)
    st.success("Reset to your risk level's limits.")
st.subheader("Scheduled checks")
choice = account_views.schedule_inputs(account, services.settings().timezone)
left, right = st.columns(2)
if left.button("Save schedule", type="primary"):
    try:
        services.save_schedule(user_id, **choice)
    except SmallQError as exc:
        views.show_error(exc)
    else:
        st.success("Saved. The bot sends your checks on this schedule.")
if right.button("Stop scheduled checks"):
    stopped = services.stop_schedule(user_id)
    st.success("Stopped." if stopped else "There was no active schedule.")
if st.button("Sign out"):
    session.sign_out()
    st.rerun()
