"""Asking an upstream before (or besides) using it: which models it has, and a short test answer.

Both run on a temporary provider built like any other (`build_provider`) from the unsaved form,
or from a saved provider's stored settings — so a saved key only ever goes to its saved address —
and closed afterwards. The test streams through the provider's real stream code, bounded to
`TEST_MAX_TOKENS` tokens and `TEST_SECONDS` seconds; failures come back redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session as DbSession

from chatgate.config import CredentialConfig, ModelConfig, ProviderConfig, ProviderKind, Settings
from chatgate.db.engine import Database
from chatgate.db.models import UpstreamCredential, UpstreamProvider
from chatgate.db.repos import upstreams as repo
from chatgate.errors import (
    ChatGateError,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from chatgate.providers.base import ChatMessage, ChatRequest, Provider
from chatgate.providers.registry import build_provider
from chatgate.security.redaction import redact, register_secret
from chatgate.security.secret_box import SecretBox
from chatgate.services.upstreams.forms import check_base_url, check_kind, check_proxy
from chatgate.services.upstreams.live import LiveUpstreams

TEST_PROMPT = "Say hello in five words."
TEST_MAX_TOKENS = 64
TEST_SECONDS = 30.0
PROBE_NAME = "connection-test"
Event = tuple[str, Any]


def _explained(exc: UpstreamError) -> UpstreamError:
    """The administrator asked: the upstream's own words (redacted) beside ours."""
    message = f"{exc.message} ({exc.detail})" if exc.detail else exc.message
    return type(exc)(
        message, retryable=exc.retryable, retry_after=exc.retry_after, detail=exc.detail
    )


class _Sink:
    """Receives the test answer and hands it to the stream as pieces."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def text(self, text: str) -> None:
        if text:
            self.queue.put_nowait(("delta", text))

    def reasoning(self, text: str) -> None:
        """A reasoning model's thoughts are not part of a connection test's answer."""

    def tool_call(self, index: int, id: str | None, name: str | None, arguments: str) -> None:
        """The test asks for no tools: a call would not be part of its answer."""

    def logprobs(self, content: list[Any]) -> None:
        """The test asks for none."""

    def choice(self, index: int, text: str | None, finish: str | None) -> None:
        """The test asks for one choice."""

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Not counted: a test is not charged to anyone."""

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None:
        """The stream's end says it (the provider returns)."""


