"""The tables. Messages are rows forming a tree (`parent_id`), never one JSON blob per chat."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chatgate.ids import new_id, utcnow


class AnswerStatus(StrEnum):
    """Where an answer (a message row, or the ledger row of a /v1 request) is in its life."""

    queued = "queued"
    streaming = "streaming"
    complete = "complete"
    stopped = "stopped"
    interrupted = "interrupted"
    error = "error"


# A tuple, not a set: SQL built from it (IN lists) comes out the same in every process.
LIVE_STATUSES = (AnswerStatus.queued, AnswerStatus.streaming)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them as naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = sa.String(32)
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(64))
    # Lower-cased username: "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="user")  # admin | user
    status: Mapped[str] = mapped_column(
        sa.String(16), default="active"
    )  # active | pending | disabled
    is_anonymous: Mapped[bool] = mapped_column(default=False)
    # Per-user quota overrides; absent keys fall back to the role's defaults.
    quota: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_seen_at: Mapped[datetime | None]


class InstanceSetting(Base):
    """Instance-wide state kept in the database (fingerprints, admin choices made at run time)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Session(Base):
    __tablename__ = "sessions"

    # HMAC of the cookie value: a copy of the database does not yield usable cookies.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invite(Base):
    """Invite codes, and the one-time setup token for the first admin (kind='setup')."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(16), default="invite")  # invite | setup
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    role: Mapped[str] = mapped_column(sa.String(16), default="user")
    max_uses: Mapped[int] = mapped_column(default=1)
    use_count: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_user_recent", "user_id", "updated_at", "id"),
        # One copy per source conversation and person: importing a file again adds nothing.
        sa.Index(
            "ix_conversations_user_import", "user_id", "import_source", "import_key", unique=True
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current_leaf_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An imported conversation: its source ("chatgpt-web", "chatgpt", "chatgate"), the id the
    # source gave it, and a hash of its messages when imported (a changed one is told apart).
    import_source: Mapped[str | None] = mapped_column(sa.String(16))
    import_key: Mapped[str | None] = mapped_column(sa.String(200))
    import_digest: Mapped[str | None] = mapped_column(sa.String(64))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_conversation", "conversation_id", "created_at"),
        # Startup recovery looks for rows a crash left running.
        sa.Index("ix_messages_status_live", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # The owner, repeated from the conversation so routes taking a message id scope by it directly.
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(ID)
    role: Mapped[str] = mapped_column(sa.String(16))  # user | assistant
    content: Mapped[str] = mapped_column(sa.Text, default="")
    # A reasoning model's thoughts, kept apart from the answer and never sent back upstream.
    reasoning: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    status: Mapped[str] = mapped_column(sa.String(16), default=AnswerStatus.complete)
    model: Mapped[str | None] = mapped_column(sa.String(200))
    provider: Mapped[str | None] = mapped_column(sa.String(64))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    # Why the upstream stopped: "stop", or "length" when max_tokens cut the answer (continuable).
    finish_reason: Mapped[str | None] = mapped_column(sa.String(16))
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    # Upstream continuation state (ChatGPT web: conversation_id and message id of this answer).
    provider_state: Mapped[dict[str, Any] | None]
    # Typed parts beside the text, in order: [{"type": "tool_call", "id", "name", "arguments"}]
    # for the function calls an answer made (tool results and attachments later).
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Attachment(Base):
    """A file attached to a question: uploaded first (no message yet), linked when sent. Stored
    in the database, so every instance reads it and backups include it."""

    __tablename__ = "attachments"
    __table_args__ = (
        # The same bytes uploaded twice by one person before sending are stored once.
        sa.Index(
            "uq_attachments_unsent_sha256",
            "user_id",
            "sha256",
            unique=True,
            sqlite_where=sa.text("message_id IS NULL"),
            postgresql_where=sa.text("message_id IS NULL"),
        ),
        # A conversation's files in one read, with its messages.
        sa.Index("ix_attachments_conversation", "conversation_id"),
        # The sweeper's unsent uploads, oldest first.
        sa.Index("ix_attachments_unsent", "created_at", "message_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("conversations.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(default=0)  # order within its message
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))  # image | document
    media_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]  # bytes stored
    width: Mapped[int | None]
    height: Mapped[int | None]
    tokens: Mapped[int | None]  # documents: tokens of `text`
    note: Mapped[str | None] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))  # of the bytes as uploaded
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    text: Mapped[str | None] = mapped_column(sa.Text)  # documents: the extracted text
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRecord(Base):
    """The ledger: one row per generation (chat or /v1), written when it is admitted to the
    queue and completed with its token counts when it ends."""

    __tablename__ = "usage"
    __table_args__ = (
        sa.Index("ix_usage_user_time", "user_id", "created_at"),
        sa.Index("ix_usage_day", "day"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(ID)
    source: Mapped[str] = mapped_column(sa.String(16), default="chat")  # chat | api
    model: Mapped[str] = mapped_column(sa.String(200))
    provider: Mapped[str] = mapped_column(sa.String(64))
    credential: Mapped[str | None] = mapped_column(sa.String(130))
    status: Mapped[str] = mapped_column(sa.String(16), default=AnswerStatus.queued)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    # What the request may spend at most (prompt + capped output), held against token budgets
    # while it runs; its real tokens replace it when it ends.
    reserved_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    estimated: Mapped[bool] = mapped_column(
        default=False
    )  # counted by ChatGate, not reported upstream
    cost_micro_usd: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    day: Mapped[str] = mapped_column(sa.String(10))  # UTC date, for grouping on every backend
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Security-relevant administrator actions, above all any reading of someone's chats."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    actor_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_user_id: Mapped[str | None] = mapped_column(ID)
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Share(Base):
    """A read-only snapshot of one branch of a conversation, published at an unguessable URL."""

    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # HMAC of the 128-bit token in the URL: a database copy does not reveal working links.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class InstanceRecord(Base):
    """Running ChatGate processes on this database, so a second one without Redis is refused."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]
    shared: Mapped[bool] = mapped_column(default=False)  # coordinates through Redis
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Profile(Base):
    """What a person shows of themselves: beside their messages and on conversations they share.
    The avatar is an emoji or an image ChatGate re-encoded itself (never the uploaded bytes)."""

    __tablename__ = "profiles"

    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    display_name: Mapped[str] = mapped_column(sa.String(64), default="")
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    avatar_emoji: Mapped[str | None] = mapped_column(sa.String(64))
    avatar_image: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    avatar_type: Mapped[str | None] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatDefaults(Base):
    """The settings a person's new conversations start with (model, system prompt, …)."""

    __tablename__ = "chat_defaults"

    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Prompt(Base):
    """One prompt of a person's library (chatgpt-web's prompt store: a title and a text)."""

    __tablename__ = "prompts"
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(200))
    value: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SharedPrompt(Base):
    """A prompt of the collection the administrators keep for everyone, in several languages:
    `translations` maps a UI language ("en-US", "zh-CN", …) to {"key", "value"}."""

    __tablename__ = "shared_prompts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpstreamProvider(Base):
    """An upstream added in the admin console (those of chatgate.toml are not stored).
    `proxy_sealed` is encrypted with chatgate.security.secret_box, never stored in plain text."""

    __tablename__ = "upstream_providers"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    base_url: Mapped[str | None] = mapped_column(sa.String(500))
    api_version: Mapped[str | None] = mapped_column(sa.String(40))
    proxy_sealed: Mapped[str | None] = mapped_column(sa.Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpstreamCredential(Base):
    """A key or access token of a console provider, sealed; `key_hint` is all that is shown."""

    __tablename__ = "upstream_credentials"
    __table_args__ = (sa.UniqueConstraint("provider_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    provider_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("upstream_providers.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    key_sealed: Mapped[str | None] = mapped_column(sa.Text)
    key_hint: Mapped[str | None] = mapped_column(sa.String(16))
    proxy_sealed: Mapped[str | None] = mapped_column(sa.Text)
    concurrency: Mapped[int | None]
    requests_per_minute: Mapped[int | None]
    tokens_per_minute: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpstreamModel(Base):
    """The console's settings of one model of any provider (console or file), by provider name:
    whether it is offered, how it is named, what it costs and who may use it."""

    __tablename__ = "upstream_models"

    provider: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    context_window: Mapped[int | None]
    vision: Mapped[bool] = mapped_column(default=False)
    reasoning: Mapped[bool] = mapped_column(default=False)
    input_price: Mapped[float | None] = mapped_column(sa.Float)  # USD per million tokens
    output_price: Mapped[float | None] = mapped_column(sa.Float)
    allowed_roles: Mapped[list[str] | None] = mapped_column(sa.JSON)
    allowed_users: Mapped[list[str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpstreamRevision(Base):
    """One row: a number every console change of upstreams raises, which every instance polls
    (a cheap primary-key read) to rebuild its providers when another instance changed them."""

    __tablename__ = "upstream_revision"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ExternalIdentity(Base):
    """An account at an OpenID provider (issuer + subject) or behind an authenticating proxy
    (issuer "header:<header name>"), and the ChatGate user it signs in as."""

    __tablename__ = "external_identities"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(sa.String(64))  # the configured name, or "header"
    issuer: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str] = mapped_column(sa.String(255))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class SignInFlow(Base):
    """One browser's OpenID Connect sign-in under way: what the callback must see again (state,
    nonce, the PKCE verifier), keyed by the HMAC of a random value in a short-lived cookie, and
    used once. After a verified answer that matches a local account, it holds the verified
    identity until the person proves that account's password (`claims`, `candidate_id`)."""

    __tablename__ = "sign_in_flows"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(128))
    nonce: Mapped[str] = mapped_column(sa.String(128))
    code_verifier: Mapped[str] = mapped_column(sa.String(128))
    claims: Mapped[dict[str, Any] | None]
    candidate_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("users.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
