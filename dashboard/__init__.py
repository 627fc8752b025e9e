"""The smallQ web dashboard: Streamlit pages over the same pipeline and storage as the bot."""
