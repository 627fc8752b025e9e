"""One real-browser test: the Build page in headless Debian chromium shows its holdings.

Starts ``streamlit run dashboard/app.py`` on a free loopback port (the sample data, a
temporary database), drives ``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` with
selenium, waits for the holdings table and reads a ticker and a dollar amount from it.
Skips, saying why, when chromium or its driver is not installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SAMPLE_TICKERS = ("AAPL", "AMD", "MSFT", "JNJ", "LLY", "MRK", "PFE", "UNH")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    """The dashboard on a free port; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "SMALLQ_DB_PATH": str(tmp_path / "smallq.db"),
        "SMALLQ_SOURCE": "sample",
        "SMALLQ_MC_PATHS": "200",
        "SMALLQ_DASHBOARD_SECRET": "",
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def chromium_driver(profile: Path, width: int = 1280, height: int = 1600):  # type: ignore[no-untyped-def]
    """Headless Debian chromium through its chromedriver (never a downloaded browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
def test_build_page_in_headless_chromium_shows_a_ticker_and_dollars(
    server: str, tmp_path: Path
) -> None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run does it)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium_driver(tmp_path / "chromium-profile")
    try:
        driver.get(server)
        table = WebDriverWait(driver, 90, poll_frequency=0.5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stTable"]')
        )[0]
        WebDriverWait(driver, 30).until(lambda d: "$" in table.get_attribute("innerText"))
        text = table.get_attribute("innerText")
        assert any(ticker in text for ticker in SAMPLE_TICKERS), text[:500]
        assert re.search(r"\$\d[\d,]*\.\d\d", text), text[:500]
    finally:
        driver.quit()
