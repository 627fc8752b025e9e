"""A fake Telegram Bot API for tests: in-process core, HTTP server, and PTB request adapter.

* :class:`FakeBotApi` holds the state (messages the bot sent, pending updates, answered
  callback queries, registered commands), answers Bot API methods through the extensible
  :attr:`FakeBotApi.handlers` dict (method name -> async function), records every call in
  :attr:`FakeBotApi.calls`, and injects faults (429 with ``retry_after``, 403, delays that
  outlast the client's timeout, 5xx) for chosen methods and calls.
* :class:`FakeTelegramServer` serves it over HTTP on 127.0.0.1 (random port) with aiohttp:
  ``POST /bot<token>/<method>``, form-encoded or multipart, like api.telegram.org.
  ``getUpdates`` is real long polling over the update queue the test pushes to.
* :class:`InProcessRequest` plugs the same core into python-telegram-bot without HTTP, for
  fast handler tests.

User-side helpers (:meth:`FakeBotApi.send_text`, :meth:`~FakeBotApi.press`, …) build
realistic update JSON and queue it. Checks done like Telegram does them: text ≤ 4096 and
caption ≤ 1024 characters, well-formed HTML with Telegram's tags, photos that are PNG or
JPEG, "message is not modified" on an identical edit, a callback query answered once.

Add a method: ``api.handlers["sendDice"] = my_handler`` where ``my_handler(api, call)``
returns the ``result`` value (or raises :class:`ApiError`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.e2e.fake_methods import (
    DEFAULT_HANDLERS,
    ApiError,
    Call,
    Handler,
    button_data,
    chat_json,
    check_html,
    user_json,
)


@dataclass
class Fault:
    """An injected failure for ``times`` matching calls of ``method``."""

    method: str
    kind: str  # "429", "403", "400", "timeout", "500"
    times: int = 1
    retry_after: int = 1
    delay: float = 0.0
    when: Callable[[Call], bool] | None = None


class FakeBotApi:
    """State and method handlers of a fake Bot API (see the module docstring)."""

    def __init__(self, token: str, *, bot_id: int = 4242, username: str = "smallq_test_bot"):
        self.token = token
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "smallQ",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.chat_members: dict[tuple[int, int], str] = {}
        self.answered: dict[str, dict[str, str]] = {}
        self.handlers: dict[str, Handler] = dict(DEFAULT_HANDLERS)
        self._updates: list[dict[str, Any]] = []
        self._handed_out = 0
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._pending_callbacks: set[str] = set()
        self._arrived: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None

    # ------------------------------------------------------------------ faults
    def inject(
        self,
        method: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        when: Callable[[Call], bool] | None = None,
    ) -> Fault:
        """Fail the next ``times`` matching calls of ``method`` (``kind``: 429/403/timeout/500)."""
        fault = Fault(method, kind, times, retry_after, delay, when)
        self.faults.append(fault)
        return fault

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self.faults:
            if (
                fault.method == call.method
                and fault.times > 0
                and (fault.when is None or fault.when(call))
            ):
                fault.times -= 1
                return fault
        return None

    # ------------------------------------------------------------------ dispatch
    async def handle(
        self, method: str, params: dict[str, str], files: dict[str, bytes]
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(http status, JSON body)``."""
        call = Call(method, params, files, time.monotonic())
        self.calls.append(call)
        fault = self._take_fault(call)
        if fault is not None:
            call.fault = fault.kind
            if fault.kind == "429":
                error = ApiError(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
                return self._finish(call, error.code, error.body())
            if fault.kind == "403":
                error = ApiError(403, "Forbidden: bot was blocked by the user")
                return self._finish(call, error.code, error.body())
            if fault.kind == "400":
                error = ApiError(400, "Bad Request: can't parse entities: injected")
                return self._finish(call, error.code, error.body())
            if fault.kind == "500":
                return self._finish(call, 500, ApiError(500, "Internal Server Error").body())
            await asyncio.sleep(fault.delay)  # "timeout": answer after the client gave up
        handler = self.handlers.get(method)
        if handler is None:
            return self._finish(call, 404, ApiError(404, "Not Found").body())
        try:
            result = await handler(self, call)
        except ApiError as error:
            return self._finish(call, error.code, error.body())
        call.result = result
        return self._finish(call, 200, {"ok": True, "result": result})

    def _finish(self, call: Call, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        call.status = status
        self._event("_changed").set()
        return status, body

    def _event(self, name: str) -> asyncio.Event:
        event = getattr(self, name)
        if event is None:
            event = asyncio.Event()
            setattr(self, name, event)
        return event

    # ------------------------------------------------------------------ messages
    def next_message_id(self, chat_id: int) -> int:
        """Message ids count per chat, as in Telegram."""
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def store_bot_message(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        """Record a message the bot sent and return its JSON."""
        message = {
            "message_id": self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat_json(chat_id),
            "from": self.bot_user,
        }
        message.update({k: v for k, v in fields.items() if v is not None})
        self.messages[(chat_id, message["message_id"])] = message
        return message

    # ------------------------------------------------------------------ updates
    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (``update_id`` is assigned) for the next getUpdates."""
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._event("_arrived").set()
        return update

    def pop_updates(self) -> list[dict[str, Any]]:
        """Take every queued update (for in-process tests that feed the application directly)."""
        updates, self._updates = self._updates, []
        return updates

    def send_text(
        self, user_id: int, text: str, *, chat_id: int | None = None, first_name: str = "Test"
    ) -> dict[str, Any]:
        """The user sends a text message (commands get a ``bot_command`` entity)."""
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return self._user_message(user_id, chat_id, first_name, extra)

    def send_other(self, user_id: int, kind: str, *, chat_id: int | None = None) -> dict[str, Any]:
        """The user sends a sticker, photo or voice message."""
        bodies = {
            "sticker": {
                "sticker": {
                    "file_id": "stk",
                    "file_unique_id": "stk1",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
            "photo": {
                "photo": [{"file_id": "ph", "file_unique_id": "ph1", "width": 90, "height": 90}]
            },
            "voice": {"voice": {"file_id": "vc", "file_unique_id": "vc1", "duration": 2}},
        }
        return self._user_message(user_id, chat_id, "Test", bodies[kind])

    def _user_message(
        self, user_id: int, chat_id: int | None, first_name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else user_id
        message = {
            "message_id": self.next_message_id(chat),
            "date": int(time.time()),
            "chat": chat_json(chat),
            "from": user_json(user_id, first_name),
            **body,
        }
        self.messages[(chat, message["message_id"])] = message
        return self.push_update({"message": message})

    def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user edits one of their earlier messages."""
        chat = chat_id if chat_id is not None else user_id
        message = dict(self.messages[(chat, message_id)], text=text, edit_date=int(time.time()))
        self.messages[(chat, message_id)] = message
        return self.push_update({"edited_message": message})

    def press(
        self, user_id: int, data: str, *, chat_id: int | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        """The user taps a button: on ``message_id``, else on the newest message showing it."""
        chat = chat_id if chat_id is not None else user_id
        if message_id is None:
            message_id = self.find_button_message(chat, data)
        message = self.messages[(chat, message_id)]
        query_id = str(next(self._callback_ids))
        self._pending_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": user_json(user_id, "Test"),
            "chat_instance": f"ci{chat}",
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

    def find_button_message(self, chat_id: int, data: str) -> int:
        """The newest bot message in the chat with a button carrying ``data``."""
        for (chat, mid), message in sorted(self.messages.items(), reverse=True):
            if chat == chat_id and data in button_data(message):
                return mid
        raise KeyError(f"no message in chat {chat_id} has a button {data!r}")

    # ------------------------------------------------------------------ queries
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Successful and failed calls of one method (optionally to one chat)."""
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    def texts_to(self, chat_id: int) -> list[str]:
        """Texts of messages the bot successfully sent to a chat, in order."""
        return [
            c.params.get("text", "")
            for c in self.calls_of("sendMessage", chat_id)
            if c.status == 200
        ]

    def photos_to(self, chat_id: int) -> list[bytes]:
        """Bytes of photos the bot successfully sent to a chat, alone or in albums, in order."""
        photos: list[bytes] = []
        for call in self.calls:
            if call.status != 200 or call.chat_id != chat_id:
                continue
            if call.method == "sendPhoto":
                photos.append(call.files.get("photo", b""))
            elif call.method == "sendMediaGroup":
                photos.extend(call.album)
        return photos

    def captions_to(self, chat_id: int) -> list[str]:
        """Captions of photos the bot successfully sent to a chat, alone or in albums."""
        captions: list[str] = []
        for call in self.calls_of("sendPhoto", chat_id) + self.calls_of("sendMediaGroup", chat_id):
            if call.status != 200:
                continue
            if call.method == "sendPhoto":
                captions.append(call.params.get("caption", ""))
            else:
                captions.extend(item.get("caption", "") for item in call.json("media"))
        return captions

    def answers(self) -> list[dict[str, str]]:
        """Every answerCallbackQuery call's parameters."""
        return [c.params for c in self.calls_of("answerCallbackQuery")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate()`` holds after some call; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the bot")
            event = self._event("_changed")
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass

    async def wait_updates_consumed(self, timeout: float = 10.0) -> None:
        """Wait until getUpdates has handed out every queued update."""
        await self.wait_for(
            lambda: all(u["update_id"] <= self._handed_out for u in self._updates), timeout
        )


# ---------------------------------------------------------------------- HTTP server
class FakeTelegramServer:
    """:class:`FakeBotApi` over HTTP on 127.0.0.1 and a random port (aiohttp).

    Use as ``async with FakeTelegramServer(token) as server:``; point the bot at
    :attr:`base_url` (``http://127.0.0.1:<port>/bot``, the token is appended by the client).
    """

    def __init__(self, token: str, api: FakeBotApi | None = None) -> None:
        self.api = api or FakeBotApi(token)
        self.token = token
        self._runner: Any = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The ``TELEGRAM_API_BASE_URL`` to configure."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> FakeTelegramServer:
        """Listen on a free port."""
        from aiohttp import web

        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._route)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _route(self, request: Any) -> Any:
        from aiohttp import web

        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        params: dict[str, str] = {}
        files: dict[str, bytes] = {}
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, str):
                    params[name] = value
                else:  # a FileField
                    files[name] = value.file.read()
        params.update({k: v for k, v in request.query.items() if k not in params})
        status, body = await self.api.handle(request.match_info["method"], params, files)
        return web.json_response(body, status=status)


# ---------------------------------------------------------------------- in-process adapter
class InProcessRequest:
    """A python-telegram-bot ``BaseRequest`` that calls :class:`FakeBotApi` directly."""

    def __new__(cls, api: FakeBotApi) -> Any:
        from telegram.request import BaseRequest

        class _Request(BaseRequest):
            async def initialize(self) -> None:
                return None

            async def shutdown(self) -> None:
                return None

            @property
            def read_timeout(self) -> float:
                return 5.0

            async def do_request(
                self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
            ) -> tuple[int, bytes]:
                name = url.rsplit("/", 1)[-1]
                params = dict(request_data.json_parameters) if request_data else {}
                files: dict[str, bytes] = {}
                if request_data is not None:
                    for part, content in request_data.multipart_data.items():
                        raw = content[1] if isinstance(content, tuple) else content
                        files[part] = raw if isinstance(raw, bytes) else raw.read()
                status, body = await api.handle(name, params, files)
                return status, json.dumps(body).encode()

        return _Request()


def chunks_of(texts: list[str]) -> str:
    """All texts joined (for assertions over split messages)."""
    return "\n".join(texts)


__all__ = [
    "ApiError", "Call", "FakeBotApi", "FakeTelegramServer", "Fault", "InProcessRequest",
    "check_html", "chunks_of",
]  # fmt: skip
