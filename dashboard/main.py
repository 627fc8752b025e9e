"""``smallq-dashboard``: start ``streamlit run dashboard/app.py`` headless on the set port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dashboard.config import load_dashboard_config
from smallq.errors import SmallQError

APP = Path(__file__).with_name("app.py")


def streamlit_command(port: int) -> list[str]:
    """The server command line (the secret stays in the environment, never in argv)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",
    ]  # fmt: skip


def main() -> int:
    """Check the settings, then replace this process with the Streamlit server."""
    try:
        config = load_dashboard_config()
    except SmallQError as exc:
        print(f"smallq-dashboard: {exc.user_message()}", file=sys.stderr)
        return 2
    command = streamlit_command(config.port)
    print(f"smallq-dashboard: serving on port {config.port} (source {config.source})")
    os.execv(command[0], command)
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
