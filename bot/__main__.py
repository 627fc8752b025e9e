"""Run the bot: ``python -m bot`` (same as ``smallq-bot``)."""

from __future__ import annotations

import sys

from bot.main import main

sys.exit(main())
