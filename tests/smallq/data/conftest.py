"""Fixtures of the data-layer tests: ../shared/data in the CsvSource layout (built once)."""

from __future__ import annotations

from tests.shared_csv import shared_csv_dir, shared_csv_source

__all__ = ["shared_csv_dir", "shared_csv_source"]
