"""How the processes that run the engine set pandas up.

pandas 3 stores text (tickers, sectors, names) in Arrow arrays whenever pyarrow is
installed, and the venv has it for Streamlit. The engine looks tickers up in indexes all
the time (a column subset per stage, a reindex per join), and at its sizes those lookups
are 2 to 2.5 times slower on Arrow strings than on Python strings: about a fifth of a
whole report at 100 assets (97 -> 76 ms CPU, measured in alternating processes). The values,
the ``str`` dtype and its missing-value marker are the same in both storages; only the
storage differs. Every entry point that builds portfolios calls :func:`use_python_strings`
before it loads data: the bot and its engine workers, the dashboard, the benchmarks and the
tests. The CLI gets the same storage by running pandas without pyarrow (``smallq.cli``).
"""

from __future__ import annotations

import pandas as pd


def use_python_strings() -> None:
    """Store text in Python objects for the frames and indexes made after this call."""
    pd.set_option("mode.string_storage", "python")
