"""Sign-in from a signed link and the My account page, scoped to the signed-in user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import services
from smallq.signin import sign_token
from storage.db import connect
from storage.portfolios import PortfolioRepository
from storage.subscriptions import ScheduleRepository, ThresholdRepository
from tests.dashboard.conftest import ALICE, BOB, SECRET, Seeded, app, every_text, now


def open_account(token: str | None) -> AppTest:
    at = app()
    if token is not None:
        at.query_params["token"] = token
    at.run()
    return at.switch_page("pages/account.py").run()


def test_without_a_token_only_the_public_pages_work(seeded: Seeded) -> None:
    at = open_account(None)
    assert not at.exception and not at.error
    assert "/dashboard" in at.info[0].value
    assert not at.dataframe and not at.table


def test_a_valid_link_shows_only_the_users_own_rows(seeded: Seeded) -> None:
    at = open_account(sign_token(ALICE, SECRET, now=now()))
    assert not at.exception and not at.error
    assert "token" not in at.query_params  # removed from the address bar
    text = every_text(at)
    options = at.selectbox(key="account_build").options
    assert len(options) == 1 and options[0].startswith(f"#{seeded.alice_portfolio} ")
    assert "AAPL" in text and "Tech" in text
    assert "Financials" not in text and "Energy" not in text  # Bob's build
    assert "Since you built it" in text and "Value now" in text  # tracking vs the S&P 500
    assert "Paper holdings" in text and "Trades" in text


@pytest.mark.parametrize(
    "make",
    [
        lambda: sign_token(ALICE, SECRET, now=now() - timedelta(minutes=16)),  # expired
        lambda: sign_token(ALICE, "another-secret-entirely", now=now()),  # forged
        lambda: str(BOB) + sign_token(ALICE, SECRET, now=now())[len(str(ALICE)) :],  # altered
        lambda: "not-a-token",
    ],
    ids=["expired", "forged", "another-users-id", "malformed"],
)
def test_bad_links_are_refused_and_show_no_data(seeded: Seeded, make: object) -> None:
    at = open_account(make())  # type: ignore[operator]
    assert not at.exception
    assert at.error and "link" in at.error[0].value
    assert not at.dataframe and not at.table and not at.get("selectbox")


def test_queries_are_scoped_by_user_id(seeded: Seeded) -> None:
    alice = services.load_account(ALICE)
    assert {b.user_id for b in alice.builds} == {ALICE}
    assert [b.id for b in alice.builds] == [seeded.alice_portfolio]
    db = connect(seeded.db_path)
    assert PortfolioRepository(db).owned(ALICE, seeded.bob_portfolio) is None
    assert PortfolioRepository(db).owned(BOB, seeded.bob_portfolio) is not None
    assert services.load_account(BOB).paper is None  # Alice's paper account stays hers


def test_alert_limits_and_schedule_are_stored_in_the_bots_tables(seeded: Seeded) -> None:
    at = open_account(sign_token(ALICE, SECRET, now=now()))
    at.number_input(key="limit_drawdown").set_value(12.5)
    at.button[0].click().run()  # Save limits
    assert not at.exception and not at.error
    assert "Saved" in at.success[0].value
    at.radio(key="sched_frequency").set_value("monthly").run()
    at.number_input(key="sched_monthday").set_value(15)
    at.text_input(key="sched_at").set_value("08:30")
    at.text_input(key="sched_zone").set_value("Europe/Berlin")
    next(b for b in at.button if b.label == "Save schedule").click().run()
    assert not at.exception and not at.error
    db = connect(seeded.db_path)
    assert ThresholdRepository(db).overrides(ALICE) == {"drawdown_limit": pytest.approx(0.125)}
    assert ThresholdRepository(db).overrides(BOB) == {}
    schedule = ScheduleRepository(db).get(ALICE, "digest")
    assert schedule is not None and schedule.active
    assert (schedule.frequency, schedule.day, schedule.local_time, schedule.timezone) == (
        "monthly", 15, "08:30", "Europe/Berlin",
    )  # fmt: skip
    assert ScheduleRepository(db).get(BOB, "digest") is None


def test_a_bad_time_zone_shows_an_error(seeded: Seeded) -> None:
    at = open_account(sign_token(ALICE, SECRET, now=now()))
    at.text_input(key="sched_zone").set_value("Mars/Olympus")
    next(b for b in at.button if b.label == "Save schedule").click().run()
    assert not at.exception
    assert "time zone" in at.error[0].value


def test_the_secret_never_appears_on_any_page(seeded: Seeded) -> None:
    at = open_account(sign_token(ALICE, SECRET, now=now()))
    seen = [every_text(at)]
    for page in ("pages/build.py", "pages/compare.py", "pages/stress.py", "pages/backtest.py"):
        seen.append(every_text(at.switch_page(page).run()))
    assert SECRET not in "\n".join(seen)