class Probe:
    def __init__(
        self, settings: Settings, db: Database, box: SecretBox, live: LiveUpstreams
    ) -> None:
        self._settings = settings
        self._db = db
        self._box = box
        self._live = live

    # -- what to probe ------------------------------------------------------------------------
    def form_config(self, form: dict[str, Any]) -> ProviderConfig:
        """An unsaved service, from the console's form."""
        kind = check_kind(form["kind"])
        key = (form.get("api_key") or "").strip() or None
        proxy = check_proxy(form.get("proxy"))
        for secret in (key, proxy):
            register_secret(secret)
        return ProviderConfig(
            name=PROBE_NAME,
            kind=kind,
            base_url=check_base_url(kind, form.get("base_url")),
            api_version=form.get("api_version") or None,
            proxy=SecretStr(proxy) if proxy else None,
            credentials=[CredentialConfig(name="test", api_key=SecretStr(key) if key else None)]
            if key or kind is not ProviderKind.openai
            else [],
        )

    async def saved_config(
        self, provider_id: str, credential_id: str | None = None
    ) -> ProviderConfig:
        """A console provider as saved, with one of its credentials (the chosen, or the first)."""

        def load(s: DbSession) -> tuple[UpstreamProvider | None, list[UpstreamCredential]]:
            return repo.get_provider(s, provider_id), list(repo.credentials_of(s, provider_id))

        row, credentials = await self._db.read(load)
        if row is None:
            raise NotFound("No such provider.")
        if credential_id is not None:
            credentials = [c for c in credentials if c.id == credential_id]
            if not credentials:
                raise NotFound("No such credential.")
        chosen = next(
            (c for c in credentials if c.enabled), credentials[0] if credentials else None
        )
        kind = ProviderKind(row.kind)
        if chosen is None and kind is not ProviderKind.openai:
            raise ValidationFailed("Add a key to this provider first.")
        items = []
        if chosen is not None:
            key, proxy = self._open(chosen.key_sealed), self._open(chosen.proxy_sealed)
            items.append(
                CredentialConfig(
                    name=chosen.name,
                    api_key=SecretStr(key) if key else None,
                    proxy=SecretStr(proxy) if proxy else None,
                )
            )
        shared_proxy = self._open(row.proxy_sealed)
        return ProviderConfig(
            name=row.name,
            kind=kind,
            base_url=row.base_url,
            api_version=row.api_version,
            proxy=SecretStr(shared_proxy) if shared_proxy else None,
            credentials=items,
        )

    def _open(self, sealed: str | None) -> str | None:
        value = self._box.open(sealed) if sealed else None
        register_secret(value)
        return value

    @contextlib.asynccontextmanager
    async def provider(
        self, config: ProviderConfig | None = None, *, file: str | None = None
    ) -> AsyncIterator[Provider]:
        """A temporary provider for `config`, or the configuration file's provider `file`."""
        if file is not None:
            configured = next((p for p in self._settings.providers if p.name == file), None)
            if configured is None or configured.kind is ProviderKind.local:
                running = next((p for p in self._live.file_providers if p.name == file), None)
                if running is None:
                    raise NotFound("No such provider in the configuration file.")
                yield running  # the local model: the running one, never a second copy
                return
            config = configured
        assert config is not None
        temporary = build_provider(config, self._settings)
        try:
            yield temporary
        finally:
            await temporary.aclose()

    # -- asking -------------------------------------------------------------------------------
    async def run_test(
        self, model: str, config: ProviderConfig | None = None, *, file: str | None = None
    ) -> AsyncIterator[Event]:
        """The test on a provider that lives as long as the stream (closed when it ends)."""
        async with (
            self.provider(config, file=file) as provider,
            contextlib.aclosing(self.test(provider, model)) as events,
        ):
            async for event in events:  # closed with the stream: the test's task ends with it
                yield event

    async def discover(self, provider: Provider) -> list[str]:
        try:
            return sorted(set(await provider.list_models()))
        except UpstreamError as exc:
            raise _explained(exc) from None

    async def test(self, provider: Provider, model: str) -> AsyncGenerator[Event, None]:
        """`delta` pieces then `done`, or one `error`: never an exception."""
        if not provider.credentials:
            yield (
                "error",
                {"code": "validation_error", "message": "This provider has no credential."},
            )
            return
        sink = _Sink()
        request = ChatRequest(
            model=ModelConfig(id=model),
            messages=[ChatMessage("user", TEST_PROMPT)],
            max_tokens=TEST_MAX_TOKENS,
        )
        task = asyncio.create_task(provider.stream(request, provider.credentials[0], sink))
        deadline = asyncio.get_running_loop().time() + TEST_SECONDS
        try:
            while not (task.done() and sink.queue.empty()):
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise UpstreamTimeout(f"No complete answer within {TEST_SECONDS:.0f} seconds.")
                getter = asyncio.ensure_future(sink.queue.get())
                await asyncio.wait(
                    {getter, task}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            task.result()  # raises what the provider raised
            yield "done", {"status": "complete"}
        except ChatGateError as exc:
            error = _explained(exc) if isinstance(exc, UpstreamError) else exc
            yield "error", {"code": error.code, "message": redact(error.message)}
        except Exception as exc:  # noqa: BLE001 - a test reports, it never breaks the page
            yield (
                "error",
                {"code": "upstream_error", "message": redact(f"{type(exc).__name__}: {exc}")},
            )
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
