"""Property tests (Hypothesis): random input at every text entry point, button and setting.

For each command (random arguments), each free-text answer of the conversation, each button
handler (random callback data) and each setting (random value), the properties are:

* no unhandled exception: a handler either answers or raises a ``SmallQError`` that the
  one error handler turns into its message;
* every reply is one Telegram accepts: the fake Bot API refuses, as Telegram does, text
  over 4096 UTF-16 units after entity parsing, broken HTML and callback answers over 200
  characters (a refusal surfaces here as a ``BadRequest``);
* every button press is answered;
* nothing stored changes (except where the input is a valid command that stores, which
  the test recognises by the reply).

Handlers are called directly, with a real ``CallbackContext`` of an initialised Application
over the in-process fake Bot API (no HTTP, no update routing), so 2,000 examples of one
entry point take a few seconds. ``EXAMPLES`` is the number of examples of each test.

"Nothing stored changes" compares a digest of the whole database before and after each call,
so it must see only the call's own writes, however slow the machine is:

* the Application is initialised but never started: no persistence flush on a timer and no
  scheduler tick can write in the middle of an example (:func:`sandbox` asserts it; a flush
  would write nothing anyway, since direct calls mark no user for it);
* after each call, work the call left running on the loop (a task that writes later) is
  awaited before the digest is taken (:meth:`Sandbox.settle`), so a late write is counted in
  the example that caused it and never lands in the next one;
* the digest is read in one read transaction, so it is one state of the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.config import BotConfig, load_config
from bot.context import BotContext
from bot.handlers import buttons, channels, commands, conversation, trading
from bot.handlers.errors import error_handler
from bot.ptb.ratelimit import PriorityRateLimiter
from bot.services.portfolio import BacktestFigures, BacktestOutcome
from bot.views.draft import Draft
from smallq.errors import InputError, SmallQError
from smallq.profile import make_profile
from storage.users import UserRepository
from tests.bot.fakes import USER, Harness, make_config, make_deps, tiny_png
from tests.e2e.fake_methods import Call, check_html, telegram_length

NOT_MODIFIED = "Bad Request: message is not modified"

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

#: at least 2,000 in ``make test``; lower it only for a quick local run
EXAMPLES = int(os.environ.get("SMALLQ_PROPERTY_EXAMPLES", "2000"))
GROUP = -100555
GROUP_ADMIN = 5005
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs on every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# text that has broken handlers before: look-alike digits and minus signs, markup, emoji,
# zone directories, control characters
SPECIAL = st.sampled_from(
    ["²", "②", "①", "١٢", "𝟙", "٣", "-", "−", "–", "－", "+", ".", ",", "%", "x", ":", "@",
     "<", ">", "&", "&amp;", "<b>", "😀", "🇩🇪", "\u200b", "\x00", "\n", "Europe", "America",
     "../", "/", "Europe/Berlin", "09:00", "²:00", "mon", "weekly", "monthly", "set", "reset",
     "drift", "var", "0", "1", "31", "99999999999999999999", "-100", "-1001234567890", "0.5"]
)  # fmt: skip
WORD = st.one_of(
    SPECIAL,
    st.text(min_size=1, max_size=12),
    st.text(alphabet="0123456789-:.%²②", min_size=1, max_size=22),
    st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(100, 4000)),
)
ARGS = st.lists(WORD.filter(lambda w: w.split() == [w]), max_size=6)
FREE_TEXT = st.one_of(
    st.text(min_size=1, max_size=80),
    st.builds(" ".join, st.lists(WORD, min_size=1, max_size=5)),
    st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(100, 4096)),
)
PREFIXES = ["sector", "risk", "strategy", "confirm", "profile", "set", "delete", "accept",
            "rebal", "sub", "unknown", ""]  # fmt: skip
CALLBACK_DATA = st.builds(
    lambda prefix, rest: (f"{prefix}:{rest}" if prefix else rest)[:64],
    st.sampled_from(PREFIXES),
    st.one_of(st.builds(":".join, st.lists(WORD, max_size=4)), st.text(max_size=64)),
).filter(lambda data: 0 < len(data.encode()) <= 64)


def fake_backtest(profile: object, source: object, **window: Any) -> BacktestOutcome:
    """``run_backtest`` stand-in: a summary, its figures and one chart."""
    figures = BacktestFigures(0.071, 0.09, 0.302, 10_000.0, 14_000.0)
    return BacktestOutcome("CAGR 7.1%", window["start"], window["end"],
                           {"equity": tiny_png(), "drawdown": tiny_png()}, figures)  # fmt: skip


class Sandbox:
    """An initialised Application on the fake API, a loop, and direct handler calls."""

    def __init__(self, tmp_path: Path) -> None:
        config = make_config(tmp_path)
        self.harness = Harness(config, make_deps(config, run_backtest=fake_backtest))
        self.api = self.harness.api
        self.app = self.harness.app
        self.loop = asyncio.new_event_loop()
        self._ids = itertools.count(1)
        self.api.chat_members[(GROUP, GROUP_ADMIN)] = "administrator"
        self.observer = sqlite3.connect(str(config.db_path))
        self._version: tuple[int, int] | None = None
        self._digest = ""

    def run(self, coroutine: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def fingerprint(self) -> str:
        """A digest of everything stored.

        The dump is taken again only when SQLite says some connection committed since the
        last one (``data_version``, or this thread's ``total_changes``): cheap per example.
        """
        version = (
            self.observer.execute("PRAGMA data_version").fetchone()[0],
            self.harness.deps.db().conn.total_changes,
        )
        if version != self._version:
            self.observer.execute("BEGIN")  # one snapshot: a commit cannot land mid-dump
            try:
                version = (self.observer.execute("PRAGMA data_version").fetchone()[0],
                           version[1])  # fmt: skip
                dump = "\n".join(self.observer.iterdump())
            finally:
                self.observer.execute("COMMIT")
            self._version, self._digest = version, hashlib.sha1(dump.encode()).hexdigest()
        return self._digest

    def settle(self) -> None:
        """Await what earlier calls left running on the loop (tasks that may still write)."""

        async def drain() -> None:
            here = asyncio.current_task()
            while pending := [t for t in asyncio.all_tasks() if t is not here and not t.done()]:
                await asyncio.wait(pending)

        self.run(drain())

    def _update(self, payload: dict[str, Any]) -> Update:
        return Update.de_json({"update_id": next(self._ids), **payload}, self.app.bot)

    def message(self, text: str, *, user: int = USER, chat: int | None = None) -> Update:
        chat_id = user if chat is None else chat
        kind = {"type": "private"} if chat_id > 0 else {"type": "supergroup", "title": "G"}
        body: dict[str, Any] = {
            "message_id": next(self._ids), "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, **kind},
            "from": {"id": user, "is_bot": False, "first_name": "F"},
        }  # fmt: skip
        if text.startswith("/"):
            body["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        self.api.messages[(chat_id, body["message_id"])] = body
        return self._update({"message": body})

    def press(self, data: str, *, user: int = USER, message_id: int = 1) -> Update:
        query_id = str(next(self._ids))
        self.api._pending_callbacks.add(query_id)
        message = {
            "message_id": message_id, "date": int(time.time()),
            "chat": {"id": user, "type": "private"}, "text": "question",
            "from": self.api.bot_user,
        }  # fmt: skip
        self.api.messages.setdefault((user, message_id), message)
        return self._update({"callback_query": {
            "id": query_id, "from": {"id": user, "is_bot": False, "first_name": "F"},
            "chat_instance": "ci", "data": data, "message": message,
        }})  # fmt: skip

    async def call(
        self, handler: Callable[[Update, BotContext], Awaitable[Any]], update: Update
    ) -> None:
        """Run a handler as the Application would; a SmallQError goes to the error handler."""
        context = BotContext.from_update(update, self.app)
        text = update.message.text if update.message and update.message.text else ""
        context.args = text.split()[1:] if text.startswith("/") else None
        try:
            await handler(update, context)
        except SmallQError as exc:
            assert isinstance(exc, InputError), exc  # only bad input may reach the user so
            context.error = exc
            await error_handler(update, context)

    def check(
        self,
        handler: Callable[[Update, BotContext], Awaitable[Any]],
        update: Update,
        *,
        may_store: Callable[[list[str]], bool] = lambda replies: False,
    ) -> list[str]:
        """Call the handler and check the properties; return the texts it sent."""
        self.settle()
        before_calls, before = len(self.api.calls), self.fingerprint()
        self.run(self.call(handler, update))
        self.settle()  # a write the call started lands now, in this example
        calls = self.api.calls[before_calls:]
        failed = [
            c
            for c in calls
            if c.status != 200 and c.method != "getChatMember" and not _already_shown(c)
        ]
        assert not failed, [(c.method, c.status, c.text[:80]) for c in failed]
        replies = [c.text for c in calls if c.method in ("sendMessage", "editMessageText")]
        for reply in replies:  # the fake API checks these too; say which reply broke
            assert telegram_length(reply, "HTML") <= 4096
            check_html(reply)
        assert not [r for r in replies if "Sorry, something went wrong" in r]
        if update.callback_query is not None:
            assert update.callback_query.id not in self.api._pending_callbacks, "not answered"
        if not may_store(replies):
            assert self.fingerprint() == before, "stored data changed"
        return replies

    def reset_user(self, user: int = USER) -> None:
        self.app.user_data[user].clear()


@contextmanager
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    box.run(box.harness.__aenter__())
    assert not box.app.running  # no timed persistence flush or scheduler tick mid-example
    # the rate limiter paces sends at 30/s: right for Telegram, thousands of times too slow
    # for a property test against the in-process fake; an unlimited one still takes the
    # handlers' priorities (rate_limit_args)
    box.app.bot._rate_limiter = PriorityRateLimiter(overall_max_rate=0, group_max_rate=0)
    # the user has a profile (no build): /backtest, /settings, /profile and /alerts go deep
    users = UserRepository(box.harness.deps.db())
    users.touch(USER)
    users.save_profile(USER, make_profile(sectors=["Information Technology"], capital=10_000.0,
                                          risk_level="moderate"))  # fmt: skip
    try:
        yield box
    finally:
        box.run(box.harness.__aexit__(None, None, None))
        box.loop.close()
        box.observer.close()


def test_a_late_write_counts_in_the_example_that_started_it(tmp_path: Path) -> None:
    """The sandbox's own check: a write a handler leaves running is not blamed on the next
    example (before: it landed there, "stored data changed" on an innocent press)."""
    started: list[asyncio.Task[None]] = []

    async def starts_a_late_write(update: Update, context: BotContext) -> None:
        async def later() -> None:
            for _ in range(3):  # a few loop turns after the handler returned
                await asyncio.sleep(0)
            await context.deps.run_storage(lambda db: UserRepository(db).touch(4242))

        started.append(asyncio.get_running_loop().create_task(later()))
        assert update.callback_query is not None
        await update.callback_query.answer()

    with sandbox(tmp_path) as box:
        with pytest.raises(AssertionError, match="stored data changed"):
            box.check(starts_a_late_write, box.press("late:write"))
        box.check(buttons.on_unknown_button, box.press("unknown:x"))  # the next one is clean
        assert started and started[0].done()


# ------------------------------------------------------------------------------- commands
COMMANDS: dict[str, Callable[[Update, BotContext], Awaitable[Any]]] = {
    "help": commands.help_command, "start": conversation.start_command,
    "portfolio": commands.portfolio_command, "risk": commands.risk_command,
    "stress": commands.stress_command, "profile": commands.profile_command,
    "settings": commands.settings_command, "delete": commands.delete_command,
    "cancel": conversation.cancel_command, "backtest": commands.backtest_command,
    "performance": commands.performance_command, "rebalance": trading.rebalance_command,
    "holdings": trading.holdings_command, "trades": trading.trades_command,
    "subscribe": channels.subscribe_command, "unsubscribe": channels.unsubscribe_command,
    "alerts": channels.alerts_command, "link": channels.link_command,
    "unlink": channels.unlink_command, "broadcast": channels.broadcast_command,
}  # fmt: skip
STORES = {  # a valid command of these stores, and says so
    "subscribe": lambda replies: any(r.startswith("Subscribed") for r in replies),
    "alerts": lambda replies: any("Alert limits" in r or "<b>" in r for r in replies),
    "link": lambda replies: any(r.startswith("Linked") for r in replies),
    "unlink": lambda replies: any(r.startswith("Unlinked") for r in replies),
}


def test_every_command_with_random_arguments(tmp_path: Path) -> None:
    """Each example runs every command with the same random arguments."""
    with sandbox(tmp_path) as box:

        @PROPERTY
        @given(args=ARGS)
        def check(args: list[str]) -> None:
            for name, handler in COMMANDS.items():
                if name == "alerts" and args and args[0] in ("set", "reset"):
                    continue  # valid ones store: see the structured test below
                box.reset_user()
                text = " ".join([f"/{name}", *args])
                user, chat = (GROUP_ADMIN, GROUP) if name in ("link", "unlink") else (USER, None)
                box.check(handler, box.message(text, user=user, chat=chat),
                          may_store=STORES.get(name, lambda replies: False))  # fmt: skip

        check()


def either(*choices: str) -> st.SearchStrategy[str]:
    """One of the given words half of the time, else a random word."""
    return st.one_of(st.sampled_from(choices), WORD)


STRUCTURED = {  # arguments close to valid ones, so the deeper checks are reached
    "subscribe": st.tuples(
        st.sampled_from(["weekly", "monthly"]), either("mon", "sunday", "1", "31", "32"),
        either("09:00", "9:05", "24:00"),
        either("Europe", "America", "Europe/Berlin", "UTC", "Etc/GMT+5", "", "Z" * 300),
    ),
    "alerts": st.tuples(
        st.just("set"), either("var", "cvar", "drawdown", "vol_spike", "min_holdings",
                               "max_weight", "stale_days", "drift"),
        either("3%", "0", "0.03", "1.8x", "4", "50%", "200", "²", "1e3"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_structured_arguments_store_only_when_valid(tmp_path: Path, name: str) -> None:
    handler = COMMANDS[name]
    with sandbox(tmp_path) as box:

        @PROPERTY
        @given(args=STRUCTURED[name])
        def check(args: tuple[str, ...]) -> None:
            words = [w for w in args if w.split() == [w]]
            box.check(handler, box.message(" ".join([f"/{name}", *words])),
                      may_store=STORES[name])  # fmt: skip

        check()


# ------------------------------------------------------------------------ conversation text
TEXT_STEPS: dict[str, tuple[Callable[[Update, BotContext], Awaitable[Any]], int]] = {
    "capital": (conversation.on_capital_text, 2),
    "confirm": (conversation.on_confirm_text, 5),
    "buttons expected": (conversation.on_buttons_expected, 3),
}


def test_conversation_free_text_answers(tmp_path: Path) -> None:
    """Each example is typed at every step that reads text."""
    with sandbox(tmp_path) as box:

        @PROPERTY
        @given(text=FREE_TEXT)
        def check(text: str) -> None:
            assume(not text.startswith("/"))
            for handler, state in TEXT_STEPS.values():
                data = box.app.user_data[USER]
                Draft(sectors=["IT"], capital=1000.0, risk=3, step=state).save(data)
                box.check(handler, box.message(text))

        check()


# ---------------------------------------------------------------------------------- buttons
BUTTONS: dict[str, Callable[[Update, BotContext], Awaitable[Any]]] = {
    "sector": conversation.on_sector_button, "risk": conversation.on_risk_button,
    "strategy": conversation.on_strategy_button, "confirm": conversation.on_confirm_button,
    "conversation stale": conversation.on_stale_button,
    "profile": conversation.on_profile_edit_button, "set": commands.on_setting_button,
    "delete": commands.on_delete_button, "accept": trading.on_accept_button,
    "rebal": trading.on_rebalance_button, "sub": channels.on_subscribe_button,
    "catch-all": buttons.on_unknown_button,
}  # fmt: skip


def test_every_button_with_random_callback_data(tmp_path: Path) -> None:
    """Each example is pressed on every button handler (on the live message or an old one)."""
    with sandbox(tmp_path) as box:

        @PROPERTY
        @given(data=CALLBACK_DATA, on_live=st.booleans())
        def check(data: str, on_live: bool) -> None:
            rest = data.partition(":")[2] or data
            for name, handler in BUTTONS.items():
                pressed = f"{name}:{rest}"[:64] if name in PREFIXES else data
                Draft(sectors=["IT"], capital=1000.0, message_id=1, step=1).save(
                    box.app.user_data[USER]
                )
                box.check(
                    handler, box.press(pressed, message_id=1 if on_live else 2),
                    may_store=lambda replies: any(r.startswith("Subscribed") for r in replies),
                )  # fmt: skip

        check()


# --------------------------------------------------------------------------------- settings
SETTING_VALUES = st.one_of(WORD, st.text(max_size=40), st.from_regex(r"[0-9.:\-]{1,8}"))


def test_every_setting_with_random_values() -> None:
    """Each example is given to every setting."""
    variables = [f.metadata["env"] for f in fields(BotConfig)]

    @PROPERTY
    @given(value=SETTING_VALUES)
    def check(value: str) -> None:
        for env in variables:
            try:
                config = load_config({env: value}, dotenv_path=None)
            except InputError as exc:  # the entry point prints it as one line and exits 2
                message = exc.user_message()
                assert env in message and "\n" not in message and len(message) < 200
                continue
            config.tzinfo  # noqa: B018  (a zone that loads)
            assert config.digest_time.count(":") == 1

    check()


def _already_shown(call: Call) -> bool:
    """An edit refused because the live message already shows it (the update was stale)."""
    return call.method.startswith("editMessage") and call.error == NOT_MODIFIED
