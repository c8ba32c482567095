"""Files attached to questions: upload before sending, remove while unsent, and the bytes for
their owner and for viewers of a live share link of their conversation.

What is served is never active content: images (re-encoded by the server) inline with their
own type; everything else as a download of `application/octet-stream`. Always `nosniff`, a
sandboxing Content-Security-Policy, and a private cache."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Response, UploadFile, status

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import AttachmentOut, Id, error_responses
from chatgate.services.attachments.sniff import IMAGE_TYPES
from chatgate.services.attachments.store import StoredFile, listed

router = APIRouter(tags=["attachments"])
UPLOADS = "/api/attachments"
# The multipart envelope around the file (boundaries, headers): a body this much over the file
# limit is still read, so a file just over it gets `attachment_too_large`.
FORM_OVERHEAD = 64 * 1024
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/png": {}, "image/jpeg": {}, "application/octet-stream": {}},
        "description": "The file: images inline, anything else as a download.",
    }
}


def file_response(attachment: StoredFile) -> Response:
    # X-Content-Type-Options: nosniff is on every response already (api.middleware).
    headers = {
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    filename = quote(attachment.name, safe="")
    if attachment.media_type in IMAGE_TYPES:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{filename}"
        media_type = attachment.media_type
    else:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
        media_type = "application/octet-stream"
    return Response(content=attachment.data, media_type=media_type, headers=headers)


@router.post(
    UPLOADS,
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(415),
)
async def upload(
    file: Annotated[UploadFile, File(description="The file (multipart/form-data).")],
    user: CurrentUser,
    services: ServicesDep,
) -> dict[str, Any]:
    """Stored until sent with a question (unsent uploads are deleted after a day). The type is
    sniffed from the bytes; images are re-encoded without metadata; documents are read to
    text. The same bytes uploaded again before sending give the same file."""
    limit = services.settings.attachment_max_bytes
    data = await file.read(limit + 1)
    attachment = await services.attachments.upload(user.id, file.filename, data)
    return listed(attachment)


@router.delete(f"{UPLOADS}/{{attachment_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def remove(attachment_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    """Only while not sent with a message (a sent file goes with its message)."""
    await services.attachments.delete_unsent(user.id, attachment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(f"{UPLOADS}/{{attachment_id}}", response_class=Response, responses=FILE_RESPONSE)
async def download(attachment_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    """The owner's file (anyone else: 404)."""
    return file_response(await services.attachments.own(user.id, attachment_id))


@router.get(
    "/api/shared/{token}/attachments/{attachment_id}",
    response_class=Response,
    responses=FILE_RESPONSE,
)
async def shared_download(token: str, attachment_id: Id, services: ServicesDep) -> Response:
    """Public: a file of the shared conversation, while the link is live (else 404)."""
    conversation_id = await services.shares.attachment(token, attachment_id)
    response = file_response(
        await services.attachments.in_conversation(conversation_id, attachment_id)
    )
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
