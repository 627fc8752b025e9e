"""Bot under load: N simulated users at once against the fake Bot API, over HTTP.

The path users run: ``python -m bot`` (the real Application, AIORateLimiter, the engine pool
and SQLite, with its default settings) in its own process, long-polling
``tests/e2e/fake_telegram.py``'s Bot API on 127.0.0.1. This process plays the users: all N
send /start at once, then each answers every question after a think time (0.5-1.5 s,
seeded), picks two or three sectors, types an amount, a risk level and a strategy, and
presses Build as soon as the summary shows. Times are taken on the fake server's clock:

* button answer: a press until its ``answerCallbackQuery`` arrives;
* question: an answer (a press or the typed amount) until the next question shows;
* numbers: Build until the portfolio text (weights, money, risk figures) arrived;
* result: Build until the portfolio text and its three charts arrived (the charts are drawn
  after every queued build's text, so the numbers come first);
* lost: users without a result after the deadline; duplicated: more than one result;
* calls before Build: the median Bot API calls of a conversation from /start to Build, and
  (in brackets) the mean of those to the chat, which the 30-per-second limiter paces
  (``answerCallbackQuery`` carries no chat and is not paced);
* CPU per user: CPU seconds of the bot's processes (the bot and its engine workers) from
  the first /start to the last result, per user: unlike the times, hardly changed by other
  work on the machine.

``python bench/bench_bot_load.py`` runs 20, 50 and 200 users one after the other;
``--users 50`` one size; ``--workers`` and ``--pool thread`` compare engine settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.fake_methods import Call  # noqa: E402
from tests.e2e.fake_telegram import FakeBotApi, FakeTelegramServer  # noqa: E402
from tests.e2e.harness import TOKEN  # noqa: E402

SECTORS = (("IT", "HC"), ("HC", "CS"), ("IT", "HC", "CS"))
RESULT_PREFIX = "<b>Your portfolio"
CAPITAL_QUESTION = "How much do you want to invest"
CHARTS_PER_RESULT = 3


@dataclass
class Timings:
    """Latencies in seconds, and the result counts, of one run."""

    answers: list[float] = field(default_factory=list)
    questions: list[float] = field(default_factory=list)
    #: the same, by the question shown next ("sectors", "amount", "risk", ...)
    by_question: dict[str, list[float]] = field(default_factory=dict)
    results: list[float] = field(default_factory=list)
    texts: list[float] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    calls_per_conversation: list[int] = field(default_factory=list)
    #: of which calls to the chat: the ones the 30-per-second limiter paces
    chat_calls_per_conversation: list[int] = field(default_factory=list)
    #: CPU seconds of the bot's processes (itself and its engine workers) while users ran
    cpu_seconds: float = float("nan")
    #: of which the bot's own process (the event loop, HTTP, SQLite)
    bot_cpu_seconds: float = float("nan")


class Users:
    """Per-chat views of the fake API's calls, and a wake-up per chat (cheap for 200 users)."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.calls: dict[int, list[Call]] = {}
        self.answered: dict[str, float] = {}
        self.changed: dict[int, asyncio.Event] = {}
        self.query_user: dict[str, int] = {}
        self.polling = asyncio.Event()
        handle = api.handle

        async def recorded(method: str, params: dict[str, str], files: dict[str, bytes]):  # type: ignore[no-untyped-def]
            index = len(api.calls)  # handle() records the call before its first await
            status, body = await handle(method, params, files)
            call = api.calls[index] if len(api.calls) > index else None
            if method == "getUpdates":
                self.polling.set()
            elif method == "answerCallbackQuery":
                query_id = params.get("callback_query_id", "")
                self.answered.setdefault(query_id, time.monotonic())
                self._wake(self.query_user.get(query_id))
            elif call is not None and isinstance(call.chat_id, int):
                self.calls.setdefault(call.chat_id, []).append(call)
                self._wake(call.chat_id)
            return status, body

        api.handle = recorded  # type: ignore[method-assign]

    def _wake(self, chat_id: int | None) -> None:
        if chat_id is not None:
            self.changed.setdefault(chat_id, asyncio.Event()).set()

    async def until(self, chat_id: int, predicate, deadline: float) -> float:  # type: ignore[no-untyped-def]
        """Wait until ``predicate()`` holds; return the time it first did (inf after deadline)."""
        event = self.changed.setdefault(chat_id, asyncio.Event())
        while True:
            found = predicate()
            if found is not None:
                return float(found)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return float("inf")
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def shown_at(self, chat_id: int, since: float, needle: str) -> float | None:
        """When a successful call to the chat after ``since`` first carried ``needle``."""
        for call in self.calls.get(chat_id, []):
            if call.at >= since and call.status == 200:
                text = call.params.get("text", "") + call.params.get("reply_markup", "")
                if needle in text:
                    return call.at
        return None

    def text_at(self, chat_id: int, since: float) -> float | None:
        """When the portfolio text arrived."""
        for call in self.calls.get(chat_id, []):
            if call.at >= since and call.status == 200 and call.method == "sendMessage":
                if call.text.startswith(RESULT_PREFIX):
                    return call.at
        return None

    def result_at(self, chat_id: int, since: float) -> float | None:
        """When the portfolio text and its charts had all arrived."""
        calls = [c for c in self.calls.get(chat_id, []) if c.at >= since and c.status == 200]
        if not any(c.method == "sendMessage" and c.text.startswith(RESULT_PREFIX) for c in calls):
            return None
        photos = 0
        for call in calls:
            photos += 1 if call.method == "sendPhoto" else 0
            if call.method == "sendMediaGroup":
                photos += len(call.json("media", []))
            if photos >= CHARTS_PER_RESULT:
                return call.at
        return None

    def press(self, user_id: int, data: str) -> tuple[str, float]:
        update = self.api.press(user_id, data)
        query_id = update["callback_query"]["id"]
        self.query_user[query_id] = user_id
        return query_id, time.monotonic()

    async def answer_of(self, user_id: int, query_id: str, deadline: float) -> float:
        return await self.until(user_id, lambda: self.answered.get(query_id), deadline)


