"""Property-based fuzz of every parser a user's input reaches: the three import formats (and the
localStorage envelope of chatgpt-web), list cursors, path ids and headers. Documents are shaped
like the real formats, with any field replaced now and then by any JSON value, so the fuzz
reaches deep into each parser rather than stopping at the first type check.

Properties: the parser returns a clean result or a BadRequest (never another exception); what it
returns fits the database (no NUL, names within their columns, dates in range, a tree without
loops); over HTTP nothing is a 5xx, a 4xx has the one error shape, and whatever was imported can
be listed, read and exported. Example counts are bounded so this runs in seconds; the same
bodies run on PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatgate.errors import BadRequest
from chatgate.services.importers import (
    EARLIEST,
    LATEST,
    MAX_KEY,
    MAX_MODEL,
    MAX_TITLE,
    SOURCES,
    Parsed,
    parse,
    zone_named,
)
from tests.conftest import Harness

API = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
UNIT = settings(max_examples=150, deadline=None, database=None)

# -- documents ------------------------------------------------------------------------------------
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["", "\x00", "a\x00b", "m" * (MAX_MODEL + 1), "t" * (MAX_TITLE + 5), "🌍你好", " "]
)
leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
any_json = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right shape, sometimes anything at all."""
    return st.one_of(valid, valid, valid, any_json)


def record(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {k: field(v) for k, v in required.items()},
        optional={k: field(v) for k, v in optional.items()},
    )


years = st.sampled_from([1, 999, 1969, 1970, 2023, 2999, 3000, 9999])
iso_dates = st.one_of(
    st.builds(
        lambda y, offset: f"{y:04d}-01-01T00:00:00{offset}",
        years,
        st.sampled_from(["", "Z", "+00:00", "+14:00", "-14:00", "+05:30"]),
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    text,
)
web_dates = st.one_of(
    st.builds(lambda y: f"{y:04d}/11/15 10:00:00", years),
    # What toLocaleString() writes in other languages (see tests/unit/test_chatgpt_web_times.py).
    st.sampled_from(
        [
            "2023/11/15 下午03:04:05",
            "11/15/2023, 3:04:05\u202fPM",
            "15/11/2023, 15:04:05",
            "2/3/2023, 12:00:00 am",
            "15.11.2023, 15:04:05",
            "2023. 11. 15. 오후 3:04:05",
            "15:04:05 15/11/2023",
            "15/11/2566 15.04.05",
            "٩\u200f/٣\u200f/٢٠٢٣، ٨:١٥:٣٢ م",
            "99/99/2023 99:99:99",
            "1/1/1 1:1",
        ]
    ),
    text,
)
epochs = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-62135596800.0, 0.0, 1700000000.5, 1e300, -1e300, 32503680000.0]),
)
keys = st.sampled_from(["a", "b", "c", "d", "e"])  # few, so ids repeat and point at each other
roles = st.sampled_from(["user", "assistant", "system", "tool", ""])
statuses = st.sampled_from(["complete", "streaming", "error", "queued", "bogus"])

web_item = record(
    {},
    {"dateTime": web_dates, "text": text, "inversion": st.booleans(), "error": st.booleans()},
)
uuids = (
    st.integers(0, 3)
    | st.sampled_from(["0", "1", "x", 1002, 1_700_000_000_000, 1_700_000_000_001, 10**16, -1])
    | st.integers(1_669_766_400_000, 1_800_000_000_000)
)
chatgpt_web = st.builds(
    lambda history, chat: {"history": history, "chat": chat},
    field(st.lists(record({"uuid": uuids}, {"title": text}), max_size=3)),
    field(st.lists(record({"uuid": uuids}, {"data": st.lists(web_item, max_size=4)}), max_size=3)),
)
localstorage = chatgpt_web.map(lambda data: {"data": data, "expire": None})

node_message = record(
    {},
    {
        "id": text,
        "author": record({}, {"role": roles}),
        "content": record(
            {},
            {
                "content_type": st.just("text"),
                "parts": st.lists(text | record({}, {"text": text}), max_size=3),
                "text": text,
            },
        ),
        "create_time": epochs,
        "metadata": record({}, {"model_slug": text}),
    },
)
node = record(
    {},
    {
        "id": keys,
        "message": node_message | st.none(),
        "parent": keys | st.none(),
        "children": st.lists(keys, max_size=3),
    },
)
source_ids = keys | text | st.integers(-(2**70), 2**70)
official_conversation = record(
    {"mapping": st.dictionaries(keys, node, max_size=5)},
    {
        "title": text,
        "create_time": epochs,
        "update_time": epochs,
        "current_node": keys,
        "id": source_ids,
        "conversation_id": source_ids,
    },
)
official = st.lists(official_conversation, max_size=3)

