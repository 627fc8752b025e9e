"""Telegram delivery: composition root, thin async handlers, keyboards, messages, jobs."""
