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
