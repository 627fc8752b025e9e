"""Every schema change, in order. Add a line here for each new repository migration.

Names sort in apply order; an applied migration is never edited, only followed by a new one.
"""

from __future__ import annotations

from storage.db import Migration

MIGRATIONS: list[Migration] = []
