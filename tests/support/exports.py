"""Generated export files of any size, in the shapes of tests/data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

NEWEST = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
BROWSER = timezone(timedelta(hours=8))


def _local(when: datetime) -> str:
    """`new Date().toLocaleString()` in a Chinese browser: "2024/1/15 20:00:01"."""
    local = when.astimezone(BROWSER)
    return f"{local.year}/{local.month}/{local.day} {local:%H:%M:%S}"


def write_chatgpt_web_export(path: Path, target_bytes: int) -> tuple[int, int]:
    """A chatgpt-web export (the shape of tests/data/chatgpt-web-export.json) of about
    `target_bytes`: (conversations, messages)."""
    text = "这是一段测试文本, with English words, `code` and **bold** text. " * 8
    history: list[dict[str, Any]] = []
    chat: list[dict[str, Any]] = []
    size = messages = 0
    while size < target_bytes:
        # As chatgpt-web writes them: the newest chat first, its uuid the time it was made
        # (a minute apart here), its messages' local times (a browser in UTC+8) seconds later.
        created = NEWEST - timedelta(minutes=len(history))
        uuid = int(created.timestamp() * 1000)
        items = [
            {
                "dateTime": _local(created + timedelta(seconds=1 + n)),
                "text": f"{len(history)}.{n} {text}",
                "inversion": n % 2 == 0,
                "error": False,
                "loading": False,
                "conversationOptions": None,
                "requestOptions": {"prompt": "p", "options": None},
            }
            for n in range(40)
        ]
        history.append({"uuid": uuid, "title": f"Chat {len(history)}", "isEdit": False})
        chat.append({"uuid": uuid, "data": items})
        size += len(orjson.dumps(items)) + 80
        messages += len(items)
    body = orjson.dumps({"active": history[0]["uuid"], "history": history, "chat": chat})
    path.write_bytes(body)
    return len(history), messages
