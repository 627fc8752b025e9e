from __future__ import annotations

import pytest

from smallq.errors import UnknownOptionError, UnknownSectorError
from smallq.types import Objective, RiskLevel, Sector, Strategy


@pytest.mark.parametrize(
    "alias", ["tech", "IT", "technology", "Information Technology", "info-tech"]
)
def test_sector_aliases_resolve_to_information_technology(alias: str) -> None:
    assert Sector.parse(alias) is Sector.INFORMATION_TECHNOLOGY


def test_old_telecom_sector_maps_to_communication_services() -> None:
    assert Sector.parse("Telecommunication Services") is Sector.COMMUNICATION_SERVICES


def test_unknown_sector_lists_known_ones() -> None:
    with pytest.raises(UnknownSectorError) as info:
        Sector.parse("crypto")
    assert "Health Care" in info.value.user_message()


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("conservative", RiskLevel.CONSERVATIVE),
        ("3", RiskLevel.MODERATE),
        ("Aggressive", RiskLevel.AGGRESSIVE),
        (5, RiskLevel.AGGRESSIVE),
    ],
)
def test_risk_level_accepts_words_and_digits(text: object, level: RiskLevel) -> None:
    assert RiskLevel.parse(text) is level


@pytest.mark.parametrize("bad", ["0", "6", "yolo", ""])
def test_risk_level_rejects_other_values(bad: str) -> None:
    with pytest.raises(UnknownOptionError):
        RiskLevel.parse(bad)


def test_enums_parse_names_and_values() -> None:
    assert Strategy.parse("low-vol") is Strategy.LOW_VOL
    assert Objective.parse("Max Sharpe") is Objective.MAX_SHARPE
    with pytest.raises(UnknownOptionError):
        Strategy.parse("astrology")
