"""The typed callback context every handler receives (``ContextTypes(context=BotContext)``)."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.deps import Deps
from bot.ptb.ratelimit import RateLimitArgs

DEPS_KEY = "deps"


class BotContext(
    CallbackContext[ExtBot[RateLimitArgs], dict[Any, Any], dict[Any, Any], dict[Any, Any]]
):
    """``CallbackContext`` with a typed :attr:`deps`."""

    @property
    def deps(self) -> Deps:
        """The application's :class:`~bot.deps.Deps`."""
        return get_deps(self.application)


def get_deps(application: Application[Any, Any, Any, Any, Any, Any]) -> Deps:
    """Read the :class:`Deps` stored in ``application.bot_data``."""
    deps = application.bot_data.get(DEPS_KEY)
    if not isinstance(deps, Deps):
        raise TypeError("application.bot_data['deps'] is not set; use bot.app.build_application")
    return deps


def context_types() -> ContextTypes[BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """The ``ContextTypes`` to pass to ``ApplicationBuilder.context_types``."""
    return ContextTypes(context=BotContext)