async def one_user(users: Users, user_id: int, rng: random.Random, timings: Timings,
                   deadline: float) -> None:  # fmt: skip
    api = users.api

    async def think() -> None:
        await asyncio.sleep(rng.uniform(0.5, 1.5))

    def asked(question: str, seconds: float) -> None:
        timings.questions.append(seconds)
        timings.by_question.setdefault(question, []).append(seconds)

    async def tap(data: str, next_needle: str | None, question: str = "") -> float:
        query_id, pressed = users.press(user_id, data)
        answered = await users.answer_of(user_id, query_id, deadline)
        timings.answers.append(answered - pressed)
        if next_needle is not None:
            shown = await users.until(
                user_id, lambda: users.shown_at(user_id, pressed, next_needle), deadline
            )
            asked(question, shown - pressed)
        return pressed

    started = time.monotonic()
    api.send_text(user_id, "/start")
    shown = await users.until(user_id, lambda: users.shown_at(user_id, started, "sector:IT"),
                              deadline)  # fmt: skip
    asked("sectors", shown - started)
    for code in SECTORS[user_id % len(SECTORS)]:
        await think()
        await tap(f"sector:{code}", None)
    await think()
    await tap("sector:done", CAPITAL_QUESTION, "amount")
    await think()
    typed = time.monotonic()
    api.send_text(user_id, f"{10_000 + 100 * (user_id % 50)}")
    shown = await users.until(user_id, lambda: users.shown_at(user_id, typed, "risk:3"), deadline)
    asked("risk", shown - typed)
    await think()
    await tap(f"risk:{2 + user_id % 3}", "strategy:momentum", "strategy")
    await think()
    await tap("strategy:momentum", "confirm:build", "summary")
    to_chat = len(users.calls.get(user_id, []))
    answers = sum(1 for q, u in users.query_user.items() if u == user_id and q in users.answered)
    timings.calls_per_conversation.append(to_chat + answers)
    timings.chat_calls_per_conversation.append(to_chat)
    await think()
    pressed = await tap("confirm:build", None)
    done = await users.until(user_id, lambda: users.result_at(user_id, pressed), deadline)
    if done == float("inf"):
        timings.lost += 1
    else:
        timings.results.append(done - pressed)
        text = users.text_at(user_id, pressed)
        timings.texts.append((done if text is None else text) - pressed)


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of a process with its descendants, and of it alone.

    Read from Linux ``/proc``; reaped children count too (``cutime``), so a replaced
    worker's time is not lost. Other work on the machine changes wall-clock times much more
    than these figures.
    """
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(v) for v in fields[11:15]) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    with open(f"/proc/{pid}/stat") as stat:
        own = sum(int(v) for v in stat.read().rsplit(")", 1)[1].split()[11:13]) / tick
    return sum(times.get(p, 0.0) for p in tree), own


async def run(n_users: int, *, workers: int, pool: str, timeout: float, seed: int) -> Timings:
    """One bench run: a fresh database, a fresh bot process and n users."""
    timings = Timings()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegramServer(TOKEN) as server:
            users = Users(server.api)
            env = {
                **os.environ, "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": server.base_url,
                "SMALLQ_DB_PATH": str(Path(tmp) / "bot.db"), "SMALLQ_SOURCE": "sample",
                "SMALLQ_WORKERS": str(workers), "SMALLQ_ENGINE_POOL": pool,
                "SMALLQ_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
            }  # fmt: skip
            bot = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp, env=env)
            try:
                await asyncio.wait_for(users.polling.wait(), 120)
                cpu_at_start = tree_cpu_seconds(bot.pid)
                rng = random.Random(seed)
                deadline = time.monotonic() + timeout
                await asyncio.gather(
                    *(one_user(users, 100_000 + i, random.Random(rng.random()), timings, deadline)
                      for i in range(n_users))
                )  # fmt: skip
                await asyncio.sleep(1.0)  # anything duplicated arrives now
                cpu_at_end = tree_cpu_seconds(bot.pid)
                timings.cpu_seconds = cpu_at_end[0] - cpu_at_start[0]
                timings.bot_cpu_seconds = cpu_at_end[1] - cpu_at_start[1]
                for i in range(n_users):
                    results = [
                        c for c in users.calls.get(100_000 + i, [])
                        if c.method == "sendMessage" and c.text.startswith(RESULT_PREFIX)
                    ]  # fmt: skip
                    timings.duplicated += max(0, len(results) - 1)
            finally:
                bot.send_signal(signal.SIGINT)
                try:  # waited off the loop: the fake server answers the bot's last getUpdates
                    await asyncio.to_thread(bot.wait, 60)
                except subprocess.TimeoutExpired:
                    bot.kill()
    return timings


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (inclusive method); nan for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summary(n_users: int, timings: Timings) -> dict[str, Any]:
    """The printed figures of one run."""
    return {
        "users": n_users,
        "answer_p50": quantile(timings.answers, 0.50),
        "answer_p95": quantile(timings.answers, 0.95),
        "question_p50": quantile(timings.questions, 0.50),
        "question_p95": quantile(timings.questions, 0.95),
        "numbers_p50": quantile(timings.texts, 0.50),
        "numbers_p95": quantile(timings.texts, 0.95),
        "result_p50": quantile(timings.results, 0.50),
        "result_p95": quantile(timings.results, 0.95),
        "lost": timings.lost,
        "duplicated": timings.duplicated,
        "calls_before_build": statistics.median(timings.calls_per_conversation or [0]),
        "chat_calls_before_build": statistics.mean(timings.chat_calls_per_conversation or [0]),
        "cpu_s_per_user": timings.cpu_seconds / n_users,
        "bot_process_cpu_s_per_user": timings.bot_cpu_seconds / n_users,
        "question_p95_by_step": {
            step: quantile(values, 0.95) for step, values in timings.by_question.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[20, 50, 200])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pool", choices=("process", "thread"), default="process")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    for n_users in args.users:
        timings = asyncio.run(
            run(n_users, workers=args.workers, pool=args.pool, timeout=args.timeout,
                seed=args.seed)
        )  # fmt: skip
        rows.append(summary(n_users, timings))
    if args.json:
        print(json.dumps({"load": load, "pool": args.pool, "workers": args.workers, "runs": rows}))
        return 0
    print(f"engine pool: {args.pool}, {args.workers} workers, {os.cpu_count()} CPUs; "
          f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")  # fmt: skip
    print("| users | button answer p50 / p95 (s) | question p50 / p95 (s) | "
          "numbers p50 / p95 (s) | result with charts p50 / p95 (s) | lost | duplicated "
          "| calls before Build (to the chat, mean) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['users']} | {row['answer_p50']:.2f} / {row['answer_p95']:.2f} "
            f"| {row['question_p50']:.2f} / {row['question_p95']:.2f} "
            f"| {row['numbers_p50']:.1f} / {row['numbers_p95']:.1f} "
            f"| {row['result_p50']:.1f} / {row['result_p95']:.1f} "
            f"| {row['lost']} | {row['duplicated']} | {row['calls_before_build']:g} "
            f"({row['chat_calls_before_build']:.2f}) |"
        )
    for row in rows:
        steps = ", ".join(f"{k} {v:.2f}" for k, v in row["question_p95_by_step"].items())
        print(f"{row['users']} users, question p95 by the question shown (s): {steps}; "
              f"bot CPU {row['cpu_s_per_user']:.2f} s per user "
              f"({row['bot_process_cpu_s_per_user']:.2f} in its own process)")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
