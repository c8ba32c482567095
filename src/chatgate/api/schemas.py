"""Request and response bodies: the API contract (docs/api.md), published in /openapi.json.

Unknown fields in requests are ignored, so `role`, `user_id` or `owner` sent by a client can
never be assigned.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _clean(text: str) -> str:
    # NUL cannot be stored by PostgreSQL, and lone surrogates cannot be encoded as UTF-8: refuse
    # both here so every backend behaves the same.
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(_clean)]
Id = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]

_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _day(value: Any) -> Any:
    # pydantic would read `0` as 1970-01-01 (a Unix time): only a calendar day is a day here.
    if isinstance(value, str) and not _DAY.match(value):
        raise ValueError("a day is written YYYY-MM-DD")
    if not isinstance(value, str | date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_day), Field(json_schema_extra={"pattern": _DAY.pattern})]

# Rules the code enforces in its own words (so their error codes stay theirs: weak_password, the
# username message, a 400 for a cursor), declared here so /openapi.json says them too.
USERNAME_RULE: dict[str, Any] = {
    "pattern": r"^[\w.\-]{1,64}$",
    "description": "1 to 64 letters, digits, dots, dashes or underscores (after Unicode NFKC "
    "normalisation and trimming); unique without regard to case.",
}
NEW_PASSWORD_RULE: dict[str, Any] = {
    "minLength": 8,
    "description": "At least 8 characters, not a common password, not the username "
    "(422 `weak_password` otherwise).",
}


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- auth -------------------------------------------------------------------------------------
class SsoProviderOut(_Out):
    """A "Sign in with …" button: the browser goes to `start_url`."""

    name: str
    label: str
    start_url: str


class AuthConfigOut(_Out):
    mode: Literal["accounts", "password", "open"]
    registration: Literal["closed", "invite", "approval", "open"]
    setup_required: bool
    version: str
    announcement: str | None = None
    sso: list[SsoProviderOut] = []
    local_passwords: bool = True


class SsoLinkOut(_Out):
    provider: str
    username: str


class SsoLinkIn(_In):
    """`password` of the local account to link; null: an account of its own instead."""

    password: Annotated[Text, Field(max_length=1024)] | None = None


class SignedOutOut(_Out):
    """The organisation's sign-out page, offered after ChatGate's session ended."""

    end_session_url: str


class LoginIn(_In):
    username: Annotated[Text, Field(max_length=64)] | None = None
    password: Annotated[Text, Field(max_length=1024)] | None = None


class SetupIn(_In):
    token: Annotated[Text, Field(min_length=1, max_length=200)]
    username: Annotated[Text, Field(min_length=1, max_length=64, json_schema_extra=USERNAME_RULE)]
    password: Annotated[Text, Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)]


class RegisterIn(_In):
    username: Annotated[Text, Field(min_length=1, max_length=64, json_schema_extra=USERNAME_RULE)]
    password: Annotated[Text, Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)]
    invite_code: Annotated[Text, Field(max_length=200)] | None = None


class PasswordChangeIn(_In):
    current_password: Annotated[Text, Field(max_length=1024)]
    new_password: Annotated[Text, Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)]


class UserOut(_Out):
    id: str
    username: str
    role: Literal["admin", "user"]
    status: Literal["active", "pending", "disabled"]
    is_anonymous: bool
    created_at: datetime


class PendingOut(_Out):
    status: Literal["pending"] = "pending"
    message: str


# -- conversations ----------------------------------------------------------------------------
class SettingsIn(_In):
    model: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    system_prompt: Annotated[Text, Field(max_length=100_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    context_messages: Annotated[int, Field(ge=0, le=10_000)] | None = None
    context_tokens: Annotated[int, Field(ge=1, le=10_000_000)] | None = None

    def changes(self) -> dict[str, Any]:
        # Only fields the client sent; an explicit null resets a field to the server default.
        return {name: getattr(self, name) for name in self.model_fields_set}


class SettingsOut(_Out):
    model: str | None
    system_prompt: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    context_messages: int
    context_tokens: int | None


class ConversationIn(_In):
    title: Annotated[Text, Field(max_length=200)] | None = None
    settings: SettingsIn | None = None


class ConversationPatch(_In):
    title: Annotated[Text, Field(max_length=200)] | None = None
    settings: SettingsIn | None = None
    current_leaf_id: Id | None = None


class ConversationOut(_Out):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    current_leaf_id: str | None
    settings: SettingsOut


class ConversationPage(_Out):
    items: list[ConversationOut]
    next_cursor: str | None


class ErrorInfo(_Out):
    code: str
    message: str


class AttachmentOut(_Out):
    id: str
    name: str = Field(description="The file name as given (no path, at most 200 characters).")
    kind: Literal["image", "document"]
    media_type: str = Field(description="Sniffed from the bytes (never the name).")
    size: int = Field(description="Bytes stored (after re-encoding, for images).")
    width: int | None
    height: int | None
    tokens: int | None = Field(description="Documents: tokens of the extracted text.")
    note: str | None = Field(
        description='In English, e.g. "Truncated at page 12 (the file has 40 pages)."'
    )


class MessageOut(_Out):
    id: str
    parent_id: str | None
    role: Literal["user", "assistant", "system"]
    content: str
    reasoning: str = Field(
        "", description="A reasoning model's thoughts, apart from the answer (empty when none)."
    )
    status: Literal["complete", "queued", "streaming", "stopped", "interrupted", "error"]
    model: str | None
    error: ErrorInfo | None
    finish_reason: str | None = Field(
        None, description='"length" when max_tokens cut the answer (it can be continued).'
    )
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    updated_at: datetime
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="A question's attached files ([] otherwise)."
    )
    parts: list[dict[str, Any]] = Field(
        default_factory=list,
        description='Typed parts beside the text: [{"type": "tool_call", "id", "name", '
        '"arguments"}] for the function calls an answer made ([] when none).',
    )


class MessageList(_Out):
    messages: list[MessageOut]
    current_leaf_id: str | None


class ErrorBody(BaseModel):
    error: ErrorInfo


class HealthOut(BaseModel):
    status: str


# -- administration ---------------------------------------------------------------------------
class AdminUserIn(_In):
    username: Annotated[Text, Field(min_length=1, max_length=64, json_schema_extra=USERNAME_RULE)]
    password: Annotated[Text, Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)]
    role: Literal["admin", "user"] = "user"


class AdminUserPatch(_In):
    role: Literal["admin", "user"] | None = None
    status: Literal["active", "pending", "disabled"] | None = None
    quota: QuotaIn | None = Field(
        None, description="Replaces the user's overrides; {} clears them."
    )


class AdminPasswordIn(_In):
    password: Annotated[Text, Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)]


class InviteIn(_In):
    max_uses: Annotated[int, Field(ge=1, le=10_000)] = 1
    days: Annotated[int, Field(ge=1, le=3650)] | None = 7
    role: Literal["admin", "user"] = "user"
    note: Annotated[Text, Field(max_length=200)] = ""


class InviteOut(_Out):
    id: str
    role: str
    max_uses: int
    use_count: int
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    code: str | None = Field(None, description="Shown once, when the invite is created.")
    url: str | None = None


# -- chat -------------------------------------------------------------------------------------
class SendIn(_In):
    content: Annotated[Text, Field(min_length=1, max_length=200_000)]
    parent_id: Id | None = Field(
        None,
        description="Absent: after the current leaf. An answer's id: branch there. null: a new first question.",
    )
    model: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    attachments: list[Id] = Field(
        default_factory=list,
        max_length=100,
        description="Ids of the sender's uploaded, not yet sent files "
        "(at most `attachments_per_message`).",
    )


class RegenerateIn(_In):
    model: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class ContinueIn(_In):
    pass


class StopOut(_Out):
    status: str


class ModelOut(_Out):
    id: str
    provider: str
    name: str = Field(description="The display name (the id unless the administrator set one).")
    vision: bool = Field(False, description="Accepts images.")
    reasoning: bool = Field(False, description="Thinks before answering.")


class ModelsOut(_Out):
    default: str | None
    models: list[ModelOut]
    bundled_demo: bool = Field(
        False,
        description="New chats are answered by the bundled offline demo model (no upstream is "
        "configured): the web app says answers will be poor.",
    )


class QuotaIn(_In):
    """Per-user overrides: a key with null means unlimited; leave a key out to inherit."""

    requests_per_hour: Annotated[int, Field(ge=0)] | None = None
    concurrent_generations: Annotated[int, Field(ge=0)] | None = None
    messages_per_day: Annotated[int, Field(ge=0)] | None = None
    messages_per_month: Annotated[int, Field(ge=0)] | None = None
    tokens_per_day: Annotated[int, Field(ge=0)] | None = None
    tokens_per_month: Annotated[int, Field(ge=0)] | None = None
    max_input_tokens: Annotated[int, Field(ge=1)] | None = None
    allowed_models: list[Annotated[Text, Field(max_length=200)]] | None = None

    def overrides(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class AdminUserOut(UserOut):
    quota: dict[str, Any] | None = Field(None, description="This user's own overrides.")
    effective_quota: dict[str, Any] | None = Field(
        None, description="The limits that apply (null: unlimited)."
    )


class InstanceSettingsIn(_In):
    registration: Literal["closed", "invite", "approval", "open"] | None = None
    sharing: bool | None = None
    default_model: Annotated[Text, Field(max_length=200)] | None = None
    announcement: Annotated[Text, Field(max_length=5000)] | None = None


class InstanceSettingsOut(_Out):
    registration: str
    sharing: bool
    default_model: str | None
    announcement: str | None
    configured_default_model: str | None = Field(None, description="From the configuration file.")
    effective_default_model: str | None = Field(None, description="What new conversations use.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS.get(status, "Error")}
        for status in statuses
    }


DESCRIPTIONS = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found (also: someone else's object)",
    409: "Conflict",
    410: "Link used or expired",
    413: "Too large",
    415: "A kind of file that cannot be attached",
    422: "Invalid fields",
    429: "Rate limit or quota (see Retry-After)",
    500: "Server error",
    502: "Upstream error",
    503: "Unavailable",
    504: "Upstream timeout",
    507: "Disk full",
}
# Every route may answer with these; documented once for all of them.
COMMON_ERRORS = error_responses(
    400, 401, 403, 404, 409, 410, 413, 422, 429, 500, 502, 503, 504, 507
)
