"""Render a real bot conversation as a picture for the README (docs/images/bot_chat.png).

The real application talks to the fake Bot API of the end-to-end tests, with the real
pipeline on the sample data; the final state of the chat (messages after their edits, inline
keyboards, photos) is written as a Telegram-like HTML page, and headless Chromium takes a
screenshot of it. Nothing here is used by the product or the tests.

Run: ``PYTHONPATH=. .venv/bin/python docs/render_chat.py`` (needs Debian's ``chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import html
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.e2e.fake_telegram import FakeTelegramServer
from tests.e2e.harness import TOKEN, Chatter, e2e_config, running_bot, settle

OUT = Path(__file__).resolve().parent / "images" / "bot_chat.png"
USER = 7001
STYLE = """
body { margin: 0; background: #dfe7ee; font: 15px/1.35 "Noto Sans", "DejaVu Sans", sans-serif; }
.chat { width: 560px; margin: 0 auto; padding: 14px 10px; }
.msg { width: fit-content; max-width: 86%; margin: 6px 0; padding: 8px 11px; border-radius: 14px;
       box-shadow: 0 1px 1px rgba(0,0,0,.12); white-space: pre-wrap; word-wrap: break-word; }
.bot { background: #fff; border-bottom-left-radius: 4px; }
.photo { width: 86%; }
.user { background: #e1fec6; margin-left: auto; border-bottom-right-radius: 4px; }
.kb { display: grid; gap: 4px; margin: 2px 0 8px; max-width: 86%; }
.kb div { display: flex; gap: 4px; }
.kb span { flex: 1; text-align: center; background: rgba(90,120,150,.45); color: #fff;
           border-radius: 8px; padding: 7px 4px; font-size: 14px; }
pre { margin: 4px 0; font: 12.5px/1.3 "DejaVu Sans Mono", monospace; white-space: pre; }
img { width: 100%; border-radius: 10px; display: block; }
.photo { padding: 3px; }
.cap { font-size: 13px; color: #555; padding: 4px 6px 2px; }
"""


async def converse() -> dict[tuple[int, int], dict[str, Any]]:
    """Run one whole conversation; return the chat's messages after every edit."""
    server = FakeTelegramServer(TOKEN)
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = e2e_config(Path(tmp), server)
            async with running_bot(config):
                api, user = server.api, Chatter(server.api, USER, timeout=60)
                user.say("/start")
                for code in ("IT", "HC", "done"):
                    await user.tap(f"sector:{code}")
                # type the amount only once the question is on screen, as a person would
                await api.wait_for(lambda: any("How much" in t for t in api.shown_to(USER)), 60)
                user.say("10,000")
                await user.tap("risk:3")
                await user.tap("strategy:momentum")
                await user.tap("confirm:build", wait_answer=False)
                await user.wait_result()
                await settle(0.5)
        messages = {k: dict(v) for k, v in server.api.messages.items() if k[0] == USER}
        photos = iter(server.api.photos_to(USER))
        for key in sorted(messages):  # photo messages hold sizes; attach the PNG bytes sent
            if "photo" in messages[key]:
                messages[key]["photo"] = next(photos)
        return messages
    finally:
        await server.stop()


def message_html(message: dict[str, Any]) -> str:
    """One message as a bubble (Telegram's HTML subset renders as it is), plus its keyboard."""
    from_bot = message.get("from", {}).get("is_bot", False)
    if "photo" in message and isinstance(message["photo"], (bytes, bytearray)):
        data = base64.b64encode(message["photo"]).decode()
        caption = html.escape(message.get("caption", ""))
        body = f'<img src="data:image/png;base64,{data}"><div class="cap">{caption}</div>'
        return f'<div class="msg bot photo">{body}</div>'
    text = message.get("text", "")
    body = text if from_bot else html.escape(text)
    bubble = f'<div class="msg {"bot" if from_bot else "user"}">{body}</div>'
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    if rows:
        cells = "".join(
            "<div>" + "".join(f"<span>{html.escape(b['text'])}</span>" for b in row) + "</div>"
            for row in rows
        )
        bubble += f'<div class="kb">{cells}</div>'
    return bubble


def render(messages: dict[tuple[int, int], dict[str, Any]], out: Path) -> None:
    """Write the page and screenshot it with headless Chromium."""
    bubbles = "\n".join(message_html(m) for _, m in sorted(messages.items()))
    page = f"<html><head><style>{STYLE}</style></head><body><div class='chat'>{bubbles}</div>"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.html"
        path.write_text(page + "</body></html>")
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={tmp}/profile", "--window-size=580,4200",
             f"--screenshot={out}", path.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    crop_background(out)


def crop_background(path: Path, margin: int = 14) -> None:
    """Cut the empty page below the last bubble."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    background = image.getpixel((2, image.height - 2))
    width, height = image.size
    pixels = image.load()
    bottom = height - 1
    while bottom > 0 and all(pixels[x, bottom] == background for x in range(0, width, 4)):
        bottom -= 1
    image.crop((0, 0, width, min(height, bottom + margin))).save(path, optimize=True)


def main() -> None:
    messages = asyncio.run(converse())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    render(messages, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
