"""Small fakes for bot unit tests: a canned Report, PNG bytes, an in-process harness.

The canned report is for handler-flow tests only; end-to-end tests use the real pipeline.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from telegram import Update

from bot.app import build_application
from bot.config import BotConfig
from bot.deps import ConnectionFactory, Deps
from smallq.errors import DataUnavailableError
from smallq.models import (
    Allocation,
    MonteCarloResult,
    Note,
    NoteKind,
    OptimizationResult,
    Profile,
    Ranking,
    Report,
    RiskMetrics,
    ScenarioResult,
    StressReport,
    VarEstimate,
)
from smallq.profile import resolve_settings
from smallq.types import MonteCarloMethod, Objective, VarMethod
from tests.e2e.fake_telegram import FakeBotApi, InProcessRequest

# a fake token shaped like a real one (so redaction is tested on the real shape); built from
# parts so secret scanners do not mistake it for a leaked token
TOKEN = "123456789:" + "AAE-unit_test_token_abcdefghijklmnopqr"
USER = 1001
CHAT = USER


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def make_report(
    profile: Profile,
    *,
    tickers: tuple[str, ...] = ("AAPL", "MSFT", "JNJ"),
    weights: tuple[float, ...] = (0.5, 0.3, 0.2),
    prices: tuple[float, ...] = (150.0, 250.0, 160.0),
    as_of: date = date(2022, 12, 28),
    notes: tuple[str, ...] = (),
    fallback: bool = False,
) -> Report:
    """A small, internally consistent report (whole shares of ``profile.capital``)."""
    w = pd.Series(weights, index=list(tickers), dtype=float)
    px = pd.Series(prices, index=list(tickers), dtype=float)
    shares = np.floor(w * profile.capital / px)
    amounts = shares * px
    kept = shares[shares > 0].index
    allocation = Allocation(
        shares=shares[kept], prices=px, amounts=amounts[kept], target_weights=w,
        achieved_weights=amounts[kept] / profile.capital,
        cash_left=float(profile.capital - amounts.sum()), capital=profile.capital,
        fractional=False, method="greedy",
    )  # fmt: skip
    from smallq.models import FallbackStep

    optimization = OptimizationResult(
        weights=w, objective_requested=Objective.MAX_SHARPE,
        objective_used=Objective.MIN_VOLATILITY if fallback else Objective.MAX_SHARPE,
        fallbacks=(FallbackStep(Objective.MAX_SHARPE, "all returns below the risk-free rate"),)
        if fallback else (),
        solver="CLARABEL", expected_return=0.12, volatility=0.2, sharpe=0.5,
    )  # fmt: skip
    var = tuple(
        VarEstimate(
            method, conf, days, 0.02 * conf * math.sqrt(days), 0.03 * conf * math.sqrt(days)
        )
        for method in (VarMethod.HISTORICAL, VarMethod.PARAMETRIC)
        for conf in (0.95, 0.99)
        for days in (1, 10)
    )
    metrics = RiskMetrics(
        expected_return=0.12, volatility=0.2, sharpe=0.5, beta=1.1, realized_return=0.1,
        realized_volatility=0.21, max_drawdown=0.35, var=var,
        risk_contributions=w / w.sum(), effective_holdings=float(1 / (w**2).sum()),
    )  # fmt: skip
    fan = pd.DataFrame({q: np.linspace(1, 1 + q, 11) for q in (0.05, 0.25, 0.5, 0.75, 0.95)})
    stress = StressReport(
        scenarios=(ScenarioResult("2008 crisis", "historical", -0.4, -0.5, False),
                   ScenarioResult("Rates +2%", "hypothetical", -0.08, None, True, note="beta")),
        monte_carlo=(MonteCarloResult(MonteCarloMethod.BOOTSTRAP, 2000, 10, 0.01,
                                      {0.05: -0.2, 0.5: 0.05, 0.95: 0.3},
                                      {0.0: 0.4, 0.1: 0.2}, fan),),
    )  # fmt: skip
    ranking = Ranking(
        table=pd.DataFrame({"score": [1.0] * len(tickers)}, index=list(tickers)),
        selected=tickers, strategy=profile.strategy, as_of=as_of,
    )  # fmt: skip
    return Report(
        as_of=as_of, profile=profile, settings=resolve_settings(profile), ranking=ranking,
        mu=pd.Series(0.1, index=list(tickers)),
        cov=pd.DataFrame(np.eye(len(tickers)) * 0.04, index=list(tickers), columns=list(tickers)),
        optimization=optimization, allocation=allocation, metrics=metrics, stress=stress,
        sectors=pd.Series("Information Technology", index=list(tickers)),
        frontier=None, source="sample", fetched_at=datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
        notes=tuple(Note(NoteKind.DATA, n) for n in notes),
    )  # fmt: skip


def fake_charts(report: Report, names: tuple[str, ...]) -> dict[str, bytes]:
    """The named charts, each a tiny PNG."""
    return {name: tiny_png() for name in names}


class FakeSource:
    """A price source that is never read (the fake build ignores it) and lists no companies."""

    name = "fake"

    def fetch_companies(self) -> pd.DataFrame:
        """No company table: the sector keyboard shows every sector without counts."""
        raise DataUnavailableError(["companies"], "the fake source has no company table")


@dataclass
class FakeEngine:
    """``build_portfolio`` stand-in: canned report, call log, optional error or delay."""

    error: Exception | None = None
    delay_s: float = 0.0
    calls: list[Profile] = field(default_factory=list)

    def __call__(self, profile: Profile, source: object, *, today: date, params: object) -> Report:
        import time

        self.calls.append(profile)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return make_report(profile)


def make_config(tmp_path: Path, **overrides: Any) -> BotConfig:
    """A test config: temporary database, generous throttle, slow persistence flushes."""
    values: dict[str, Any] = {
        "token": TOKEN, "db_path": tmp_path / "bot.db", "persistence_interval_s": 60.0,
        "throttle_burst": 1000, "throttle_rate": 1000.0, "rate_limit_retries": 2,
    }  # fmt: skip
    values.update(overrides)
    return BotConfig(**values)


def make_deps(config: BotConfig, engine: Callable[..., Report] | None = None, **kw: Any) -> Deps:
    """Deps with the fake engine and charts (and the fake source unless ``source`` is given)."""
    source = kw.pop("source", FakeSource)
    charts = kw.pop("render_charts", fake_charts)
    return Deps(
        config=config, db=ConnectionFactory(config.db_path), source=source,
        build_portfolio=engine or FakeEngine(), render_charts=charts,
        executor=ThreadPoolExecutor(2), clock=lambda: datetime(2023, 1, 2, 12, 0, tzinfo=UTC),
        **kw,
    )  # fmt: skip


class Harness:
    """The real Application on an in-process fake Bot API; updates are fed one by one."""

    def __init__(self, config: BotConfig, deps: Deps, api: FakeBotApi | None = None) -> None:
        self.api = api or FakeBotApi(config.token)
        self.deps = deps
        self.app = build_application(config, deps, request=InProcessRequest(self.api))

    async def __aenter__(self) -> Harness:
        await self.app.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.update_persistence()
        await self.app.shutdown()

    async def run(self) -> None:
        """Process every queued update in order, then the work they started ahead.

        Work started ahead of a question (``Deps.start_background``: the level table when the
        sectors are chosen) finishes before the next update, as it would while a person types.
        """
        for payload in self.api.pop_updates():
            await self.app.process_update(Update.de_json(payload, self.app.bot))
        while self.deps.background:
            await asyncio.gather(*list(self.deps.background), return_exceptions=True)

    async def text(self, text: str, user: int = USER) -> None:
        """The user sends ``text``; process it."""
        self.api.send_text(user, text)
        await self.run()

    async def press(self, data: str, user: int = USER, **kw: Any) -> None:
        """The user taps the button ``data``; process it."""
        self.api.press(user, data, **kw)
        await self.run()

    def texts(self, chat: int = CHAT) -> list[str]:
        """Texts sent to the chat."""
        return self.api.texts_to(chat)

    def shown(self, chat: int = CHAT) -> list[str]:
        """Texts of the bot's messages as they read now (questions are edited in place)."""
        return self.api.shown_to(chat)

    def last_answer(self) -> dict[str, str]:
        """The last answerCallbackQuery parameters."""
        return self.api.answers()[-1]


class Heartbeat:
    """Measures the longest gap between event-loop turns while a block runs."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._done = asyncio.Event()

    async def _beat(self) -> None:
        last = time.monotonic()
        while not self._done.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        await self._task


def hold_write_lock(path: Path, seconds: float) -> None:
    """Another connection takes the write lock and releases it after ``seconds``."""
    other = sqlite3.connect(str(path), check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(seconds, lambda: (other.commit(), other.close())).start()
