"""The notes of a build that the use cases add: how the weights were found and where the prices
come from, and the caveats of a backtest.

Each note is a :class:`~smallq.models.Note` with its kind and the structured fields its text
was written from, so front ends choose and render notes by kind, never by text
(:mod:`smallq.pipeline` calls these; the stages' own notes come from their modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from smallq.models import Note, NoteKind, OptimizationResult

#: a backtest's stock list is today's index
SURVIVORSHIP_NOTE = (
    "The stock list is today's: companies that left the index are missing, so the "
    "backtest carries survivorship bias."
)


def fallback_notes(optimization: OptimizationResult) -> list[Note]:
    """One note per objective that did not produce the weights, then the one that did."""
    notes = [
        Note(
            NoteKind.FALLBACK,
            f"Fallback: {s.objective.value} was not used — {s.reason}",
            (("objective", s.objective.value), ("reason", s.reason)),
        )
        for s in optimization.fallbacks
    ]
    if optimization.fallbacks:
        used = optimization.objective_used.value
        text = f"Fallback: weights come from {used}."
        notes.append(Note(NoteKind.FALLBACK, text, (("objective_used", used),)))
    return notes


def freshness_note(source: str, fetched_at: datetime | None, as_of: date) -> Note:
    """Where the prices come from, their last date and when they were fetched."""
    fetched = f", fetched {fetched_at:%Y-%m-%d %H:%M} UTC" if fetched_at is not None else ""
    fields = [("source", source), ("as_of", as_of.isoformat())]
    if fetched_at is not None:
        fields.append(("fetched_at", fetched_at.isoformat()))
    text = f"Prices from {source} up to {as_of:%Y-%m-%d}{fetched}."
    return Note(NoteKind.FRESHNESS, text, tuple(fields))


def backtest_fallback_notes(
    fallbacks: Sequence[tuple[date, str]], decisions: int, objective: str
) -> list[str]:
    """How many rebalances of a backtest used a fallback objective, and the first one."""
    if not fallbacks:
        return []
    first, reason = fallbacks[0]
    return [
        f"{len(fallbacks)} of {decisions} rebalances used a fallback objective "
        f"instead of {objective} (first on {first:%Y-%m-%d}: {reason})."
    ]
