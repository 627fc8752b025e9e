"""A stored build and the one portfolio view: the bot's side of what storage keeps.

:func:`record_of` builds the storable record of a fresh build, with its view presented once
as a JSON document; :func:`portfolio_view` reads a stored build back through the engine's
:func:`smallq.presentation.stored.stored_view`, the same code the dashboard uses.
"""

from __future__ import annotations

from smallq.models import Report
from smallq.presentation import PortfolioView, present_portfolio
from smallq.presentation.stored import stored_view
from storage.portfolios import PortfolioRecord, ViewDocument, record_from_report


def record_of(report: Report) -> PortfolioRecord:
    """The storable record of a fresh build, with its view (presented once) as a document."""
    return record_from_report(report, ViewDocument(present_portfolio(report).to_dict()))


def portfolio_view(record: PortfolioRecord) -> PortfolioView:
    """The view of a stored build (see :func:`smallq.presentation.stored.stored_view`)."""
    return stored_view(record)
