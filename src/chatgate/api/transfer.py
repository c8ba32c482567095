"""Import and export of history, and read-only share links."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Id, _Out
from chatgate.errors import NotFound
from chatgate.services.importers import parse

router = APIRouter(tags=["import-export"])
Format = Literal["json", "markdown", "html"]
MEDIA = {
    "json": "application/json",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
SUFFIX = {"json": "json", "markdown": "md", "html": "html"}


class ImportReportOut(_Out):
    format: str
    conversations: int
    messages: int
    conversation_ids: list[str]
    skipped: list[dict[str, str]]


class ShareOut(_Out):
    id: str
    title: str
    created_at: datetime
    url: str | None = Field(None, description="Shown once, when the link is created.")


@router.post("/api/import", response_model=ImportReportOut, status_code=status.HTTP_201_CREATED)
async def import_history(
    request: Request, user: CurrentUser, services: ServicesDep
) -> ImportReportOut:
    """The request body is the export file itself: chatgpt-web's export, ChatGPT's
    `conversations.json`, or a ChatGate export. All of it is imported, or nothing."""
    parsed = parse(await request.body())
    report = await services.transfer.import_parsed(user.id, parsed)
    return ImportReportOut.model_validate(report)


async def _export(
    services: Any, user_id: str, format: Format, ids: list[str] | None, name: str
) -> Response:
    transfer = services.transfer
    if format == "json":
        body: bytes | str = orjson.dumps(
            await transfer.export_json(user_id, ids), option=orjson.OPT_INDENT_2
        )
    elif format == "markdown":
        body = await transfer.export_markdown(user_id, ids)
    else:
        body = await transfer.export_html(user_id, ids)
    return Response(
        body,
        media_type=MEDIA[format],
        # An attachment, never rendered inline at our origin.
        headers={"content-disposition": f'attachment; filename="{name}.{SUFFIX[format]}"'},
    )


@router.get("/api/export", response_class=Response)
async def export_all(
    user: CurrentUser, services: ServicesDep, format: Annotated[Format, Query()] = "json"
) -> Response:
    return await _export(services, user.id, format, None, "chatgate-export")


@router.get("/api/conversations/{conversation_id}/export", response_class=Response)
async def export_one(
    conversation_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    format: Annotated[Format, Query()] = "json",
) -> Response:
    return await _export(
        services, user.id, format, [conversation_id], f"conversation-{conversation_id[-8:]}"
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
