"""Inline keyboards and their callback data.

Callback data is ``"<prefix>:<value>"`` (at most 64 bytes), matched by ``pattern=r"^prefix:"``:

==========  ==========================================  =============================
prefix      values                                      keyboard
==========  ==========================================  =============================
sector      a :data:`SECTOR_CODES` key, or ``done``      sectors (multi-select)
risk        ``1`` … ``5``                               risk level
strategy    a :class:`~smallq.types.Strategy` value     strategy
confirm     ``build``, ``edit``, ``cancel``             confirmation
profile     ``edit``                                    /profile
set         ``<setting>:<value>`` (see :data:`SETTING_CHOICES`)  /settings
delete      ``yes``, ``no``                             /delete
accept      a portfolio id                              result (handled in trading.py)
==========  ==========================================  =============================

Values are validated by the ``parse_*`` functions; anything else is forged or stale.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

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


def risk_keyboard() -> InlineKeyboardMarkup:
    """Risk levels 1-5, most careful first."""
    buttons = [
        _button(f"{level.value} · {level.label.title()}", f"risk:{level.value}")
        for level in RiskLevel
    ]
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


def profile_keyboard() -> InlineKeyboardMarkup:
    """Edit the saved profile (re-enters the questions)."""
    return InlineKeyboardMarkup([[_button("Edit profile", "profile:edit")]])


def settings_keyboard(current: dict[str, str]) -> InlineKeyboardMarkup:
    """One row per setting; the current value is marked with ✓."""
    rows = [
        [
            _button(
                ("✓ " if current.get(key) == v else "") + _setting_label(key, v), f"set:{key}:{v}"
            )
            for v in values
        ]
        for key, (_, values) in SETTING_CHOICES.items()
    ]
    return InlineKeyboardMarkup(rows)


def delete_keyboard() -> InlineKeyboardMarkup:
    """Confirm or keep."""
    return InlineKeyboardMarkup(
        [[_button("Yes, delete everything", "delete:yes"), _button("No, keep", "delete:no")]]
    )


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


def parse_sector_code(value: str | None) -> str | None:
    """A known sector code, ``"done"``, or ``None`` for forged data."""
    return value if value in SECTOR_CODES or value == "done" else None


def parse_risk(value: str | None) -> RiskLevel | None:
    """A risk level from ``"1"``…``"5"``, else ``None``."""
    if value is None or value not in {str(level.value) for level in RiskLevel}:
        return None
    return RiskLevel(int(value))


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
