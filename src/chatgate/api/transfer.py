"""Import and export of history, and read-only share links."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import Field

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Id, _Out
from chatgate.errors import NotFound
from chatgate.services.importers import parse, zone_named

router = APIRouter(tags=["import-export"])
Format = Literal["json", "markdown", "html"]
MEDIA = {
    "json": "application/json",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
SUFFIX = {"json": "json", "markdown": "md", "html": "html"}


Outcome = Literal[
    "imported", "already_imported", "changed_since_import", "empty", "repeated_in_file"
]
Note = Literal["empty_messages", "attachments_left_out", "other_roles_left_out"]


class ImportOutcomeOut(_Out):
    """One conversation of the file, in the file's order."""

    title: str
    outcome: Outcome = Field(
        description="imported; skipped as already_imported (the same source conversation is "
        "here), changed_since_import (it is here, but its messages changed at the source since: "
        "delete the copy here to import the new version), empty (no messages) or "
        "repeated_in_file (the same source id twice in the file)."
    )
    conversation_id: str | None = Field(
        description="The new conversation, or the copy already here; null for the others."
    )
    messages: int = Field(description="Messages imported (or, when skipped, in the file).")
    created_at: datetime | None = Field(description="Its original creation time, when known.")
    updated_at: datetime | None = Field(description="Its original last activity, when known.")
    notes: dict[Note, int] = Field(description="What was left out of it, by kind: how many.")


class ImportReportOut(_Out):
    format: str
    conversations: int = Field(description="Conversations imported.")
    messages: int = Field(description="Messages imported.")
    conversation_ids: list[str]
    counts: dict[Outcome, int] = Field(description="Conversations of the file by outcome.")
    outcomes: list[ImportOutcomeOut]
    skipped: list[dict[str, str]] = Field(
        description="What was left out and why, in English: {where, reason}."
    )


class ShareOut(_Out):
    id: str
    title: str
    created_at: datetime
    url: str | None = Field(None, description="Shown once, when the link is created.")


# Files up to this size are parsed in a worker thread of the server: the longest single step
# (one orjson/pydantic call over the whole file, which holds the GIL) stays a few milliseconds.
# Larger ones are spooled to disk as they arrive and parsed by a child process.
IN_PROCESS_MAX = 1024 * 1024
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The export file itself (at most `max_import_bytes`, 64 MiB by default).",
        "content": {"application/json": {"schema": {}}},
    }
}


async def _receive(request: Request, spool_dir: Path) -> tuple[bytearray, Path | None]:
    """The body, read as it arrives: kept in memory when small; past IN_PROCESS_MAX written to a
    private temporary file a block at a time, from a worker thread (a write can wait on the disk),
    so it is never held in memory. The size limit is enforced while reading
    (chatgate.api.middleware.BodyLimit)."""
    buffer = bytearray()
    spooled: Path | None = None
    file: IO[bytes] | None = None
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) < IN_PROCESS_MAX:
                continue
            if file is None:
                spool_dir.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=".import-", suffix=".json", dir=spool_dir)
                spooled = Path(name)
                file = os.fdopen(fd, "wb")
            await asyncio.to_thread(file.write, buffer)
            buffer = bytearray()
        if file is not None:
            await asyncio.to_thread(file.write, buffer)
            buffer = bytearray()
    except BaseException:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
        raise
    finally:
        if file is not None:
            file.close()
    return buffer, spooled


