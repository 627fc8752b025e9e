"""Screenshots of every dashboard page for the README (docs/images/dashboard_*.png).

Starts the real dashboard on the sample data with a temporary database holding one demo
user (a build of 2021-06-30 and its paper trades), signs in with a real signed link, and
takes phone-width screenshots in headless Debian chromium. Nothing here is used by the
product or the tests.

Run: ``PYTHONPATH=. .venv/bin/python docs/render_dashboard.py`` (needs Debian's
``chromium`` and ``chromium-driver``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from smallq.data.sample import SampleSource
from smallq.pipeline import build_portfolio
from smallq.presentation import present_portfolio
from smallq.profile import make_profile
from smallq.rebalance import Order, Side
from smallq.signin import sign_token
from storage.db import connect
from storage.ledger import LedgerRepository
from storage.portfolios import PortfolioRepository, ViewDocument, record_from_report
from storage.users import UserRepository
from tests.dashboard.test_browser import APP, _free_port, _wait_healthy, chromium_driver

OUT = Path(__file__).resolve().parent / "images"
USER = 7001
SECRET = "screenshot-secret-" + "0123456789abcdef"
WIDTH = 430


def seed(db_path: Path) -> None:
    """One demo user with a build of 2021-06-30, accepted as paper trades."""
    db = connect(db_path)
    UserRepository(db).touch(USER, first_name="Demo")
    profile = make_profile(
        sectors="Information Technology,Health Care", capital=10_000, as_of=date(2021, 6, 30)
    )
    report = build_portfolio(profile, SampleSource(), today=date(2026, 1, 1))
    record = record_from_report(report, ViewDocument(present_portfolio(report).to_dict()))
    portfolio_id = PortfolioRepository(db).add(USER, record)
    orders = [
        Order(h.ticker, Side.BUY, int(h.shares), h.price, h.amount, round(h.amount * 0.001, 2))
        for h in record.holdings if h.shares
    ]  # fmt: skip
    LedgerRepository(db).record_trades(
        USER, orders, trade_date=record.as_of, reference=f"accept:{portfolio_id}",
        opening_cash=record.capital, portfolio_id=portfolio_id,
    )  # fmt: skip
    db.close()


def shoot(driver, name: str, ready: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``ready`` (a CSS selector or text), let charts settle, save a full page."""
    def found(d) -> bool:  # type: ignore[no-untyped-def]
        if ready.startswith("text:"):
            return ready[5:] in d.find_element(By.TAG_NAME, "body").get_attribute("innerText")
        return bool(d.find_elements(By.CSS_SELECTOR, ready))

    WebDriverWait(driver, 180, poll_frequency=0.5).until(found)
    time.sleep(4)
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        "return Math.max(m.scrollHeight, document.body.scrollHeight);"
    )
    driver.set_window_size(WIDTH, int(height) + 140)
    time.sleep(2)
    driver.save_screenshot(str(OUT / f"dashboard_{name}.png"))
    driver.set_window_size(WIDTH, 1200)
    print(f"wrote docs/images/dashboard_{name}.png ({height}px)")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "smallq.db"
        seed(db_path)
        port = _free_port()
        env = {**os.environ, "SMALLQ_DB_PATH": str(db_path), "SMALLQ_SOURCE": "sample",
               "SMALLQ_DASHBOARD_SECRET": SECRET, "SMALLQ_MC_PATHS": "2000"}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        driver = chromium_driver(Path(tmp) / "profile", WIDTH, 1200)
        try:
            _wait_healthy(url, server)
            driver.get(url)
            shoot(driver, "build", '[data-testid="stTable"]')
            driver.get(f"{url}/compare")
            shoot(driver, "compare", "text:Growth of the capital")
            driver.get(f"{url}/stress")
            shoot(driver, "stress", "text:Probability of losing")
            driver.get(f"{url}/backtest")
            button = WebDriverWait(driver, 120).until(
                lambda d: [b for b in d.find_elements(By.TAG_NAME, "button")
                           if b.text == "Run backtest"]
            )[0]
            driver.execute_script("arguments[0].click();", button)
            shoot(driver, "backtest", "text:Download JSON")
            token = sign_token(USER, SECRET, now=datetime.now(UTC))
            driver.get(f"{url}/account?token={token}")
            shoot(driver, "account", "text:Since you built it")
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
