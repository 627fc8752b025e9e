"""Bot API method handlers and request checks of the fake Telegram server.

Each handler is ``async def handler(api: FakeBotApi, call: Call) -> result`` and raises
:class:`ApiError` for an ``ok: false`` answer; :data:`DEFAULT_HANDLERS` maps method names to
them (``FakeBotApi.handlers`` starts as a copy, so tests can add or replace methods).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.fake_telegram import FakeBotApi

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip


class ApiError(Exception):
    """A Bot API error answer (``ok: false``)."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, str]
    files: dict[str, bytes]
    at: float
    fault: str | None = None
    status: int = 200
    result: Any = None
    #: the photos of a sendMediaGroup, in order
    album: list[bytes] = field(default_factory=list)

    def json(self, name: str, default: Any = None) -> Any:
        """A parameter decoded from JSON (strings that are not JSON come back as they are)."""
        if name not in self.params:
            return default
        try:
            return json.loads(self.params[name])
        except ValueError:
            return self.params[name]

    @property
    def chat_id(self) -> int | str | None:
        """The ``chat_id`` parameter."""
        return self.json("chat_id")

    @property
    def text(self) -> str:
        """The ``text`` (or ``caption``) parameter, raw."""
        return self.params.get("text", self.params.get("caption", ""))


Handler = Callable[["FakeBotApi", Call], Awaitable[Any]]


class _HtmlChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Can\'t find end tag corresponding to start tag "{tag}"'
            return
        self.stack.pop()


def check_html(text: str) -> None:
    """Raise :class:`ApiError` like Telegram for markup it cannot parse."""
    checker = _HtmlChecker()
    checker.feed(text)
    checker.close()
    if checker.error or checker.stack:
        detail = checker.error or f'Unclosed start tag "{checker.stack[-1]}"'
        raise ApiError(400, f"Bad Request: can't parse entities: {detail}")
    if _has_raw_lt(text):
        raise ApiError(400, "Bad Request: can't parse entities: unexpected '<'")


def _has_raw_lt(text: str) -> bool:
    for index, char in enumerate(text):
        if char == "<":
            rest = text[index + 1 : index + 2]
            if not (rest.isalpha() or rest == "/"):
                return True
    return False


def chat_json(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}


def user_json(user_id: int, first_name: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "username": f"user{user_id}",
        "language_code": "en",
    }


def button_data(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def _int(call: Call, name: str) -> int:
    value = call.json(name)
    if value is None:
        raise ApiError(400, f"Bad Request: {name} is required")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"Bad Request: invalid {name}") from exc


def telegram_length(text: str, parse_mode: str | None) -> int:
    """What Telegram counts: UTF-16 code units of the text after its entities are parsed.

    Written here independently of the bot's helper (``bot.telegram_text``), so tests check
    the bot against Telegram's rule rather than against itself.
    """
    if (parse_mode or "").upper() == "HTML":
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return len(text.encode("utf-16-le")) // 2


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _check_text(
    call: Call, name: str, limit: int, params: dict[str, Any] | None = None
) -> str | None:
    source = call.params if params is None else params
    text = source.get(name)
    if text is None:
        return None
    parse_mode = source.get("parse_mode")
    if (parse_mode or "").upper() == "HTML":
        check_html(text)
    if telegram_length(text, parse_mode) > limit:
        raise ApiError(
            400,
            "Bad Request: message is too long"
            if name == "text"
            else "Bad Request: message caption is too long",
        )
    if name == "text" and not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    return text


def _markup(call: Call) -> dict[str, Any] | None:
    markup = call.json("reply_markup")
    if markup is not None and not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for data in button_data({"reply_markup": markup}):
        if len(data.encode()) > 64:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


# ---------------------------------------------------------------------- method handlers
async def _true(api: FakeBotApi, call: Call) -> bool:
    return True


async def _get_me(api: FakeBotApi, call: Call) -> dict[str, Any]:
    return api.bot_user


async def _get_updates(api: FakeBotApi, call: Call) -> list[dict[str, Any]]:
    offset = int(call.json("offset", 0) or 0)
    limit = int(call.json("limit", 100) or 100)
    timeout = float(call.json("timeout", 0) or 0)
    if offset:
        api._updates = [u for u in api._updates if u["update_id"] >= offset]
    if not api._updates and timeout > 0:
        arrived = api._event("_arrived")
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), timeout)
        except TimeoutError:
            pass
    batch = api._updates[:limit]
    if batch:
        api._handed_out = max(api._handed_out, batch[-1]["update_id"])
    return batch


async def _send_message(api: FakeBotApi, call: Call) -> dict[str, Any]:
    chat_id = _int(call, "chat_id")
    text = _check_text(call, "text", 4096)
    return api.store_bot_message(chat_id, text=text, reply_markup=_markup(call))


async def _send_photo(api: FakeBotApi, call: Call) -> dict[str, Any]:
    chat_id = _int(call, "chat_id")
    caption = _check_text(call, "caption", 1024)
    photo = call.params.get("photo", "")
    data = (
        call.files.get(photo.removeprefix("attach://"))
        if photo.startswith("attach://")
        else call.files.get("photo")
    )
    if data is None:
        raise ApiError(400, "Bad Request: there is no photo in the request")
    if not (data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE)):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    call.files["photo"] = data
    sizes = [
        {
            "file_id": f"photo{len(api.calls)}",
            "file_unique_id": f"u{len(api.calls)}",
            "width": 1000,
            "height": 700,
            "file_size": len(data),
        }
    ]
    return api.store_bot_message(chat_id, photo=sizes, caption=caption, reply_markup=_markup(call))


