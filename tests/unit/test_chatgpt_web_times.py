"""chatgpt-web's times as it really writes them.

A history `uuid` is `Date.now()` when the chat was made; a message's `dateTime` is
`new Date().toLocaleString()`: local time, no zone, in the browser's language (Chanzhaoyu/
chatgpt-web, src/views/chat/index.vue). The strings below are what `toLocaleString(locale)` gives
for 2023-03-09 12:15:32 UTC in Asia/Shanghai (20:15:32 local), from Node's ICU; Chrome writes US
English with a narrow no-break space before "PM".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatgate.services.importers import parse, zone_named

LOCALE_STRINGS = {
    "zh-CN": "2023/3/9 20:15:32",
    "zh-TW": "2023/3/9 下午8:15:32",
    "zh-HK": "9/3/2023 下午8:15:32",
    "ja-JP": "2023/3/9 20:15:32",
    "ko-KR": "2023. 3. 9. PM 8:15:32",
    "ko-KR (Chrome)": "2023. 3. 9. 오후 8:15:32",
    "en-US": "3/9/2023, 8:15:32 PM",
    "en-US (Chrome)": "3/9/2023, 8:15:32\u202fPM",
    "en-GB": "09/03/2023, 20:15:32",
    "en-AU": "09/03/2023, 8:15:32 pm",
    "en-IN": "9/3/2023, 8:15:32 pm",
    "de-DE": "9.3.2023, 20:15:32",
    "ru-RU": "09.03.2023, 20:15:32",
    "fr-FR": "09/03/2023 20:15:32",
    "es-ES": "9/3/2023, 20:15:32",
    "it-IT": "09/03/2023, 20:15:32",
    "pt-BR": "09/03/2023, 20:15:32",
    "vi-VN": "20:15:32 9/3/2023",
    "nl-NL": "9-3-2023, 20:15:32",
    "sv-SE": "2023-03-09 20:15:32",
    "pl-PL": "9.03.2023, 20:15:32",
    "tr-TR": "09.03.2023 20:15:32",
    "ar-EG": "٩\u200f/٣\u200f/٢٠٢٣، ٨:١٥:٣٢ م",
    "th-TH": "9/3/2566 20:15:32",
    "id-ID": "9/3/2023, 20.15.32",
    "he-IL": "9.3.2023, 20:15:32",
}
CREATED = datetime(2023, 3, 9, 12, 15, 20, 123000, tzinfo=UTC)
SENT = datetime(2023, 3, 9, 12, 15, 32, tzinfo=UTC)


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _export(chats: list[tuple[int, list[str]]]) -> bytes:
    """A wrapped chatgpt-web export: (uuid, message times) per chat, newest first."""
    history = [{"uuid": uuid, "title": f"chat {uuid}", "isEdit": False} for uuid, _ in chats]
    chat = [
        {
            "uuid": uuid,
            "data": [
                {"dateTime": when, "text": f"m{n}", "inversion": n % 2 == 0, "error": False}
                for n, when in enumerate(times)
            ],
        }
        for uuid, times in chats
    ]
    return json.dumps({"data": {"history": history, "chat": chat}, "expire": None}).encode()


def _times(raw: bytes, zone: str | None = None) -> list[list[datetime | None]]:
    parsed = parse(raw, zone_named(zone))
    return [[m.created_at for m in c.messages] for c in parsed.conversations]


@pytest.mark.parametrize("locale", list(LOCALE_STRINGS))
def test_every_language_of_the_browser_reads_as_the_same_moment(locale: str) -> None:
    raw = _export([(_millis(CREATED), [LOCALE_STRINGS[locale]])])
    assert _times(raw, "Asia/Shanghai") == [[SENT]]
    (conversation,) = parse(raw).conversations
    assert conversation.created_at == CREATED, "the uuid is the exact creation time"


def test_the_file_tells_its_offset_and_daylight_saving_time_chat_by_chat() -> None:
    # Chats made in New York in winter (UTC-5) and summer (UTC-4), first messages seconds later.
    def chat(created: datetime, offset: int) -> tuple[int, list[str]]:
        local = (created + timedelta(seconds=9)).astimezone(timezone(timedelta(hours=offset)))
        return _millis(created), [
            f"{local.month}/{local.day}/{local.year}, "
            + (
                f"{(local.hour - 1) % 12 + 1}:{local.minute:02d}:{local.second:02d} "
                f"{'PM' if local.hour >= 12 else 'AM'}"
            )
        ]

    winter = [datetime(2023, 1, d, 15, 0, tzinfo=UTC) for d in (10, 20)]
    summer = [datetime(2023, 7, d, 15, 0, tzinfo=UTC) for d in (10, 20)]
    raw = _export([chat(w, -5) for w in winter] + [chat(s, -4) for s in summer])
    expected = [[when + timedelta(seconds=9)] for when in winter + summer]
    assert _times(raw) == expected, "no zone given: each chat's own offset"
    assert _times(raw, "America/New_York") == expected
    assert _times(raw, "Asia/Tokyo") == expected, "the file outweighs a zone it contradicts"


def test_one_late_first_message_does_not_shift_the_offset() -> None:
    def chat(created: datetime, after: timedelta) -> tuple[int, list[str]]:
        local = (created + after).astimezone(timezone(timedelta(hours=8)))
        return _millis(created), [local.strftime("%Y/%-m/%-d %H:%M:%S")]

    days = [datetime(2023, 5, d, 2, 0, tzinfo=UTC) for d in (1, 2, 3)]
    late = timedelta(minutes=22)  # the chat was opened, the question typed 22 minutes later
    raw = _export([chat(days[0], timedelta(seconds=4)), chat(days[1], late), chat(days[2], late)])
    assert _times(raw) == [
        [days[0] + timedelta(seconds=4)],
        [days[1] + late],
        [days[2] + late],
    ]


@pytest.mark.parametrize("text", ["05/04/2023, 10:00:00", "04/05/2023, 10:00:00"])
def test_month_or_day_first_is_told_by_the_creation_time(text: str) -> None:
    # April 5 in both; only the uuid (made that day, in UTC) says which number is the month.
    created = datetime(2023, 4, 5, 9, 59, 58, tzinfo=UTC)
    raw = _export([(_millis(created), [text])])
    ((sent,),) = _times(raw, "UTC")
    assert sent == datetime(2023, 4, 5, 10, 0, tzinfo=UTC)


def test_what_is_not_a_time_is_no_time() -> None:
    fresh_install = 1002  # chatgpt-web's first chat: no creation time
    raw = _export(
        [
            (fresh_install, ["2023/2/15 21:40:00", "not a date", "13/13/2023 10:00:00", ""]),
        ]
    )
    (conversation,) = parse(raw).conversations
    assert [m.created_at for m in conversation.messages] == [
        datetime(2023, 2, 15, 21, 40, tzinfo=UTC),
        None,
        None,
        None,
    ]
    assert conversation.created_at == datetime(2023, 2, 15, 21, 40, tzinfo=UTC)
    assert conversation.key == "1002"
