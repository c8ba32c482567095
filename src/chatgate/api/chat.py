"""Chat: send a message and stream the answer; re-attach; stop; regenerate; continue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import ContinueIn, Id, RegenerateIn, SendIn, StopOut
from chatgate.api.sse import GenerationStream, RemoteGenerationStream, StoredAnswerStream
from chatgate.errors import BadRequest
from chatgate.services.container import Services
from chatgate.services.live import LiveGeneration

router = APIRouter(tags=["chat"])
STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-sent events (docs/api.md)."}
}


def _follow(services: Services, generation: LiveGeneration, after: int = 0) -> GenerationStream:
    return GenerationStream(
        generation,
        after=after,
        on_open=services.generations.subscribed,
        on_close=services.generations.unsubscribed,
    )


@router.post(
    "/api/conversations/{conversation_id}/messages", response_class=Response, responses=STREAM
)
async def send_message(
    conversation_id: Id, body: SendIn, user: CurrentUser, services: ServicesDep
) -> Response:
    """Ask; the answer streams back. Leave out `parent_id` to continue the current branch, give
    it to branch from an earlier answer (edit and resend), or send null for a new first question."""
    most = services.settings.attachments_per_message
    if len(body.attachments) > most:
        raise BadRequest(f"A message may carry at most {most} files.")
    generation = await services.chat.send(
        user.id,
        conversation_id,
        body.content,
        parent_id=body.parent_id,
        root="parent_id" in body.model_fields_set and body.parent_id is None,
        model=body.model,
        attachments=body.attachments,
    )
    return _follow(services, generation)


@router.post(
    "/api/conversations/{conversation_id}/messages/{message_id}/regenerate",
    response_class=Response,
    responses=STREAM,
)
async def regenerate(
    conversation_id: Id,
    message_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    body: RegenerateIn | None = None,
) -> Response:
    model = body.model if body else None
    generation = await services.chat.regenerate(user.id, conversation_id, message_id, model=model)
    return _follow(services, generation)


@router.post(
    "/api/conversations/{conversation_id}/messages/{message_id}/continue",
    response_class=Response,
    responses=STREAM,
)
async def continue_answer(
    conversation_id: Id,
    message_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    _body: ContinueIn | None = None,
) -> Response:
    generation = await services.chat.continue_(user.id, conversation_id, message_id)
    return _follow(services, generation)


@router.get("/api/generations/{generation_id}/events", response_class=Response, responses=STREAM)
async def generation_events(
    generation_id: Id,
    user: CurrentUser,
    services: ServicesDep,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^[0-9]{1,15}$",
            description="The id of the last event received; only later ones are sent.",
        ),
    ] = None,
) -> Response:
    """Re-attach to a generation; with `Last-Event-ID` only the events after it are sent."""
    after = int(last_event_id) if last_event_id else 0
    generation = services.generations.get(user.id, generation_id)
    if generation is None:
        elsewhere = await services.generations.follow_elsewhere(user.id, generation_id, after)
        if elsewhere is not None:
            return RemoteGenerationStream(elsewhere)
    elif generation.replays_from(after):
        return _follow(services, generation, after)
    # Finished, and what the client missed is no longer in memory: the stored answer whole.
    message = await services.generations.stored(user.id, generation_id)
    error = (
        {"code": message.error_code, "message": message.error_message or ""}
        if message.error_code
        else None
    )
    prompt, completion = message.prompt_tokens, message.completion_tokens
    return StoredAnswerStream(
        message.content,
        message.status,
        error,
        after=after,
        reasoning=message.reasoning or "",
        usage=(
            {"prompt_tokens": prompt, "completion_tokens": completion}
            if prompt is not None and completion is not None
            else None
        ),
    )


@router.post(
    "/api/generations/{generation_id}/stop",
    response_model=StopOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def stop_generation(generation_id: Id, user: CurrentUser, services: ServicesDep) -> StopOut:
    """Stop a queued or running answer from any tab; the partial answer is kept."""
    return StopOut(status=await services.generations.stop(user.id, generation_id))
