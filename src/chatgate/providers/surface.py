"""The OpenAI request surface beyond role and text, as typed values the adapters translate, and
the one check of what a provider kind can carry.

`/v1` clients send tools, tool calls and results, image parts, structured output and sampling
extras. They travel on `ChatRequest.options` (an `Options`) and on the messages (`ChatMessage.parts`,
`.tool_calls`, `.tool_call_id`). Each provider class declares the capabilities it can carry in
`surface`; `check` refuses, before anything is admitted or sent, the first field the chosen kind
cannot carry with an OpenAI-style 400 naming it (`param`) — nothing is ever dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from chatgate.errors import BadRequest

if TYPE_CHECKING:
    from chatgate.providers.base import ChatRequest

# Capabilities a provider class lists in its `surface`.
TOOLS = "tools"  # tools, tool_choice, assistant tool_calls and tool messages in the history
PARALLEL_TOOL_CALLS = "parallel_tool_calls"
IMAGES = "images"  # image parts given as data: URLs
IMAGE_URLS = "image_urls"  # … and as http(s) URLs the upstream fetches itself
JSON_OBJECT = "json_object"
JSON_SCHEMA = "json_schema"
JSON_WITH_TOOLS = "json_with_tools"  # response_format and tools in one request
SEED = "seed"
STOP = "stop"
USER = "user"
RAW_TOOL_ARGUMENTS = "raw_tool_arguments"  # earlier tool calls' arguments go on as written
LOGPROBS = "logprobs"  # logprobs / top_logprobs
SEVERAL_CHOICES = "n"  # n > 1: the other choices' text (not with tools or logprobs)

OPENAI_SURFACE = frozenset(
    {
        TOOLS,
        PARALLEL_TOOL_CALLS,
        IMAGES,
        IMAGE_URLS,
        JSON_OBJECT,
        JSON_SCHEMA,
        JSON_WITH_TOOLS,
        SEED,
        STOP,
        USER,
        RAW_TOOL_ARGUMENTS,
        LOGPROBS,
        SEVERAL_CHOICES,
    }
)
TEXT_ONLY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema, passed on as given
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made: `arguments` is the JSON text exactly as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    url: str  # https://… or data:image/png;base64,…
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: str  # json_object | json_schema
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Options:
    """The request's OpenAI fields beyond model, messages, temperature, top_p and max_tokens."""

    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None  # auto | none | required | function
    tool_choice_name: str | None = None  # with tool_choice "function"
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    @property
    def json_mode(self) -> bool:
        return self.response_format is not None

    @property
    def choices(self) -> int:
        return self.n or 1


NO_OPTIONS = Options()


class UnsupportedField(BadRequest):
    """A field the chosen upstream cannot carry: OpenAI's error shape, naming the field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message, extra={"type": "invalid_request_error", "param": param})


def check(kind: str, surface: frozenset[str], request: ChatRequest) -> None:
    """Raise `UnsupportedField` for the first field `request` carries that `surface` lacks."""

    def refuse(param: str, what: str) -> UnsupportedField:
        return UnsupportedField(
            param, f"{what} is not available with this model (its upstream is of kind {kind})."
        )

    options = request.options
    if (options.tools or options.tool_choice is not None) and TOOLS not in surface:
        raise refuse("tools" if options.tools else "tool_choice", "Tools")
    # Without tools the field means nothing anywhere.
    parallel = options.parallel_tool_calls is not None and options.tools
    if parallel and PARALLEL_TOOL_CALLS not in surface:
        raise refuse("parallel_tool_calls", "parallel_tool_calls")
    fmt = options.response_format
    if fmt is not None:
        needed = JSON_SCHEMA if fmt.type == "json_schema" else JSON_OBJECT
        if needed not in surface:
            raise refuse("response_format", f"response_format {fmt.type!r}")
        if options.tools and JSON_WITH_TOOLS not in surface:
            raise refuse("response_format", "response_format together with tools")
    if options.seed is not None and SEED not in surface:
        raise refuse("seed", "seed")
    if options.stop and STOP not in surface:
        raise refuse("stop", "Stop sequences")
    if options.user is not None and USER not in surface:
        raise refuse("user", "user")
    if options.n is not None and options.n > 1:
        if SEVERAL_CHOICES not in surface:
            raise refuse("n", "More than one choice (n > 1)")
        if options.tools or options.logprobs:  # the other choices carry text only
            raise UnsupportedField(
                "n", "More than one choice (n > 1) is not available with tools or logprobs."
            )
    if options.logprobs and LOGPROBS not in surface:
        raise refuse("logprobs", "logprobs")
    for i, message in enumerate(request.messages):
        if (message.tool_calls or message.tool_call_id is not None) and TOOLS not in surface:
            field = "tool_calls" if message.tool_calls else "tool_call_id"
            raise refuse(f"messages[{i}].{field}", "Tool calls and tool results")
        for j, call in enumerate(message.tool_calls):
            if RAW_TOOL_ARGUMENTS not in surface and not _json_object(call.arguments):
                raise UnsupportedField(
                    f"messages[{i}].tool_calls[{j}].function.arguments",
                    f"Tool call arguments must be a JSON object for this model's upstream ({kind}).",
                )
        for j, part in enumerate(message.parts):
            if isinstance(part, ImagePart):
                is_data = part.url.startswith("data:")
                if IMAGES not in surface or not (is_data or IMAGE_URLS in surface):
                    what = "Images" if IMAGES not in surface else "Images by URL (not data: URLs)"
                    raise refuse(f"messages[{i}].content[{j}]", what)


def surface_text(options: Options) -> str:
    """What of `options` the model reads as prompt (tool definitions, the output schema), as
    text to count tokens on."""
    pieces: list[Any] = [
        {"name": t.name, "description": t.description, "parameters": t.parameters}
        for t in options.tools
    ]
    if options.response_format is not None and options.response_format.schema is not None:
        pieces.append(options.response_format.schema)
    return orjson.dumps(pieces).decode()


def _json_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text or "{}"), dict)
    except orjson.JSONDecodeError:
        return False


def tool_call_parts(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call pieces (`{index, id, name, arguments}`, arguments in pieces) as whole calls in
    index order: `[{"id", "name", "arguments"}]`."""
    by_index: dict[int, dict[str, Any]] = {}
    for piece in calls:
        call = by_index.setdefault(piece["index"], {"id": "", "name": "", "arguments": ""})
        if piece.get("id"):
            call["id"] = piece["id"]
        if piece.get("name"):
            call["name"] = piece["name"]
        call["arguments"] += piece.get("arguments") or ""
    return [by_index[index] for index in sorted(by_index)]
