"""The answers of a /start conversation in progress, kept in ``context.user_data``.

The draft is plain JSON (sector codes, numbers, strings) so it survives a restart through
:class:`bot.ptb.persistence.SqlitePersistence`. ``message_id`` is the message whose buttons are
live: a button on any other message is stale (or another user's) and is ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.views.keyboards import CODE_OF_SECTOR, SECTOR_CODES
from smallq.models import Profile
from smallq.profile import make_profile, validate_profile
from smallq.types import RiskLevel, Strategy

DRAFT_KEY = "draft"
#: set when a draft is removed, so the end of the questions is saved at once too
ENDED_KEY = "draft_ended"


@dataclass(slots=True)
class Draft:
    """Answers so far; ``None`` means not answered yet."""

    sectors: list[str] = field(default_factory=list)
    capital: float | None = None
    risk: int | None = None
    strategy: str = Strategy.MOMENTUM.value
    message_id: int | None = None
    #: the question being asked (a conversation state), to ask it again after a restart
    step: int | None = None
    #: answers of the "Help me choose" questions (Horizon / DrawdownReaction values)
    horizon: str | None = None
    reaction: str | None = None
    #: the risk question as last shown (its level table is costly to recompute)
    risk_text: str | None = None

    @classmethod
    def load(cls, user_data: dict[Any, Any] | None) -> Draft | None:
        """The draft in ``user_data``, or ``None`` when there is none (or it is unreadable)."""
        raw = (user_data or {}).get(DRAFT_KEY)
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**raw)
        except TypeError:
            return None

    @classmethod
    def from_profile(cls, profile: Profile | None) -> Draft:
        """A draft prefilled from a saved profile (for Edit), or an empty one."""
        if profile is None:
            return cls()
        return cls(
            sectors=[CODE_OF_SECTOR[s] for s in profile.sectors if s in CODE_OF_SECTOR],
            capital=profile.capital,
            risk=int(profile.risk_level),
            strategy=profile.strategy.value,
        )

    def save(self, user_data: dict[Any, Any] | None) -> None:
        """Store the draft in ``user_data`` (absent only for updates without a user)."""
        if user_data is not None:
            user_data[DRAFT_KEY] = asdict(self)

    @staticmethod
    def clear(user_data: dict[Any, Any] | None) -> None:
        """Remove the draft."""
        if user_data is not None and user_data.pop(DRAFT_KEY, None) is not None:
            user_data[ENDED_KEY] = True

    def toggle(self, code: str) -> None:
        """Select or unselect one sector code."""
        if code in self.sectors:
            self.sectors.remove(code)
        else:
            self.sectors.append(code)

    @property
    def risk_level(self) -> RiskLevel:
        """The chosen risk level (moderate until chosen)."""
        return RiskLevel(self.risk) if self.risk is not None else RiskLevel.MODERATE

    def to_profile(self, base: Profile | None = None) -> Profile:
        """A validated profile: the answers over ``base``'s other settings.

        Raises
        ------
        InputError
            When an answer is missing or invalid.
        """
        answered = make_profile(
            sectors=[SECTOR_CODES[c] for c in self.sectors if c in SECTOR_CODES],
            capital=self.capital if self.capital is not None else 0.0,
            risk_level=self.risk_level,
            strategy=self.strategy,
        )
        if base is None:
            return answered
        return validate_profile(
            replace(
                base,
                sectors=answered.sectors,
                capital=answered.capital,
                risk_level=answered.risk_level,
                strategy=answered.strategy,
                as_of=None,
            )
        )
