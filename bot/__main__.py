"""Run the bot: ``python -m bot`` (same as ``smallq-bot``)."""

from __future__ import annotations

import sys

from bot.main import main

if __name__ == "__main__":  # engine workers import this module again: they must not run it
    sys.exit(main())
