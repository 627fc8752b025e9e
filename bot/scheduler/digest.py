"""Content of scheduled deliveries: user digests and linked-chat digests.

:class:`DigestBuilder` is the production :class:`~bot.scheduler.dispatch.ContentBuilder`:

* a **user** (private chat) gets the account check of :func:`bot.services.paper.assess_account` —
  value, risk alerts and, when the rebalance rule calls for it, whole-share signals with
  "Apply (paper)" / "Skip" buttons whose callback data carries a stored plan id;
* a **linked group or channel** gets its model portfolio's weights, its buy-and-hold
  performance against the S&P 500 over about three months and over the last week, and a chart.
  The link's owner must still administer the chat: their rights are asked of Telegram
  (``getChatMember``) at digest time, and a link whose owner was demoted, left or was banned
  is unlinked instead of sent (links by anonymous admins and channels carry no owner).

The rule of a schedule: weekly schedules signal when drift reaches the user's band; monthly
schedules are calendar rebalances and signal whenever there is drift
(:func:`smallq.rebalance.needs_rebalance`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from bot.deps import Deps
from bot.scheduler.calendar import Frequency
from bot.scheduler.dispatch import OutgoingMessage
from bot.services.paper import (
    assess_blocking,
    assess_inputs,
    fetch_closes,
    market_date,
    save_signal_plan,
)
from bot.views.messages import caption, split_blocks
from bot.views.trading import NO_ACCOUNT, assessment_blocks, chat_digest_blocks, plan_buttons
from smallq.charts.backtest import tracking_chart
from smallq.errors import DataUnavailableError
from smallq.measures import account_values
from smallq.performance import TrackingReport, tracking
from smallq.profile import make_profile
from storage.portfolios import PortfolioRecord
from storage.subscriptions import ChatLink, ChatRepository, ScheduleRepository


@dataclass(frozen=True, slots=True)
class ModelPerformance:
    """A model portfolio's weights and its value against the benchmark (both start at 100).

    ``portfolio`` and ``benchmark`` are ``tracking``'s growth series times 100.
    """

    title: str
    weights: pd.Series
    portfolio: pd.Series
    benchmark: pd.Series
    as_of: date
    tracking: TrackingReport


_LOG = logging.getLogger(__name__)
#: ``(chat_id, user_id) -> True/False``, or ``None`` when Telegram could not say
AdminCheck = Callable[[int, int], Awaitable[bool | None]]


class DigestBuilder:
    """Write the messages of one delivery (see the module docstring)."""

    def __init__(self, deps: Deps, is_admin: AdminCheck | None = None) -> None:
        self.deps = deps
        self.is_admin = is_admin

    async def __call__(self, target: object) -> list[OutgoingMessage]:
        """Messages for a :class:`~bot.scheduler.dispatch.DeliveryTarget`; [] if none apply."""
        chat_id = int(target.chat_id)  # type: ignore[attr-defined]
        if chat_id > 0:
            schedule_id = target.schedule_id  # type: ignore[attr-defined]
            return await self.user_digest(chat_id, schedule_id)
        link = ChatRepository(self.deps.db()).get(chat_id)
        if link is None or not link.active or not await self._owner_still_admin(link):
            return []
        return await self.chat_digest(link)

    async def _owner_still_admin(self, link: ChatLink) -> bool:
        """Whether the link's owner may still speak for it; unlink the chat when not."""
        owner = link.linked_by
        if owner is None or self.is_admin is None or owner in self.deps.config.admin_ids:
            return True
        if await self.is_admin(link.chat_id, owner) is not False:  # unknown: keep sending
            return True
        _LOG.info("chat %s unlinked: its linker %s is no longer an admin", link.chat_id, owner)
        now = self.deps.clock().isoformat(timespec="seconds")
        await self.deps.run_storage(lambda db: ChatRepository(db).unlink(link.chat_id, now=now))
        return False

    async def user_digest(self, user_id: int, schedule_id: int | None) -> list[OutgoingMessage]:
        """The account check of one user, with Apply/Skip when signals are due."""
        deps = self.deps
        schedule = ScheduleRepository(deps.db()).by_id(schedule_id) if schedule_id else None
        monthly = schedule is not None and schedule.frequency == Frequency.MONTHLY.value
        inputs = assess_inputs(deps, user_id, calendar_due=monthly)
        if inputs is None:
            return [OutgoingMessage(NO_ACCOUNT)]
        assessment = await deps.run_blocking(assess_blocking, deps, inputs)
        title = f"Your {'monthly' if monthly else 'weekly'} check"
        texts = split_blocks(assessment_blocks(assessment, title))
        messages = [OutgoingMessage(text) for text in texts]
        plan_id = await save_signal_plan(deps, user_id, inputs, assessment)
        if plan_id is not None:
            last = messages[-1]
            messages[-1] = OutgoingMessage(last.text, buttons=plan_buttons(plan_id))
        return messages

    async def chat_digest(self, link: ChatLink) -> list[OutgoingMessage]:
        """Weights, performance against the S&P 500, and the chart."""
        record = None
        if link.portfolio_id is not None:
            record = self.deps.portfolios().get(link.portfolio_id)
        model = await self.deps.run_blocking(model_performance, self.deps, record)
        png = await self.deps.run_blocking(performance_chart, model)
        texts = split_blocks(
            chat_digest_blocks(
                model.title, model.weights, model.portfolio, model.benchmark, model.as_of
            )
        )
        days = len(model.portfolio) - 1
        photo = OutgoingMessage(
            caption(f"{model.title} vs S&P 500 · last {days} trading days to "
                    f"{model.as_of.isoformat()}"),
            photo=png, parse_mode=None,
        )  # fmt: skip
        return [*(OutgoingMessage(t) for t in texts), photo]