def _photo_sizes(api: FakeBotApi, data: bytes) -> list[dict[str, Any]]:
    if not (data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE)):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    return [
        {
            "file_id": f"photo{len(api.calls)}-{len(data)}",
            "file_unique_id": f"u{len(api.calls)}-{len(data)}",
            "width": 1000,
            "height": 700,
            "file_size": len(data),
        }
    ]


async def _send_media_group(api: FakeBotApi, call: Call) -> list[dict[str, Any]]:
    """An album: 2-10 photos, each with its own caption; one message per photo."""
    chat_id = _int(call, "chat_id")
    media = call.json("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise ApiError(400, "Bad Request: wrong number of media in the album")
    photos: list[bytes] = []
    for item in media:
        if not isinstance(item, dict) or item.get("type") != "photo":
            raise ApiError(400, "Bad Request: only photos are supported here")
        _check_text(call, "caption", 1024, item)
        ref = str(item.get("media", ""))
        data = call.files.get(ref.removeprefix("attach://"))
        if data is None:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        photos.append(data)
    call.files["album"] = b"".join(photos)
    call.album = photos
    group = f"album{len(api.calls)}"
    return [
        api.store_bot_message(
            chat_id, photo=_photo_sizes(api, data), caption=item.get("caption"),
            media_group_id=group,
        )
        for item, data in zip(media, photos, strict=True)
    ]  # fmt: skip


def _edited(api: FakeBotApi, call: Call) -> tuple[tuple[int, int], dict[str, Any]]:
    key = (_int(call, "chat_id"), _int(call, "message_id"))
    if key not in api.messages:
        raise ApiError(400, "Bad Request: message to edit not found")
    return key, api.messages[key]


async def _edit_message_text(api: FakeBotApi, call: Call) -> dict[str, Any]:
    key, message = _edited(api, call)
    text, markup = _check_text(call, "text", 4096), _markup(call)
    if text == message.get("text") and markup == message.get("reply_markup"):
        raise ApiError(400, "Bad Request: message is not modified")
    updated = {k: v for k, v in message.items() if k != "reply_markup"}
    updated.update({"text": text, "edit_date": int(time.time())})
    if markup is not None:
        updated["reply_markup"] = markup
    api.messages[key] = updated
    return updated


async def _edit_message_reply_markup(api: FakeBotApi, call: Call) -> dict[str, Any]:
    key, message = _edited(api, call)
    markup = _markup(call)
    if markup == message.get("reply_markup") or (markup is None and "reply_markup" not in message):
        raise ApiError(400, "Bad Request: message is not modified")
    updated = {k: v for k, v in message.items() if k != "reply_markup"}
    if markup is not None:
        updated["reply_markup"] = markup
    api.messages[key] = updated
    return updated


async def _answer_callback_query(api: FakeBotApi, call: Call) -> bool:
    query_id = call.params.get("callback_query_id", "")
    if len(call.params.get("text", "")) > 200:
        raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    if query_id not in api._pending_callbacks:
        raise ApiError(
            400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )
    api._pending_callbacks.discard(query_id)
    api.answered[query_id] = dict(call.params)
    return True


async def _set_my_commands(api: FakeBotApi, call: Call) -> bool:
    api.commands = list(call.json("commands", []))
    return True


async def _get_my_commands(api: FakeBotApi, call: Call) -> list[dict[str, Any]]:
    return api.commands


async def _get_chat_member(api: FakeBotApi, call: Call) -> dict[str, Any]:
    chat_id, user_id = _int(call, "chat_id"), _int(call, "user_id")
    default = "administrator" if user_id == api.bot_user["id"] else "member"
    status = api.chat_members.get((chat_id, user_id), default)
    user = api.bot_user if user_id == api.bot_user["id"] else user_json(user_id, "Test")
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "administrator":
        member.update(
            {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "can_post_messages": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        )
    elif status == "creator":
        member["is_anonymous"] = False  # required by the Bot API (ChatMemberOwner)
    return member


async def _delete_message(api: FakeBotApi, call: Call) -> bool:
    key, _ = _edited(api, call)
    del api.messages[key]
    return True


DEFAULT_HANDLERS: dict[str, Handler] = {
    "getMe": _get_me,
    "getUpdates": _get_updates,
    "deleteWebhook": _true,
    "sendMessage": _send_message,
    "sendPhoto": _send_photo,
    "sendMediaGroup": _send_media_group,
    "editMessageText": _edit_message_text,
    "editMessageReplyMarkup": _edit_message_reply_markup,
    "answerCallbackQuery": _answer_callback_query,
    "sendChatAction": _true,
    "setMyCommands": _set_my_commands,
    "getMyCommands": _get_my_commands,
    "deleteMyCommands": _true,
    "getChatMember": _get_chat_member,
    "close": _true,
    "logOut": _true,
    "deleteMessage": _delete_message,
}
