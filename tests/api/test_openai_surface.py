"""`/v1` passes the OpenAI surface through faithfully, with the official `openai` package as the
client: function calling with parallel tools (streamed and not), structured output, image input,
the sampling extras. An OpenAI-compatible upstream gets the fields as they were sent; Anthropic
gets them translated and gives equivalent results; a field the chosen upstream cannot carry is
refused with a 400 naming it, before any upstream call; usage and quotas count tool calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageFunctionToolCall, ChatCompletionMessageParam

from tests.api.conftest import REPLY, providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream, Scenario
from tests.support.streams import data, events_of

OPENAI, ANTHROPIC, WEB = "fake-model", "claude-fake", "web-fake"

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}},
            },
        },
    },
]
CALLS = [
    {"id": "call_Wz1", "name": "get_weather", "arguments": '{"city": "Paris, 巴黎 🌧"}'},
    {"id": "call_Tm2", "name": "get_time", "arguments": '{"zone": "Europe/Paris"}'},
]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Weather and time in Paris?"}
]


async def _client_and_web(harness: Harness) -> tuple[openai.AsyncOpenAI, Any]:
    web = await harness.user("alice")
    key = (await web.post("/api/account/keys", json={"name": "agent"})).json()["key"]
    base = await harness.serve()
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0), web


async def _client(harness: Harness) -> openai.AsyncOpenAI:
    return (await _client_and_web(harness))[0]


def _calls(model: str) -> list[dict[str, str]]:
    """What the fake answers with: Anthropic's ids look like toolu_…"""
    if model == ANTHROPIC:
        return [{**call, "id": call["id"].replace("call_", "toolu_")} for call in CALLS]
    return CALLS


def _sent(fake: FakeUpstream) -> dict[str, Any]:
    body: dict[str, Any] = fake.requests[-1].json
    return body


def _assert_tools_sent(fake: FakeUpstream, model: str) -> None:
    body = _sent(fake)
    if model == OPENAI:
        assert body["tools"] == TOOLS, "the tools go on exactly as sent"
        assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is True
    else:
        assert body["tools"] == [
            {
                "name": "get_weather",
                "description": "The weather in a city.",
                "input_schema": TOOLS[0]["function"]["parameters"],
            },
            {"name": "get_time", "input_schema": TOOLS[1]["function"]["parameters"]},
        ]
        assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_two_parallel_tools_streamed_then_their_results(
    chat: Harness, fake: FakeUpstream, model: str
) -> None:
    client = await _client(chat)
    calls = _calls(model)
    fake.queue(Scenario("tool_calls", calls=calls, piece=4))
    stream = await client.chat.completions.create(
        model=model,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice="auto",
        parallel_tool_calls=True,
        stream=True,
    )
    pieces: list[Any] = []
    finish, content = None, ""
    async for chunk in stream:
        for choice in chunk.choices:
            pieces += choice.delta.tool_calls or []
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and content == ""
    # The first piece of each call names it (id, type, name, no arguments yet); the others
    # carry only the index and a piece of the arguments.
    firsts = [p for p in pieces if p.id]
    assert [(p.index, p.id, p.type, p.function.name) for p in firsts] == [
        (i, c["id"], "function", c["name"]) for i, c in enumerate(calls)
    ]
    assert all(p.function.arguments == "" for p in firsts)
    rest = [p for p in pieces if not p.id]
    assert len(rest) > 4 and all(p.function.name is None and p.type is None for p in rest)
    for index, call in enumerate(calls):
        joined = "".join(p.function.arguments for p in pieces if p.index == index)
        assert joined == call["arguments"], "the arguments arrive unchanged"
    _assert_tools_sent(fake, model)

    # The agent runs the tools and sends their results back.
    history: list[Any] = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "12 °C, rain"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "14:05"},
    ]
    answer = await client.chat.completions.create(model=model, messages=history, tools=TOOLS)
    assert answer.choices[0].message.content == REPLY
    assert answer.choices[0].finish_reason == "stop"
    body = _sent(fake)
    assert fake.requests[-1].status == 200, "the upstream accepted the history"
    if model == OPENAI:
        assert body["messages"] == history, "the tool calls and results go on as sent"
    else:
        assert body["messages"][1:] == [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": c["id"],
                        "name": c["name"],
                        "input": json.loads(c["arguments"]),
                    }
                    for c in calls
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": calls[0]["id"],
                        "content": "12 °C, rain",
                    },
                    {"type": "tool_result", "tool_use_id": calls[1]["id"], "content": "14:05"},
                ],
            },
        ]
    await client.close()


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_two_parallel_tools_not_streamed(
    chat: Harness, fake: FakeUpstream, model: str
) -> None:
    client = await _client(chat)
    calls = _calls(model)
    fake.queue(Scenario("tool_calls", calls=calls))
    completion = await client.chat.completions.create(
        model=model,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice="auto",
        parallel_tool_calls=True,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    made = choice.message.tool_calls or []
    functions = [c for c in made if isinstance(c, ChatCompletionMessageFunctionToolCall)]
    assert len(functions) == len(made)
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in functions] == [
        (c["id"], "function", c["name"], c["arguments"]) for c in calls
    ]
    _assert_tools_sent(fake, model)
    await client.close()


