"""python-telegram-bot plumbing: persistence, per-user throttling, token redaction."""
