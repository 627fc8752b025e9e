"""Telegram command and callback handlers."""
