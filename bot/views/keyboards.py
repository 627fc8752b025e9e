"""Inline keyboards and their callback data.

Callback data is ``"<prefix>:<value>"`` (at most 64 bytes), matched by ``pattern=r"^prefix:"``:

==========  ==========================================  =============================
prefix      values                                      keyboard
==========  ==========================================  =============================
sector      a :data:`SECTOR_CODES` key, or ``done``      sectors (multi-select)
risk        ``1`` … ``5``                               risk level
quiz        ``help``, ``h:<horizon>``, ``r:<reaction>``   the two level questions
strategy    a :class:`~smallq.types.Strategy` value     strategy
confirm     ``build``, ``edit``, ``cancel``             confirmation
profile     ``edit@<owner>``                            /profile
set         ``<setting>:<value>@<owner>`` (see :data:`SETTING_CHOICES`)  /settings
delete      ``yes@<owner>``, ``no@<owner>``             /delete
accept      a portfolio id                              result (handled in trading.py)
sub         ``<frequency>[:<day>[:<HHMM>]]``            /subscribe (private chats)
==========  ==========================================  =============================

Values are validated by the ``parse_*`` functions; anything else is forged or stale.
``@<owner>`` is the user id of who asked: in a group anyone can tap a button, and
:func:`split_owner` lets the handler act only for that user (buttons made before owners were
encoded carry none and are honoured in private chats only).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from smallq.profile import DrawdownReaction, Horizon
from smallq.types import RiskLevel, Sector, Strategy

SECTOR_CODES: dict[str, Sector] = {
    "IT": Sector.INFORMATION_TECHNOLOGY,
    "HC": Sector.HEALTH_CARE,
    "FIN": Sector.FINANCIALS,
    "CD": Sector.CONSUMER_DISCRETIONARY,
    "CS": Sector.CONSUMER_STAPLES,
    "EN": Sector.ENERGY,
    "IND": Sector.INDUSTRIALS,
    "MAT": Sector.MATERIALS,
    "RE": Sector.REAL_ESTATE,
    "UT": Sector.UTILITIES,
    "CM": Sector.COMMUNICATION_SERVICES,
}
CODE_OF_SECTOR: dict[Sector, str] = {s: c for c, s in SECTOR_CODES.items()}

STRATEGY_LABELS: dict[Strategy, str] = {
    Strategy.MOMENTUM: "Momentum (default)",
    Strategy.LOW_VOL: "Low volatility",
    Strategy.VALUE: "Value",
    Strategy.COMPOSITE: "Composite",
}

#: /settings choices: setting key -> (label, allowed values in display order)
SETTING_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "strategy": ("Strategy", tuple(s.value for s in STRATEGY_LABELS)),
    "topn": ("Stocks", ("5", "10", "15", "20")),
    "maxw": ("Max weight", ("auto", "0.1", "0.2", "0.3", "0.4")),
    "frac": ("Fractional shares", ("off", "on")),
}


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _rows(buttons: Sequence[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def sectors_keyboard(
    selected: Collection[str], counts: Mapping[Sector, int] | None = None
) -> InlineKeyboardMarkup:
    """Sectors two per row, ✓ on the selected codes, then Done.

    With ``counts`` (stocks per sector in the data) each label shows its count and sectors
    without stocks are hidden (unless selected, so they can be unselected).
    """
    shown = [
        (code, sector)
        for code, sector in SECTOR_CODES.items()
        if counts is None or counts.get(sector, 0) > 0 or code in selected
    ]
    buttons = [
        _button(
            ("✓ " if code in selected else "")
            + sector.value
            + ("" if counts is None else f" ({counts.get(sector, 0)})"),
            f"sector:{code}",
        )
        for code, sector in shown
    ]
    rows = _rows(buttons, 2)
    rows.append([_button(f"Done ({len(selected)} selected)", "sector:done")])
    return InlineKeyboardMarkup(rows)


HORIZON_LABELS: dict[Horizon, str] = {
    Horizon.UNDER_3_YEARS: "Under 3 years",
    Horizon.YEARS_3_TO_7: "3 to 7 years",
    Horizon.OVER_7_YEARS: "Over 7 years",
}
REACTION_LABELS: dict[DrawdownReaction, str] = {
    DrawdownReaction.SELL: "Sell to stop the loss",
    DrawdownReaction.WAIT: "Wait it out",
    DrawdownReaction.BUY_MORE: "Buy more",
}


def risk_keyboard(suggested: RiskLevel | None = None) -> InlineKeyboardMarkup:
    """Risk levels 1-5, most careful first (★ on the suggestion), then Help me choose."""
    buttons = [
        _button(
            ("★ " if level == suggested else "") + f"{level.value} · {level.label.title()}",
            f"risk:{level.value}",
        )
        for level in RiskLevel
    ]
    rows = _rows(buttons, 1)
    if suggested is None:
        rows.append([_button("Help me choose", "quiz:help")])
    return InlineKeyboardMarkup(rows)


def horizon_keyboard() -> InlineKeyboardMarkup:
    """How long the money can stay invested."""
    buttons = [_button(label, f"quiz:h:{h.value}") for h, label in HORIZON_LABELS.items()]
    return InlineKeyboardMarkup(_rows(buttons, 1))


def reaction_keyboard() -> InlineKeyboardMarkup:
    """What the user would do after a 20% fall."""
    buttons = [_button(label, f"quiz:r:{r.value}") for r, label in REACTION_LABELS.items()]
    return InlineKeyboardMarkup(_rows(buttons, 1))


def strategy_keyboard() -> InlineKeyboardMarkup:
    """Ranking strategies, momentum (the default) first."""
    buttons = [_button(label, f"strategy:{s.value}") for s, label in STRATEGY_LABELS.items()]
    return InlineKeyboardMarkup(_rows(buttons, 2))


def confirm_keyboard() -> InlineKeyboardMarkup:
    """Build / Edit / Cancel."""
    return InlineKeyboardMarkup(
        [
            [
                _button("Build", "confirm:build"),
                _button("Edit", "confirm:edit"),
                _button("Cancel", "confirm:cancel"),
            ]
        ]
    )


def profile_keyboard(owner: int) -> InlineKeyboardMarkup:
    """Edit the saved profile (re-enters the questions)."""
    return InlineKeyboardMarkup([[_button("Edit profile", f"profile:edit@{owner}")]])


def settings_keyboard(current: dict[str, str], owner: int) -> InlineKeyboardMarkup:
    """One row per setting; the current value is marked with ✓."""
    rows = [
        [
            _button(
                ("✓ " if current.get(key) == v else "") + _setting_label(key, v),
                f"set:{key}:{v}@{owner}",
            )
            for v in values
        ]
        for key, (_, values) in SETTING_CHOICES.items()
    ]
    return InlineKeyboardMarkup(rows)


def delete_keyboard(owner: int) -> InlineKeyboardMarkup:
    """Confirm or keep."""
    return InlineKeyboardMarkup(
        [
            [
                _button("Yes, delete everything", f"delete:yes@{owner}"),
                _button("No, keep", f"delete:no@{owner}"),
            ]
        ]
    )


#: /subscribe buttons: weekdays, days of the month and local times offered
SUBSCRIBE_DAYS_OF_MONTH: tuple[int, ...] = (1, 5, 10, 15, 20, 25, 28, 31)
SUBSCRIBE_TIMES: tuple[str, ...] = ("07:00", "09:00", "12:00", "18:00", "21:00")
WEEKDAY_LABELS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def subscribe_frequency_keyboard() -> InlineKeyboardMarkup:
    """Weekly or monthly."""
    return InlineKeyboardMarkup(
        [[_button("Weekly", "sub:weekly"), _button("Monthly", "sub:monthly")]]
    )


def subscribe_day_keyboard(frequency: str) -> InlineKeyboardMarkup:
    """Weekdays (weekly) or days of the month (monthly)."""
    if frequency == "weekly":
        days = [(label, str(i)) for i, label in enumerate(WEEKDAY_LABELS)]
    else:
        days = [(str(d) if d < 31 else "last", str(d)) for d in SUBSCRIBE_DAYS_OF_MONTH]
    buttons = [_button(label, f"sub:{frequency}:{value}") for label, value in days]
    return InlineKeyboardMarkup(_rows(buttons, 4))


def subscribe_time_keyboard(frequency: str, day: int) -> InlineKeyboardMarkup:
    """Local times for the chosen day."""
    buttons = [
        _button(at, f"sub:{frequency}:{day}:{at.replace(':', '')}") for at in SUBSCRIBE_TIMES
    ]
    return InlineKeyboardMarkup(_rows(buttons, 3))


def result_keyboard(portfolio_id: int) -> InlineKeyboardMarkup:
    """Accept the built portfolio as a paper trade."""
    return InlineKeyboardMarkup([[_button("Accept (paper trade)", f"accept:{portfolio_id}")]])


def _setting_label(key: str, value: str) -> str:
    if key == "strategy":
        return value.replace("_", " ")
    if key == "topn":
        return f"{value} stocks"
    if key == "maxw":
        return "max auto" if value == "auto" else f"max {float(value):.0%}"
    return f"fractional {value}"


# --------------------------------------------------------------------------- parsing
def callback_value(data: str | None, prefix: str) -> str | None:
    """The part after ``prefix:`` or ``None`` when ``data`` has another prefix."""
    if not data or not data.startswith(prefix + ":"):
        return None
    return data[len(prefix) + 1 :]


def split_owner(value: str | None) -> tuple[str | None, int | None]:
    """``("yes", 42)`` from ``"yes@42"``; ``(value, None)`` without an owner.

    A malformed owner makes the whole value ``None`` (forged).
    """
    if value is None or "@" not in value:
        return value, None
    head, _, owner = value.rpartition("@")
    if not (owner.isascii() and owner.isdigit() and len(owner) <= 19):
        return None, None
    return head, int(owner)


def parse_sector_code(value: str | None) -> str | None:
    """A known sector code, ``"done"``, or ``None`` for forged data."""
    return value if value in SECTOR_CODES or value == "done" else None


def parse_risk(value: str | None) -> RiskLevel | None:
    """A risk level from ``"1"``…``"5"``, else ``None``."""
    if value is None or value not in {str(level.value) for level in RiskLevel}:
        return None
    return RiskLevel(int(value))


def parse_quiz(value: str | None) -> tuple[str, str] | None:
    """``("help", "")``, ``("h", horizon)`` or ``("r", reaction)``, else ``None``."""
    if value == "help":
        return "help", ""
    kind, _, answer = (value or "").partition(":")
    if kind == "h" and answer in {h.value for h in Horizon}:
        return kind, answer
    if kind == "r" and answer in {r.value for r in DrawdownReaction}:
        return kind, answer
    return None


def parse_strategy(value: str | None) -> Strategy | None:
    """A strategy from its exact value, else ``None``."""
    return Strategy(value) if value in {s.value for s in Strategy} else None


def parse_setting(value: str | None) -> tuple[str, str] | None:
    """``(key, value)`` for a known setting and allowed value, else ``None``."""
    if value is None or value.count(":") != 1:
        return None
    key, choice = value.split(":")
    if key not in SETTING_CHOICES or choice not in SETTING_CHOICES[key][1]:
        return None
    return key, choice
