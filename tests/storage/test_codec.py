"""storage.codec: profiles and JSON values as stored text."""

from __future__ import annotations

import math

import pytest

from smallq.errors import StorageError
from smallq.types import CovModel, Objective, RiskLevel, Sector, Strategy
from storage.codec import dumps, profile_from_dict, profile_to_dict
from tests.storage.samples import full_profile


def test_profile_round_trips_every_field() -> None:
    profile = full_profile()
    back = profile_from_dict(profile_to_dict(profile))
    assert back == profile
    assert back.sectors == (Sector.INFORMATION_TECHNOLOGY, Sector.HEALTH_CARE)
    assert back.risk_level is RiskLevel.AGGRESSIVE and back.strategy is Strategy.LOW_VOL
    assert back.objective is Objective.MIN_VOLATILITY and back.cov_model is CovModel.SAMPLE
    assert back.include == ("BRK-B", "AAPL") and back.sector_caps == {
        Sector.INFORMATION_TECHNOLOGY: 0.6
    }


def test_unreadable_profile_raises_storage_error() -> None:
    with pytest.raises(StorageError):
        profile_from_dict({"sectors": ["Not a sector"], "capital": 1.0})


def test_dumps_writes_nan_as_null() -> None:
    assert dumps({"a": math.nan, "b": [math.inf, 1.5]}) == '{"a":null,"b":[null,1.5]}'