def model_performance(deps: Deps, record: PortfolioRecord | None) -> ModelPerformance:
    """Weights of the followed build (or a fresh model build) and their recent performance.

    Raises
    ------
    SmallQError
        When the model cannot be built or has no prices.
    """
    source, today = deps.source(), deps.today()
    if record is not None:
        weights = pd.Series({h.ticker: h.target_weight for h in record.holdings})
        title = f"Portfolio #{record.id}"
    else:
        settings = deps.scheduler
        profile = make_profile(
            sectors=settings.model_sectors,
            capital=settings.model_capital,
            risk_level=settings.model_risk,
        )
        report = deps.build_portfolio(profile, source, today=today, params=deps.params)
        weights, title = report.weights, "smallQ model portfolio"
    weights = weights[weights > 0]
    day = market_date(source, today)
    days = deps.scheduler.performance_days
    start = day - timedelta(days=int(days * 1.6) + 14)
    close, _ = fetch_closes(source, [str(t) for t in weights.index], start, day)
    close = close.ffill().dropna().iloc[-(days + 1) :]
    if len(close) < 2:
        raise DataUnavailableError(list(weights.index), "no recent prices for the digest")
    held = weights.reindex(close.columns).dropna()
    held = held / held.sum()
    units = held * 100 / close[held.index].iloc[0]  # buy and hold, worth 100 on the first day
    bench = source.fetch_benchmark(close.index[0].date(), day)
    tracked = tracking(
        account_values(units, close), bench, risk_free_rate=deps.params.risk_free_rate,
        periods_per_year=deps.params.periods_per_year,
    )  # fmt: skip
    return ModelPerformance(
        title, held, tracked.growth * 100, tracked.benchmark_growth * 100,
        tracked.growth.index[-1].date(), tracked,
    )  # fmt: skip


def performance_chart(model: ModelPerformance) -> bytes:
    """PNG: the portfolio's growth against the S&P 500 (the engine's tracking chart)."""
    return tracking_chart(model.tracking, title=f"{model.title} vs S&P 500")