own_message = record(
    {"id": keys, "role": roles},
    {
        "parent_id": keys | st.none(),
        "content": text,
        "status": statuses,
        "model": text | st.none(),
        "created_at": iso_dates,
    },
)
own_settings = st.fixed_dictionaries(
    {},
    optional={
        "model": text | st.none(),
        "system_prompt": text,
        "temperature": leaf,
        "top_p": leaf,
        "max_tokens": leaf,
        "context_messages": leaf,
        "context_tokens": leaf,
    },
)
own = st.builds(
    lambda conversations: {"format": "chatgate", "version": 1, "conversations": conversations},
    st.lists(
        record(
            {},
            {
                "id": source_ids,
                "import_source": st.sampled_from(["chatgpt-web", "chatgpt", "chatgate", "x"]),
                "import_key": source_ids,
                "title": text,
                "created_at": iso_dates,
                "updated_at": iso_dates,
                "settings": own_settings,
                "current_leaf_id": keys,
                "messages": st.lists(own_message, max_size=5),
            },
        ),
        max_size=3,
    ),
)
documents = st.one_of(chatgpt_web, localstorage, official, own, any_json)


def encode(document: Any) -> bytes:
    # json, not orjson: integers past 64 bits are valid JSON too.
    return json.dumps(document, ensure_ascii=False).encode()


def check_parsed(parsed: Parsed) -> None:
    positions = [c.position for c in parsed.conversations] + [x.position for x in parsed.left_out]
    assert len(set(positions)) == len(positions), "each conversation of the file is told once"
    sources = [(c.source, c.key) for c in parsed.conversations if c.key is not None]
    assert len(set(sources)) == len(sources), "a source conversation is imported once"
    for conversation in parsed.conversations:
        assert conversation.source in SOURCES and conversation.messages
        assert conversation.key is None or (
            0 < len(conversation.key) <= MAX_KEY and "\x00" not in conversation.key
        )
        assert "\x00" not in conversation.title and len(conversation.title) <= MAX_TITLE
        keys = [m.key for m in conversation.messages]
        assert len(set(keys)) == len(keys)
        seen: set[str] = set()
        for message in conversation.messages:
            assert message.role in ("user", "assistant")
            assert "\x00" not in message.content
            assert message.model is None or (
                len(message.model) <= MAX_MODEL and "\x00" not in message.model
            )
            assert message.created_at is None or EARLIEST <= message.created_at < LATEST
            # Parents first: so every walk to the root ends, and the rows insert in order.
            assert message.parent_key is None or message.parent_key in seen
            seen.add(message.key)
        assert conversation.current_key is None or conversation.current_key in seen
        for stamp in (conversation.created_at, conversation.updated_at):
            assert stamp is None or EARLIEST <= stamp < LATEST


zones = st.sampled_from([None, "UTC", "Asia/Shanghai", "America/New_York", "Pacific/Kiritimati"])


@UNIT
@given(documents, zones)
def test_the_import_parser_returns_clean_rows_or_a_bad_request(
    document: Any, zone: str | None
) -> None:
    try:
        parsed = parse(encode(document), zone_named(zone))
    except BadRequest as exc:
        assert exc.message
        return
    check_parsed(parsed)


