"""The weekly sweep: every user check leased by a tick, written together.

:class:`SweepBuilder` is the batch half of :class:`bot.scheduler.digest.DigestBuilder`
(``build_many``). For the private-chat digests of one batch it

1. reads every user's schedule, profile, paper account and alert settings in one query
   (:meth:`storage.sweep.SweepRepository.user_checks`);
2. fetches prices once for the union of held tickers and prepares them once
   (:class:`smallq.assessment.MarketSnapshot`);
3. rebuilds each distinct target once per universe key: the profile without its capital,
   and today (:func:`smallq.pipeline.rebuild_target`: no stress, Monte Carlo or frontier),
   kept for :data:`TARGET_TTL` so the later batches of the same sweep reuse it;
4. runs the per-account arithmetic (:func:`smallq.assessment.assess_accounts`) in chunks on
   the :mod:`~bot.scheduler.executor` (a worker thread, or a Dask cluster);
5. stores the rebalance plans of the users who get signals in one transaction, and renders
   the same messages as the per-user path (:meth:`DigestBuilder.user_digest`).

The dispatcher stores, sends and records them with the batch methods of
:class:`storage.deliveries.DeliveryRepository`: the database still decides what is due and
records what was sent under UNIQUE (chat, kind, period).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pandas as pd
import sqlite_utils

from bot.deps import Deps
from bot.scheduler.calendar import Frequency
from bot.scheduler.dispatch import DIGEST, BuildFailure, DeliveryTarget, OutgoingMessage
from bot.scheduler.executor import CheckCosts, InProcessExecutor, SweepExecutor
from bot.services.paper import DRIFT_KEY, HISTORY_DAYS, fetch_closes, market_date
from bot.views.messages import split_blocks
from bot.views.trading import NO_ACCOUNT, assessment_blocks, plan_buttons
from smallq.alerts import thresholds_for
from smallq.assessment import AccountCheck, Assessment, CheckFailure, MarketSnapshot, Target
from smallq.data.base import PriceSource
from smallq.errors import SmallQError
from smallq.models import Profile
from smallq.params import EngineParams
from smallq.pipeline import rebuild_target
from storage.db import transaction
from storage.ledger import LedgerRepository
from storage.sweep import SweepRepository, UserCheck

#: accounts per task handed to the executor (a Dask task should take tens of milliseconds)
CHUNK_SIZE = 250
#: a rebuilt target serves every batch of the sweep for this long (the sweep's batches run
#: minutes apart at most; market data for a weekly check does not move in between)
TARGET_TTL = timedelta(minutes=15)

RebuildTarget = Callable[..., Target]
Result = Sequence[OutgoingMessage] | BuildFailure


@dataclass(frozen=True, slots=True)
class _Pending:
    """One user whose account is checked: what storage said, and the engine's input."""

    check: UserCheck
    account: AccountCheck
    target_key: str
    monthly: bool


