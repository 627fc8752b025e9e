"""Value objects of smallq.models: their JSON forms."""

from __future__ import annotations

import json

from smallq.models import Note, NoteKind


def test_notes_round_trip() -> None:
    notes = [
        Note(NoteKind.FALLBACK, "Fallback: x", (("objective", "max_sharpe"), ("reason", "r"))),
        Note(NoteKind.DATA, "Dropped <A> & B"),
        Note(NoteKind.STALE, "old"),
    ]
    for note in notes:
        assert Note.from_dict(json.loads(json.dumps(note.to_dict()))) == note
    assert Note.from_dict({"kind": "from-the-future", "text": "t"}).kind is NoteKind.DATA
