"""The CLI's common commands load no heavy library they do not use (issue 10, item 3).

Each command runs in a fresh interpreter, which then lists the modules it loaded. cvxpy and
PyPortfolioOpt load only for objectives without a fast path, scikit-learn and skfolio never
(the sample's CSV files are read without importing skfolio), matplotlib only for ``--charts``,
scipy.stats never (the standard library's ``NormalDist`` serves), and pandas runs without
pyarrow (installed for Streamlit; :func:`smallq.cli._pandas_without_pyarrow`). No timing is
checked here: speed lives in ``bench/bench_cli.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("cvxpy", "pypfopt", "sklearn", "skfolio", "matplotlib", "scipy.stats", "pyarrow")

SCRIPT = """
import contextlib, io, json, sys
from smallq.cli import main
sys.argv = ["smallq", *sys.argv[1:]]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        status = main()
    except SystemExit as exc:  # argparse's --help
        status = exc.code
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
print(json.dumps({"status": status, "modules": loaded}))
"""


def _loaded(*arguments: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return int(answer["status"] or 0), set(answer["modules"])


@pytest.mark.parametrize(
    "arguments",
    [
        ("build", "--sectors", "tech,health care", "--capital", "10000", "--no-record"),
        (
            "backtest",
            "--sectors",
            "tech,health care",
            "--start",
            "2021-01-01",
            "--end",
            "2022-12-28",
            "--rebalance",
            "monthly",
        ),
        ("--help",),
    ],
    ids=["build", "backtest", "help"],
)
def test_a_command_loads_no_heavy_library(arguments: tuple[str, ...]) -> None:
    status, modules = _loaded(*arguments)
    assert status == 0
    heavy = sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))
    assert heavy == []
    if arguments == ("--help",):
        assert "pandas" not in modules


def test_a_process_that_loaded_pandas_keeps_its_pyarrow() -> None:
    script = (
        "import sys, pandas\n"
        "from smallq.cli import _pandas_without_pyarrow\n"
        "_pandas_without_pyarrow()\n"
        "print(sys.modules.get('pyarrow', 'absent') is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=300
    )
    assert done.stdout.strip() == "True"
