"""The only bot code that touches storage or the engine; no Telegram types."""
