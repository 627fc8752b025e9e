"""Every schema change, in order. Add a line here for each new repository migration.

Names sort in apply order; an applied migration is never edited, only followed by a new one.
"""

from __future__ import annotations

from storage.company_cache import create_company_tables
from storage.conversations import create_bot_state_tables
from storage.db import Migration
from storage.portfolios import create_portfolio_tables
from storage.price_cache import create_price_tables
from storage.users import create_user_tables

MIGRATIONS: list[Migration] = []

# bot: users, profiles, portfolio builds, conversation state (names 0100-0199)
MIGRATIONS += [
    Migration("0100_users_profiles", create_user_tables),
    Migration("0101_portfolios_holdings", create_portfolio_tables),
    Migration("0102_bot_state", create_bot_state_tables),
]
MIGRATIONS.append(Migration("0001_price_cache", create_price_tables))
MIGRATIONS.append(Migration("0002_company_cache", create_company_tables))

# scheduler: paper ledger, schedules/thresholds/chat links, delivery ledger (names 0200-0299)
from storage.deliveries import create_delivery_tables  # noqa: E402
from storage.ledger import create_ledger_tables  # noqa: E402
from storage.subscriptions import create_subscription_tables  # noqa: E402

MIGRATIONS += [
    Migration("0200_paper_ledger", create_ledger_tables),
    Migration("0201_schedules_thresholds_chats", create_subscription_tables),
    Migration("0202_delivery_ledger", create_delivery_tables),
]
