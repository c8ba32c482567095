"""Generated export files of any size, in the shapes of tests/data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def write_chatgpt_web_export(path: Path, target_bytes: int) -> tuple[int, int]:
    """A chatgpt-web export (the shape of tests/data/chatgpt-web-export.json) of about
    `target_bytes`: (conversations, messages)."""
    text = "这是一段测试文本, with English words, `code` and **bold** text. " * 8
    history: list[dict[str, Any]] = []
    chat: list[dict[str, Any]] = []
    size = messages = 0
    while size < target_bytes:
        uuid = 1_700_000_000_000 + len(history)
        items = [
            {
                "dateTime": f"2023/11/15 10:{n // 60:02d}:{n % 60:02d}",
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
