from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smallq.data.csv import CsvSource
from smallq.data.registry import open_source
from smallq.data.sample import SampleSource
from smallq.data.yahoo import YahooSource
from smallq.errors import UnknownOptionError


def test_sample_and_yahoo() -> None:
    assert isinstance(open_source("sample"), SampleSource)
    assert isinstance(open_source(" Sample "), SampleSource)
    yahoo = open_source("YAHOO")
    assert isinstance(yahoo, YahooSource) and yahoo.name == "yahoo"


def test_csv_directory(tmp_path: Path) -> None:
    source = open_source(f"csv:{tmp_path}")
    assert isinstance(source, CsvSource)
    assert source.name == f"csv:{tmp_path}" and source.directory == tmp_path


@pytest.mark.parametrize("spec", ["", "csv:", "csv:  ", "yahoo:x", "sample:1", "bloomberg", "csv"])
def test_unknown_specs(spec: str) -> None:
    with pytest.raises(UnknownOptionError) as info:
        open_source(spec)
    assert info.value.allowed == ("sample", "yahoo", "csv:DIR")
    assert "csv:DIR" in info.value.user_message()


def test_yfinance_is_imported_only_by_the_yahoo_adapter() -> None:
    sources = Path(sys.modules["smallq.data.registry"].__file__ or "").parent.parent
    importers = [
        path.relative_to(sources.parent).as_posix()
        for path in sources.rglob("*.py")
        if "import yfinance" in path.read_text() or "from yfinance" in path.read_text()
    ]
    assert importers == ["smallq/data/yahoo.py"]
