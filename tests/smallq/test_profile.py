from __future__ import annotations

import math
from dataclasses import replace

import pytest

from smallq.errors import InvalidCapitalError, ProfileError, UnknownOptionError, UnknownSectorError
from smallq.profile import (
    LEVEL_FRACTIONS,
    LEVEL_MAX_WEIGHT,
    RISK_TABLE,
    DrawdownReaction,
    Horizon,
    cap_notes,
    fit_min_holdings,
    make_profile,
    parse_capital,
    parse_sectors,
    resolve_settings,
    suggest_level,
    validate_backtest_request,
)
from smallq.types import CovModel, Objective, ReturnsModel, RiskLevel, Sector


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5000", 5000.0),
        ("5000.50", 5000.5),
        ("10,000", 10_000.0),  # comma as a thousands separator
        ("10 000", 10_000.0),  # space as a thousands separator
        ("10\u00a0000", 10_000.0),  # no-break space, as phones type it
        ("1,234,567.89", 1_234_567.89),
        ("$5000", 5000.0),
        ("5000 USD", 5000.0),
        ("usd 300", 300.0),
        ("10k", 10_000.0),
        ("2.5m", 2_500_000.0),
        ("  2500  ", 2500.0),
    ],
)
def test_parse_capital_accepts(text: str, expected: float) -> None:
    assert parse_capital(text) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5000", "positive"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("nan", "plain digits"),
        ("inf", "plain digits"),
        ("-inf", "positive"),
        ("1e6", "plain digits"),
        ("1_000", "underscores"),
        ("9" * 400, "too long"),
        ("10,5", "dot for decimals"),
        ("1,00,000", "not an amount"),
        ("€500", "only USD"),
        ("500 EUR", "only USD"),
        ("5000.123", "two decimals"),
        ("abc", "not an amount"),
        ("", "type an amount"),
        ("2000000000000", "at most"),
    ],
)
def test_parse_capital_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidCapitalError) as info:
        parse_capital(text)
    assert reason in info.value.user_message()


def test_parse_sectors_deduplicates_aliases_in_order() -> None:
    assert parse_sectors("tech, IT, health care") == (
        Sector.INFORMATION_TECHNOLOGY,
        Sector.HEALTH_CARE,
    )
    with pytest.raises(UnknownSectorError):
        parse_sectors("tech, crypto")
    with pytest.raises(ProfileError):
        parse_sectors(" , ")


def test_make_profile_parses_loose_input() -> None:
    profile = make_profile(
        sectors="tech,Health Care",
        capital="10,000",
        risk_level="2",
        strategy="low-vol",
        objective="min_volatility",
        exclude="brk.b, aapl",
    )
    assert profile.capital == 10_000.0
    assert profile.risk_level is RiskLevel.CAUTIOUS
    assert profile.objective is Objective.MIN_VOLATILITY
    assert profile.exclude == ("BRK-B", "AAPL")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("top_n", 1),
        ("top_n", 2.5),
        ("max_weight", 0.0),
        ("max_weight", 1.5),
        ("lookback_days", 10),
        ("risk_free_rate", math.nan),
        ("sector_caps", {"tech": 0}),
    ],
)
def test_make_profile_rejects_bad_fields(field: str, value: object) -> None:
    with pytest.raises(ProfileError):
        make_profile(sectors="tech", capital=1000.0, **{field: value})


@pytest.mark.parametrize("capital", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_make_profile_rejects_bad_numeric_capital(capital: float) -> None:
    with pytest.raises(InvalidCapitalError):
        make_profile(sectors="tech", capital=capital)


def test_unknown_objective_is_an_input_error() -> None:
    with pytest.raises(UnknownOptionError):
        make_profile(sectors="tech", capital=1000.0, objective="moon")


def test_resolve_settings_places_levels_and_keeps_explicit_overrides() -> None:
    base = make_profile(sectors="tech", capital=1000.0, risk_level="conservative")
    settings = resolve_settings(base, 10)
    assert settings.frontier_fraction == RISK_TABLE[RiskLevel.CONSERVATIVE].frontier_fraction
    assert settings.max_weight == LEVEL_MAX_WEIGHT
    assert settings.returns_model is ReturnsModel.MEAN
    assert settings.cov_model is CovModel.LEDOIT_WOLF
    overridden = resolve_settings(
        make_profile(
            sectors="tech",
            capital=1000.0,
            risk_level="conservative",
            max_weight=0.5,
            returns_model="capm",
            cov_model="exp",
            objective="max_utility",
        )
    )
    assert overridden.max_weight == 0.5
    assert overridden.returns_model is ReturnsModel.CAPM
    assert overridden.cov_model is CovModel.EXP
    assert overridden.objective is Objective.MAX_UTILITY
    assert overridden.frontier_fraction is None
    assert overridden.risk_aversion == RISK_TABLE[RiskLevel.CONSERVATIVE].risk_aversion


def test_risk_table_fractions_climb_from_min_volatility_to_max_return() -> None:
    fractions = [RISK_TABLE[level].frontier_fraction for level in sorted(RISK_TABLE)]
    assert fractions == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert fractions == list(LEVEL_FRACTIONS)


@pytest.mark.parametrize(
    ("horizon", "reaction", "level"),
    [
        (Horizon.UNDER_3_YEARS, DrawdownReaction.SELL, 1),
        (Horizon.UNDER_3_YEARS, DrawdownReaction.WAIT, 2),
        (Horizon.UNDER_3_YEARS, DrawdownReaction.BUY_MORE, 2),
        (Horizon.YEARS_3_TO_7, DrawdownReaction.SELL, 2),
        (Horizon.YEARS_3_TO_7, DrawdownReaction.WAIT, 3),
        (Horizon.YEARS_3_TO_7, DrawdownReaction.BUY_MORE, 4),
        (Horizon.OVER_7_YEARS, DrawdownReaction.SELL, 2),
        (Horizon.OVER_7_YEARS, DrawdownReaction.WAIT, 4),
        (Horizon.OVER_7_YEARS, DrawdownReaction.BUY_MORE, 5),
    ],
)
def test_questionnaire_mapping(
    horizon: Horizon, reaction: DrawdownReaction, level: int
) -> None:
    assert suggest_level(horizon, reaction) == RiskLevel(level)


def test_min_holdings_is_lowered_to_the_candidates_and_the_cap_note_says_why() -> None:
    profile = make_profile(sectors="tech", capital=1000.0, risk_level="conservative")
    assert resolve_settings(profile).min_holdings == 1  # levels: the 25% cap alone
    settings = replace(resolve_settings(profile), max_weight=0.15, min_holdings=7)  # 1/7 = 14.3%
    assert fit_min_holdings(settings, 3).min_holdings == 3
    assert fit_min_holdings(settings, 10) is settings
    assert [note.text for note in cap_notes(profile, settings)] == [
        "Max weight 15% lowered to 14.3% so the portfolio holds at least 7 stocks "
        "(conservative risk)."
    ]
    assert cap_notes(profile, fit_min_holdings(settings, 3)) == []


def test_backtest_request_needs_ordered_dates_and_sane_costs() -> None:
    from datetime import date

    validate_backtest_request(date(2020, 1, 1), date(2021, 1, 1), 10.0)
    with pytest.raises(ProfileError, match="after the start date"):
        validate_backtest_request(date(2021, 1, 1), date(2021, 1, 1), 10.0)
    with pytest.raises(ProfileError, match="basis points"):
        validate_backtest_request(date(2020, 1, 1), date(2021, 1, 1), 1_001.0)
