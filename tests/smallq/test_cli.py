"""The `smallq` command line: JSON documents, charts, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smallq.cli import EXIT_USER_ERROR, main

SECTORS = "Information Technology,Health Care"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_build_json_and_charts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(
        capsys,
        "build",
        "--sectors",
        SECTORS,
        "--capital",
        "10,000",
        "--risk",
        "moderate",
        "--json",
        "--charts",
        str(tmp_path),
    )
    assert status == 0, err
    document = json.loads(out)
    assert document["schema"] == "smallq.report/1"
    assert sum(document["weights"].values()) == pytest.approx(1.0, abs=1e-9)
    assert document["cash_left"] >= 0
    placement = document["risk_placement"]
    assert placement["level"] == 3 and placement["levels"] == 5
    assert placement["min_volatility"] <= placement["volatility"] <= placement["max_volatility"]
    # the placement is the optimizer's target; the metrics describe the whole shares bought
    assert placement["volatility"] == pytest.approx(document["metrics"]["volatility"], abs=0.01)
    record = document["out_of_sample"]
    assert record["end"] == document["as_of"] and record["years"] == pytest.approx(5, abs=0.01)
    assert {"cagr", "volatility", "max_drawdown", "benchmark_cagr"} <= set(record)
    assert "not a forecast" in document["expected_return_basis"]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted(
        [
            "allocation.png",
            "frontier.png",
            "risk_contributions.png",
            "monte_carlo.png",
            "stress.png",
        ]
    )
    for path in tmp_path.glob("*.png"):
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_build_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "build",
        "--sectors",
        "tech,health",
        "--capital",
        "25000",
        "--risk",
        "2",
        "--strategy",
        "low_vol",
    )
    assert status == 0
    assert "Cash left" in out and "not investment advice" in out
    assert "Risk level 2 of 5: volatility" in out and "the calmest mix of these stocks" in out
    assert "Out of sample " in out and "vs S&P 500" in out
    assert "the historical average return, not a forecast" in out


def test_levels_table_in_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["levels", "--sectors", "tech,health,staples", "--capital", "10000"]
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    document = json.loads(out)
    assert document["schema"] == "smallq.levels/1"
    levels = document["levels"]
    assert [row["level"] for row in levels] == [1, 2, 3, 4, 5]
    vols = [row["volatility"] for row in levels]
    assert vols == sorted(vols)
    assert vols[0] == pytest.approx(document["min_volatility"], abs=1e-9)
    for row in levels:
        assert row["var_95_amount"] == pytest.approx(row["var_95"] * 10_000, abs=1e-9)
        assert row["crisis_2008_value"] == pytest.approx(10_000 * (1 + row["crisis_2008"]))
    status, out, _ = run(capsys, *argv)
    assert status == 0 and "5 aggressive" in out and "10,000 becomes" in out


def test_rank_json_lists_ticker_sector_score_and_factor(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "rank",
        "--sectors",
        SECTORS,
        "--strategy",
        "momentum",
        "--top",
        "3",
        "--as-of",
        "2020-06-30",
        "--json",
    )
    assert status == 0
    records = json.loads(out)
    assert len(records) == 3
    assert {"ticker", "sector", "score", "momentum"} <= set(records[0])
    assert [r["rank"] for r in records] == [1, 2, 3]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["build", "--sectors", "crypto", "--capital", "1000"], "Unknown sector"),
        (["build", "--sectors", SECTORS, "--capital", "-5000"], "positive"),
        (["build", "--sectors", SECTORS, "--capital", "nan"], "plain digits"),
        (["build", "--sectors", SECTORS, "--capital", "0"], "greater than zero"),
        (["build", "--sectors", SECTORS, "--capital", "3"], "cheapest"),
        (["build", "--sectors", "Utilities", "--capital", "1000"], "sector"),
        (["build", "--sectors", "tech", "--capital", "1000", "--max-weight", "0.2"], "max weight"),
        (["build", "--sectors", SECTORS, "--capital", "1000", "--risk", "9"], "risk level"),
    ],
)
def test_errors_are_one_line_with_nonzero_status(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == EXIT_USER_ERROR
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("smallq: ")
    assert fragment.lower() in lines[0].lower()
    assert "Traceback" not in err


def test_universe_lists_sectors(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "universe", "--json")
    assert status == 0
    document = json.loads(out)
    assert {t["ticker"] for t in document["Information Technology"]} == {"AAPL", "AMD", "MSFT"}
    assert sum(len(v) for v in document.values()) == 20


def test_universe_refresh_needs_the_cached_yahoo_source(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "universe", "--refresh")
    assert status == EXIT_USER_ERROR
    assert "yahoo" in err
