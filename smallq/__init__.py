"""smallQ: a portfolio engine that ordinary people use from a chat.

The engine (this package) is pure: it knows nothing of Telegram or SQLite.
``smallq.pipeline`` is the one entry point shared by the CLI, the bot and the scheduler.
"""

from __future__ import annotations

__version__ = "0.1.0"