@router.post(
    "/api/import",
    response_model=ImportReportOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=IMPORT_BODY,
)
async def import_history(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    time_zone: Annotated[
        str | None,
        Query(
            alias="timezone",
            max_length=64,
            pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$",
            description="The IANA time zone chatgpt-web's local message times are read in "
            "when the file does not tell (the web app sends the browser's).",
        ),
    ] = None,
) -> ImportReportOut:
    """The request body is the export file itself: chatgpt-web's export (or the
    `{"data": ..., "expire": ...}` value of its localStorage), ChatGPT's `conversations.json`,
    or a ChatGate export. All of it is imported, or nothing; conversations keep their original
    dates; a conversation already imported from the same source is skipped, so importing a file
    again adds nothing. Nothing of it is parsed on the event loop: other people's streams go on
    while a large file is read."""
    known = {route.model.id for route in services.registry.models()}
    body, spooled = await _receive(request, Path(services.settings.data_dir) / "tmp")
    try:
        if spooled is None:
            parsed = await asyncio.to_thread(parse, body, zone_named(time_zone))
            del body
            report = await services.transfer.import_parsed(user.id, parsed, known_models=known)
        else:
            report = await services.transfer.import_file(
                user.id, spooled, known_models=known, time_zone=time_zone
            )
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    return ImportReportOut.model_validate(report)


# The language of the HTML page's own words ("You", "Stopped" …); the closest shipped one is used.
ExportLanguage = Annotated[
    str | None, Query(max_length=35, description="UI language for the HTML page's labels.")
]


async def _export(
    services: Any,
    user_id: str,
    format: Format,
    ids: list[str] | None,
    name: str,
    lang: str | None,
) -> Response:
    transfer = services.transfer
    chosen = await transfer.export_ids(user_id, ids)
    chunks = (
        transfer.export_html(user_id, chosen, lang)
        if format == "html"
        else {"json": transfer.export_json, "markdown": transfer.export_markdown}[format](
            user_id, chosen
        )
    )
    return StreamingResponse(
        chunks,
        media_type=MEDIA[format],
        # An attachment, never rendered inline at our origin.
        headers={"content-disposition": f'attachment; filename="{name}.{SUFFIX[format]}"'},
    )


EXPORT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export file, streamed as it is written.",
        "content": {media.split(";")[0]: {} for media in MEDIA.values()},
    }
}


@router.get("/api/export", response_class=Response, responses=EXPORT_RESPONSE)
async def export_all(
    user: CurrentUser,
    services: ServicesDep,
    format: Annotated[Format, Query()] = "json",
    lang: ExportLanguage = None,
) -> Response:
    return await _export(services, user.id, format, None, "chatgate-export", lang)


@router.get(
    "/api/conversations/{conversation_id}/export",
    response_class=Response,
    responses=EXPORT_RESPONSE,
)
async def export_one(
    conversation_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    format: Annotated[Format, Query()] = "json",
    lang: ExportLanguage = None,
) -> Response:
    return await _export(
        services, user.id, format, [conversation_id], f"conversation-{conversation_id[-8:]}", lang
    )


@router.post(
    "/api/conversations/{conversation_id}/shares",
    response_model=ShareOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_share(
    conversation_id: Id, request: Request, user: CurrentUser, services: ServicesDep
) -> ShareOut:
    share, token = await services.shares.create(user.id, conversation_id)
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    return ShareOut.model_validate(share).model_copy(update={"url": f"{base}/s/{token}"})


@router.get("/api/conversations/{conversation_id}/shares", response_model=list[ShareOut])
async def list_shares(
    conversation_id: Id, user: CurrentUser, services: ServicesDep
) -> list[ShareOut]:
    return [
        ShareOut.model_validate(s) for s in await services.shares.list(user.id, conversation_id)
    ]


@router.delete("/api/shares/{share_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_share(share_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    await services.shares.revoke(user.id, share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@router.get("/api/shared/{token}")
async def open_share(token: str, response: Response, services: ServicesDep) -> dict[str, Any]:
    """Public: the shared snapshot, for anyone with the link (no sign-in). Anything that does not
    open — malformed, revoked, unknown — is the same 404."""
    response.headers["x-robots-tag"] = "noindex, nofollow"
    if not _TOKEN.match(token):
        raise NotFound("This shared conversation does not exist.")
    return await services.shares.open(token)