async def test_a_named_tool_choice_and_no_parallel_calls_reach_anthropic_translated(
    chat: Harness, fake: FakeUpstream
) -> None:
    client = await _client(chat)
    fake.queue(Scenario("tool_calls", calls=_calls(ANTHROPIC)[:1]))
    await client.chat.completions.create(
        model=ANTHROPIC,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        stop=["\n\nHuman:"],
        user="agent-7",
    )
    body = _sent(fake)
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert body["stop_sequences"] == ["\n\nHuman:"] and body["metadata"] == {"user_id": "agent-7"}
    await client.close()


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}
FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
}
ANSWER = '{"city": "Paris", "celsius": 12.5}'


async def test_structured_output_from_an_openai_upstream(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    fake.reply = ANSWER
    harness: Harness = await make_harness(providers=providers_for(fake))
    client = await _client(harness)
    completion = await client.chat.completions.create(
        model=OPENAI,
        messages=QUESTION,
        response_format=FORMAT,
        seed=42,
    )
    assert completion.choices[0].message.content == ANSWER
    body = _sent(fake)
    assert body["response_format"] == FORMAT and body["seed"] == 42
    await client.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_structured_output_from_anthropic_through_a_forced_tool(
    chat: Harness, fake: FakeUpstream, stream: bool
) -> None:
    client = await _client(chat)
    fake.queue(
        Scenario("tool_calls", calls=[{"id": "toolu_J", "name": "weather", "arguments": ANSWER}])
    )
    if stream:
        chunks = await client.chat.completions.create(
            model=ANTHROPIC,
            messages=QUESTION,
            response_format=FORMAT,
            stream=True,
        )
        content, finish = "", None
        async for chunk in chunks:
            for choice in chunk.choices:
                assert not choice.delta.tool_calls
                content += choice.delta.content or ""
                finish = choice.finish_reason or finish
    else:
        completion = await client.chat.completions.create(
            model=ANTHROPIC,
            messages=QUESTION,
            response_format=FORMAT,
        )
        content = completion.choices[0].message.content or ""
        finish = completion.choices[0].finish_reason
        assert not completion.choices[0].message.tool_calls
    assert content == ANSWER and finish == "stop", "the same answer as from OpenAI"
    body = _sent(fake)
    assert body["tools"] == [
        {"name": "weather", "description": body["tools"][0]["description"], "input_schema": SCHEMA}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}
    await client.close()


IMAGE_QUESTION: list[Any] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these pictures?"},
            {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}},
            {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
        ],
    }
]


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_images_by_url_and_data_url(chat: Harness, fake: FakeUpstream, model: str) -> None:
    client = await _client(chat)
    completion = await client.chat.completions.create(model=model, messages=IMAGE_QUESTION)
    assert completion.choices[0].message.content == REPLY
    body = _sent(fake)
    if model == OPENAI:
        assert body["messages"] == IMAGE_QUESTION
    else:
        assert body["messages"] == [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these pictures?"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.org/cat.jpg"},
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": PIXEL.partition(",")[2],
                        },
                    },
                ],
            }
        ]
    await client.close()


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        (WEB, {"tools": TOOLS}, "tools"),
        (WEB, {"messages": IMAGE_QUESTION}, "messages[0].content[1]"),
        (WEB, {"response_format": {"type": "json_object"}}, "response_format"),
        (WEB, {"stop": "END"}, "stop"),
        (ANTHROPIC, {"seed": 7}, "seed"),
        (ANTHROPIC, {"n": 2}, "n"),
        (ANTHROPIC, {"logprobs": True}, "logprobs"),
        (OPENAI, {"top_logprobs": 2}, "top_logprobs"),
        (
            OPENAI,
            {
                "messages": [
                    {"role": "tool", "tool_call_id": "c", "content": IMAGE_QUESTION[0]["content"]}
                ]
            },
            "messages[0].content[1]",
        ),
        (ANTHROPIC, {"tools": TOOLS, "response_format": FORMAT}, "response_format"),
        (OPENAI, {"n": 3, "tools": TOOLS}, "n"),
    ],
)
async def test_a_field_the_upstream_cannot_carry_is_refused_by_name(
    chat: Harness, fake: FakeUpstream, model: str, extra: dict[str, Any], param: str
) -> None:
    client = await _client(chat)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**{"model": model, "messages": QUESTION, **extra})
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["code"] and error["message"]
    assert fake.calls() == 0, "refused before any upstream call"
    await client.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_logprobs_come_back_with_their_tokens(
    chat: Harness, fake: FakeUpstream, stream: bool
) -> None:
    client = await _client(chat)
    entries: list[Any] = []
    text = ""
    if stream:
        chunks = await client.chat.completions.create(
            model=OPENAI,
            messages=QUESTION,
            logprobs=True,
            top_logprobs=2,
            stream=True,
        )
        async for chunk in chunks:
            for choice in chunk.choices:
                pieces = choice.logprobs.content if choice.logprobs else None
                if choice.delta.content:  # each token's entry comes with the token
                    assert pieces and [p.token for p in pieces] == [choice.delta.content]
                text += choice.delta.content or ""
                entries += pieces or []
    else:
        completion = await client.chat.completions.create(
            model=OPENAI,
            messages=QUESTION,
            logprobs=True,
            top_logprobs=2,
        )
        text = completion.choices[0].message.content or ""
        logprobs = completion.choices[0].logprobs
        entries = list(logprobs.content or []) if logprobs else []
    sent = _sent(fake)
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    assert text == REPLY and "".join(e.token for e in entries) == REPLY
    assert [e.logprob for e in entries] == [-(i + 1) / 100 for i in range(len(entries))]
    assert all(len(e.top_logprobs) == 2 for e in entries)
    await client.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_several_choices_come_back_each_with_its_index(
    chat: Harness, fake: FakeUpstream, stream: bool
) -> None:
    client = await _client(chat)
    texts: dict[int, str] = {}
    finishes: dict[int, str | None] = {}
    if stream:
        chunks = await client.chat.completions.create(
            model=OPENAI,
            messages=QUESTION,
            n=3,
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = None
        async for chunk in chunks:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                finishes[choice.index] = choice.finish_reason or finishes.get(choice.index)
    else:
        completion = await client.chat.completions.create(
            model=OPENAI,
            messages=QUESTION,
            n=3,
        )
        usage = completion.usage
        texts = {c.index: c.message.content or "" for c in completion.choices}
        finishes = {c.index: c.finish_reason for c in completion.choices}
    assert _sent(fake)["n"] == 3
    assert texts == {0: REPLY, 1: f"(1) {REPLY}", 2: f"(2) {REPLY}"}
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}
    assert usage is not None and usage.completion_tokens == 3 * fake.requests[-1].tokens_sent
    await client.close()