@UNIT
@given(st.binary(max_size=200) | documents.map(encode).map(lambda b: b[: len(b) // 2]))
def test_bytes_that_are_not_a_whole_export_are_a_bad_request(raw: bytes) -> None:
    with contextlib.suppress(BadRequest):
        check_parsed(parse(raw))


# -- over HTTP ------------------------------------------------------------------------------------
def assert_not_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]


@API
@given(document=documents, zone=zones | text)
async def test_imports_over_http_never_fail_on_the_server(
    harness: Harness, document: Any, zone: str | None
) -> None:
    client = await _user(harness)
    before = (await client.get("/api/conversations", params={"limit": 100})).json()["items"]
    response = await client.post(
        "/api/import",
        content=encode(document),
        params={"timezone": zone} if zone is not None else {},
        headers={"content-type": "application/json"},
    )
    assert_not_server_error(response)
    after = (await client.get("/api/conversations", params={"limit": 100})).json()["items"]
    if response.status_code != 201:
        assert after == before, "a refused import leaves nothing behind"
        return
    report = response.json()
    ids = report["conversation_ids"]
    assert set(ids) <= {c["id"] for c in after}
    assert report["counts"].get("imported", 0) == len(ids) == report["conversations"]
    assert sum(report["counts"].values()) == len(report["outcomes"])
    if len(after) < 100:
        assert len(after) == len(before) + len(ids), "nothing but what the report says was added"
    again = await client.post(
        "/api/import", content=encode(document), headers={"content-type": "application/json"}
    )
    assert again.status_code == 201, again.text
    counts = again.json()["counts"]
    assert "changed_since_import" not in counts, "the same file is the same conversations"
    assert counts.get("imported", 0) <= len(ids), "a second import adds nothing it can match"
    for cid in ids:
        messages = await client.get(f"/api/conversations/{cid}/messages")
        assert messages.status_code == 200
        for format in ("json", "markdown", "html"):
            exported = await client.get(
                f"/api/conversations/{cid}/export", params={"format": format}
            )
            assert exported.status_code == 200
    page = await client.get("/api/conversations", params={"limit": 1})
    cursor = page.json()["next_cursor"]
    if cursor:
        assert (
            await client.get("/api/conversations", params={"cursor": cursor})
        ).status_code == 200


async def _user(harness: Harness) -> httpx.AsyncClient:
    """One signed-in user per harness, kept across the examples of a test."""
    client: httpx.AsyncClient | None = getattr(harness, "_fuzzer", None)
    if client is None:
        client = await harness.user("fuzzer")
        harness._fuzzer = client  # type: ignore[attr-defined]
    return client


cursor_text = st.text(string.ascii_letters + string.digits + "-_=%|+/ .", max_size=60)
crafted_cursors = st.builds(
    lambda stamp, row: base64.urlsafe_b64encode(f"{stamp}|{row}".encode()).decode().rstrip("="),
    iso_dates,
    st.sampled_from(["a" * 32, "0" * 32, "", "x", "f" * 33]) | text,
)


@API
@given(cursor=cursor_text | crafted_cursors, limit=st.integers(-5, 200))
async def test_list_cursors_never_fail_on_the_server(
    harness: Harness, cursor: str, limit: int
) -> None:
    client = await _user(harness)
    response = await client.get("/api/conversations", params={"cursor": cursor, "limit": limit})
    assert_not_server_error(response)


path_ids = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40) | (
    st.sampled_from(["0" * 32, "f" * 32, "F" * 32, "0" * 31, "0" * 33])
)


@API
@given(path_id=path_ids)
async def test_path_ids_never_fail_on_the_server(harness: Harness, path_id: str) -> None:
    client = await _user(harness)
    quoted = quote(path_id, safe="")
    for method, path in (
        ("GET", f"/api/conversations/{quoted}"),
        ("GET", f"/api/conversations/{quoted}/messages"),
        ("GET", f"/api/conversations/{quoted}/export"),
        ("GET", f"/api/generations/{quoted}/events"),
        ("POST", f"/api/generations/{quoted}/stop"),
        ("DELETE", f"/api/shares/{quoted}"),
        ("GET", f"/api/shared/{quoted}"),
    ):
        assert_not_server_error(await client.request(method, path))


header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=80,
) | st.sampled_from(["9" * 5000, "-1", "0", "1" * 15, "1" * 16])


@API
@given(last_event_id=header_values, request_id=header_values, authorization=header_values)
async def test_headers_never_fail_on_the_server(
    harness: Harness, last_event_id: str, request_id: str, authorization: str
) -> None:
    client = await _user(harness)
    events = await client.get(
        f"/api/generations/{'0' * 32}/events",
        headers={b"last-event-id": last_event_id.encode("latin-1")},
    )
    assert_not_server_error(events)
    tagged = await client.get("/healthz", headers={b"x-request-id": request_id.encode("latin-1")})
    assert_not_server_error(tagged)
    anonymous = await harness.client()
    api = await anonymous.get(
        "/v1/models", headers={b"authorization": authorization.encode("latin-1")}
    )
    assert_not_server_error(api)
