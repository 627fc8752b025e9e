"""Skew-adjusted (Cornish-Fisher) VaR outside the expansion's domain is flagged to the user.

The demo's lookback (2020-2022) gives daily returns with excess kurtosis near 10; the
Cornish-Fisher cubic is then not increasing in ``z`` (it describes no distribution) and its
99% 1-day VaR came out at 7.1% against a historical 3.8% and a normal 3.6%, shown without a
word. The domain test is checked against the cubic itself on a wide grid.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from smallq.data.sample import SampleSource
from smallq.models import NoteKind
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from smallq.risk import _cf_coefficients, cornish_fisher_in_domain

GRID = np.linspace(-60.0, 60.0, 24_001)


@pytest.mark.parametrize(
    ("skew", "kurt", "inside"),
    [
        (0.0, 0.0, True),
        (0.0, 4.0, True),
        (0.0, 7.9, True),
        (0.0, 8.1, False),
        (0.15, 9.9, False),
        (-0.5, 3.0, True),
        (0.0, -0.5, False),
        (1.5, 2.0, False),
    ],
)
def test_the_domain_is_where_the_cubic_increases(skew: float, kurt: float, inside: bool) -> None:
    assert cornish_fisher_in_domain(skew, kurt) is inside
    values = np.polyval(_cf_coefficients(skew, kurt), GRID)
    assert bool(np.all(np.diff(values) > 0)) is inside


def _build(as_of: date):  # type: ignore[no-untyped-def]
    profile = make_profile(sectors="tech,health", capital=10_000.0, as_of=as_of)
    params = dataclasses.replace(DEFAULT_PARAMS, mc_paths=200)
    return build_portfolio(profile, SampleSource(), today=date(2026, 1, 1), params=params)


def test_the_demo_build_says_to_read_the_historical_rows() -> None:
    notes = [n for n in _build(date(2022, 12, 28)).notes if n.kind is NoteKind.RISK]
    assert len(notes) == 1 and "read the historical rows" in notes[0].text
    assert "cornish" not in notes[0].text.lower()


def test_a_calm_window_has_no_such_note() -> None:
    assert not [n for n in _build(date(2006, 12, 29)).notes if n.kind is NoteKind.RISK]
