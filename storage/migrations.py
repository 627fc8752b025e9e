"""Every schema change, in order. Add a line here for each new repository migration.

Names sort in apply order; an applied migration is never edited, only followed by a new one.
"""

from __future__ import annotations

from storage.company_cache import create_company_tables
from storage.db import Migration
from storage.price_cache import create_price_tables

MIGRATIONS: list[Migration] = [
    Migration("0001_price_cache", create_price_tables),
    Migration("0002_company_cache", create_company_tables),
]