async def test_a_tool_message_is_not_turned_into_a_user_message_for_a_text_only_upstream(
    chat: Harness, fake: FakeUpstream
) -> None:
    client = await _client(chat)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=WEB,
            messages=[
                *QUESTION,
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        )
    assert caught.value.body["param"] == "messages[1].tool_calls"  # type: ignore[index]
    assert fake.calls() == 0
    await client.close()


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
async def test_include_usage_ends_with_a_usage_chunk_counting_the_calls(
    chat: Harness, fake: FakeUpstream, model: str
) -> None:
    client = await _client(chat)
    fake.queue(Scenario("tool_calls", calls=_calls(model), piece=3))
    stream = await client.chat.completions.create(
        model=model,
        messages=QUESTION,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    pieces = sum(-(-len(c["arguments"]) // 3) for c in CALLS)
    assert last.usage.completion_tokens == pieces, "tool arguments are output tokens"
    assert last.usage.prompt_tokens == fake.requests[-1].prompt_tokens
    assert all(chunk.usage is None for chunk in chunks[:-1])
    await client.close()


async def test_the_ledger_and_quotas_count_tool_call_tokens(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    providers = providers_for(fake)
    # Mistral's streams report no usage unless… they always do upstream; this fake does not
    # without stream_options, so ChatGate counts the answer itself: the calls must be in it.
    providers.append(
        {
            "name": "mi",
            "kind": "mistral",
            "base_url": f"{fake.base_url}/v1",
            "models": [{"id": "mistral-fake", "upstream": "fake-model"}],
            "credentials": [{"api_key": "mistral-test-key-000000"}],
        }
    )
    harness: Harness = await make_harness(providers=providers, quotas={"tokens_per_month": 100_000})
    client, web = await _client_and_web(harness)
    fake.queue(Scenario("tool_calls", calls=CALLS))
    await client.chat.completions.create(
        model=OPENAI,
        messages=QUESTION,
        tools=TOOLS,
    )
    reported = fake.requests[-1]
    prompt, completion, estimated = await harness.sql(
        "SELECT prompt_tokens, completion_tokens, estimated FROM usage ORDER BY created_at DESC LIMIT 1"
    )
    pieces = sum(-(-len(c["arguments"]) // 5) for c in CALLS)
    assert (prompt, completion, bool(estimated)) == (reported.prompt_tokens, pieces, False)

    fake.queue(Scenario("tool_calls", calls=CALLS))
    await client.chat.completions.create(
        model="mistral-fake",
        messages=QUESTION,
        tools=TOOLS,
        seed=3,
    )
    assert "stream_options" not in _sent(fake) and _sent(fake)["random_seed"] == 3
    (estimated_completion, estimated) = await harness.sql(
        "SELECT completion_tokens, estimated FROM usage ORDER BY created_at DESC LIMIT 1"
    )
    assert estimated and estimated_completion >= 10, "the calls' names and arguments counted"

    report = (await web.get("/api/account/usage")).json()
    (total,) = await harness.sql("SELECT sum(prompt_tokens + completion_tokens) FROM usage")
    assert report["tokens_per_month"]["used"] == total
    await client.close()


async def test_an_inline_image_larger_than_other_bodies_is_accepted(
    chat: Harness, fake: FakeUpstream
) -> None:
    client = await _client(chat)
    big = "data:image/png;base64," + "A" * (3 * 1024 * 1024)  # 3 MiB: over max_body_bytes
    message: Any = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look"},
            {"type": "image_url", "image_url": {"url": big}},
        ],
    }
    completion = await client.chat.completions.create(model=OPENAI, messages=[message])
    assert completion.choices[0].message.content == REPLY
    assert _sent(fake)["messages"] == [message]
    await client.close()


async def test_an_image_that_is_not_an_image_url_is_refused_by_its_place(
    chat: Harness, fake: FakeUpstream
) -> None:
    client = await _client(chat)
    message: Any = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look"},
            {"type": "image_url", "image_url": {"url": "data:text/html;base64,PHNjcmlwdD4="}},
        ],
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=OPENAI, messages=[message])
    assert caught.value.body["param"] == "messages[0].content[1].image_url.url"  # type: ignore[index]
    assert fake.calls() == 0
    await client.close()


async def test_an_answer_with_calls_keeps_them_as_message_parts_in_the_stored_tree(
    chat: Harness, fake: FakeUpstream
) -> None:
    # The web app defines no tools yet; an answer that calls one anyway keeps its calls.
    web = await chat.user("alice")
    cid = (await web.post("/api/conversations", json={})).json()["id"]
    fake.queue(Scenario("tool_calls", calls=CALLS, text="Checking."))
    response = await web.post(f"/api/conversations/{cid}/messages", json={"content": "Paris?"})
    events = events_of(response)
    pieces = [data(e) for e in events if e.event == "tool_call"]
    assert pieces[0] == {"index": 0, "id": "call_Wz1", "name": "get_weather", "arguments": ""}
    (parts, content, finish) = await chat.sql(
        "SELECT parts, content, finish_reason FROM messages WHERE role = 'assistant'"
    )
    stored = json.loads(parts) if isinstance(parts, str) else parts
    assert stored == [{"type": "tool_call", **call} for call in CALLS]
    assert (content, finish) == ("Checking.", "tool_calls")

    loaded = (await web.get(f"/api/conversations/{cid}/messages")).json()
    answer = next(m for m in loaded["messages"] if m["role"] == "assistant")
    assert answer["parts"] == stored
    share = (await web.post(f"/api/conversations/{cid}/shares")).json()
    shared = (await web.get(f"/api/shared/{share['url'].rsplit('/', 1)[1]}")).json()
    assert [m["parts"] for m in shared["messages"]] == [[], stored]


async def test_several_choices_share_what_is_left_of_a_token_budget(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), quotas={"tokens_per_day": 300}
    )
    client = await _client(harness)
    await client.chat.completions.create(model=OPENAI, messages=QUESTION, n=3)
    each = _sent(fake)["max_tokens"]
    assert each > 50 and 3 * each <= 300, "room for every choice is reserved, not for one"
    await client.close()