class SweepBuilder:
    """Write the checks of many users at once (see the module docstring)."""

    def __init__(
        self,
        deps: Deps,
        executor: SweepExecutor | None = None,
        *,
        rebuild: RebuildTarget = rebuild_target,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.deps = deps
        self.executor = executor or InProcessExecutor(deps.executor)
        self.rebuild = rebuild
        self.chunk_size = chunk_size
        #: universe key → (when rebuilt, target), shared by the batches of one sweep
        self._targets: dict[str, tuple[datetime, Target]] = {}

    @staticmethod
    def accepts(target: DeliveryTarget) -> bool:
        """Private-chat digests are user checks."""
        return target.kind == DIGEST and target.chat_id > 0 and target.user_id is not None

    async def build_many(self, targets: Sequence[DeliveryTarget]) -> dict[int, Result]:
        """Messages (or a failure) per delivery id of ``targets``.

        Raises
        ------
        SmallQError
            When the shared prices cannot be fetched (every delivery is affected alike).
        """
        deps = self.deps
        checks = SweepRepository(deps.db()).user_checks([t.delivery_id for t in targets])
        results: dict[int, Result] = {}
        pending: list[_Pending] = []
        profiles: dict[str, Profile] = {}
        for check in checks:
            item = self._pending(check, profiles, results)
            if item is not None:
                pending.append(item)
        if not pending:
            return results
        now = deps.clock()
        fresh = {k: t for k, (at, t) in self._targets.items() if now - at < TARGET_TTL}
        missing = {k: p for k, p in profiles.items() if k not in fresh}
        market, rebuilt = await deps.run_blocking(
            _shared_inputs, deps.source(), deps.today(), deps.params, self.rebuild,
            [p.account for p in pending], missing,
        )  # fmt: skip
        self._targets = {k: v for k, v in self._targets.items() if k in fresh}
        self._targets |= {k: (now, t) for k, t in rebuilt.items()}
        targets_by_key = fresh | rebuilt
        work = [(p.account, targets_by_key[p.target_key]) for p in pending]
        chunks = [work[i : i + self.chunk_size] for i in range(0, len(work), self.chunk_size)]
        costs = CheckCosts(deps.scheduler.costs_bps, deps.scheduler.min_trade_value)
        outcomes = [o for chunk in await self.executor.run(market, chunks, costs) for o in chunk]
        plan_ids = await self._save_plans(pending, outcomes)
        for item, outcome in zip(pending, outcomes, strict=True):
            results[item.check.delivery_id] = _messages(item, outcome, plan_ids)
        return results

    def _pending(
        self, check: UserCheck, profiles: dict[str, Profile], results: dict[int, Result]
    ) -> _Pending | None:
        """The engine input of one user, or its final result (no account, bad settings)."""
        if check.profile is None or check.account is None:
            results[check.delivery_id] = [OutgoingMessage(NO_ACCOUNT)]
            return None
        overrides = dict(check.thresholds)
        drift = overrides.pop(DRIFT_KEY, self.deps.scheduler.drift_threshold)
        try:
            thresholds = thresholds_for(check.profile.risk_level, overrides)
        except SmallQError as exc:
            results[check.delivery_id] = BuildFailure(exc.user_message(), str(exc), exc.retryable)
            return None
        monthly = check.frequency == Frequency.MONTHLY.value
        universe = replace(check.profile, capital=1.0, as_of=None)
        key = repr(universe)
        profiles.setdefault(key, universe)
        account = AccountCheck(check.account.positions, check.account.cash, thresholds,
                               drift, monthly)  # fmt: skip
        return _Pending(check, account, key, monthly)

    async def _save_plans(
        self, pending: Sequence[_Pending], outcomes: Sequence[Assessment | CheckFailure]
    ) -> dict[int, str]:
        """Store every signalled plan in one transaction; delivery id → plan id."""
        signalled = [
            (item, outcome)
            for item, outcome in zip(pending, outcomes, strict=True)
            if isinstance(outcome, Assessment) and outcome.signal and outcome.plan is not None
        ]
        if not signalled:
            return {}
        deps, now = self.deps, self.deps.clock()

        def store(db: sqlite_utils.Database) -> dict[int, str]:
            ledger, ids = LedgerRepository(db), {}
            with transaction(db):
                for item, outcome in signalled:
                    assert outcome.plan is not None and item.check.account is not None
                    ids[item.check.delivery_id] = ledger.save_plan(
                        item.check.user_id, outcome.plan,
                        base_version=item.check.account.version, trade_date=outcome.as_of,
                        now=now, ttl=deps.scheduler.plan_ttl,
                    )  # fmt: skip
            return ids

        return await deps.run_storage(store)


def _shared_inputs(
    source: PriceSource,
    today: date,
    params: EngineParams,
    rebuild: RebuildTarget,
    accounts: Sequence[AccountCheck],
    profiles: dict[str, Profile],
) -> tuple[MarketSnapshot, dict[str, Target]]:
    """Prices of the union of held tickers, and one target per universe key (worker thread)."""
    day = market_date(source, today)
    held = sorted({t for a in accounts for t, n in a.shares if n != 0})
    closes = pd.DataFrame()
    if held:
        closes, _ = fetch_closes(source, held, day - timedelta(days=HISTORY_DAYS), day)
    market = MarketSnapshot.from_closes(closes, day)
    targets = {
        key: rebuild(profile, source, today=today, params=params)
        for key, profile in profiles.items()
    }
    return market, targets


def _messages(
    item: _Pending, outcome: Assessment | CheckFailure, plan_ids: dict[int, str]
) -> Result:
    if isinstance(outcome, CheckFailure):
        return BuildFailure(outcome.user_message, outcome.detail, outcome.retryable)
    title = f"Your {'monthly' if item.monthly else 'weekly'} check"
    messages = [OutgoingMessage(text) for text in split_blocks(assessment_blocks(outcome, title))]
    plan_id = plan_ids.get(item.check.delivery_id)
    if plan_id is not None:
        messages[-1] = OutgoingMessage(messages[-1].text, buttons=plan_buttons(plan_id))
    return messages
