"""JSON codecs for value objects stored as text columns.

A :class:`~smallq.models.Profile` is stored as a JSON object of its fields: enums as their
values, tuples as lists, ``sector_caps`` keyed by sector value, ``as_of`` as ISO date.
Unknown keys in stored JSON are ignored, so old rows survive new profile fields.

A :class:`~smallq.models.Note` is stored as ``{"kind", "text", "fields"}``. Rows written
before notes had kinds hold plain strings; :func:`notes_from_json` reads those once, by the
two prefixes the engine used then, and nothing after it looks at a note's text.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import date
from typing import Any

from smallq.errors import StorageError
from smallq.models import Note, NoteKind, Profile
from smallq.types import CovModel, Objective, ReturnsModel, RiskLevel, Sector, Strategy

_ENUM_FIELDS: dict[str, Any] = {
    "strategy": Strategy,
    "objective": Objective,
    "returns_model": ReturnsModel,
    "cov_model": CovModel,
}
_TUPLE_FIELDS = ("include", "exclude")


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """Return the profile as JSON-ready plain values."""
    out: dict[str, Any] = {}
    for f in fields(profile):
        value = getattr(profile, f.name)
        if f.name == "sectors":
            value = [s.value for s in value]
        elif f.name == "risk_level":
            value = int(value)
        elif f.name == "sector_caps":
            value = {Sector(k).value: float(v) for k, v in dict(value).items()}
        elif f.name in _TUPLE_FIELDS:
            value = list(value)
        elif f.name == "as_of":
            value = value.isoformat() if value is not None else None
        elif f.name in _ENUM_FIELDS:
            value = value.value if value is not None else None
        out[f.name] = value
    return out


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Rebuild a profile written by :func:`profile_to_dict`.

    Raises
    ------
    StorageError
        When the stored value cannot be read back.
    """
    known = {f.name for f in fields(Profile)}
    values = {k: v for k, v in data.items() if k in known}
    try:
        values["sectors"] = tuple(Sector(s) for s in values["sectors"])
        values["risk_level"] = RiskLevel(int(values.get("risk_level", 3)))
        values["sector_caps"] = {
            Sector(k): float(v) for k, v in dict(values.get("sector_caps") or {}).items()
        }
        for name in _TUPLE_FIELDS:
            values[name] = tuple(values.get(name) or ())
        if values.get("as_of"):
            values["as_of"] = date.fromisoformat(values["as_of"])
        for name, enum in _ENUM_FIELDS.items():
            if values.get(name) is not None:
                values[name] = enum(values[name])
        return Profile(**values)
    except (KeyError, ValueError, TypeError) as exc:
        raise StorageError(f"stored profile is unreadable: {exc}") from exc


#: how notes stored as plain strings (before kinds) began; read only by notes_from_json
_LEGACY_NOTE_PREFIXES = (("Fallback: ", NoteKind.FALLBACK), ("Prices from ", NoteKind.FRESHNESS))


def notes_to_json(notes: tuple[Note, ...]) -> list[dict[str, Any]]:
    """Notes as JSON-ready objects."""
    return [n.to_dict() for n in notes]


def notes_from_json(items: list[Any] | None) -> tuple[Note, ...]:
    """Notes written by :func:`notes_to_json`, or plain strings of rows stored before kinds."""
    notes = []
    for item in items or ():
        if isinstance(item, dict):
            notes.append(Note.from_dict(item))
            continue
        text = str(item)
        kind = next((k for p, k in _LEGACY_NOTE_PREFIXES if text.startswith(p)), NoteKind.DATA)
        notes.append(Note(kind, text))
    return tuple(notes)


def dumps(value: Any) -> str:
    """JSON text with NaN/inf written as null (SQLite JSON functions reject NaN)."""
    return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None, default: Any = None) -> Any:
    """Parse JSON text; ``None`` gives ``default``."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"stored JSON is unreadable: {exc}") from exc


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
