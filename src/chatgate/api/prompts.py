"""The prompt library: a person's own prompts (synced across their devices, chatgpt-web's
prompt JSON in and out) and the collection the administrators share with everyone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Response, status
from pydantic import Field

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Id, Text, _In, _Out
from chatgate.services.prompts import KEY_MAX, VALUE_MAX, Prompts
from chatgate.services.shared_prompts import SharedPrompts

router = APIRouter(prefix="/api/prompts", tags=["prompts"])


class PromptIn(_In):
    key: Annotated[Text, Field(min_length=1, max_length=KEY_MAX * 2)]
    value: Annotated[Text, Field(min_length=1, max_length=VALUE_MAX)]


class PromptPatch(_In):
    key: Annotated[Text, Field(min_length=1, max_length=KEY_MAX * 2)] | None = None
    value: Annotated[Text, Field(min_length=1, max_length=VALUE_MAX)] | None = None


class PromptOut(_Out):
    id: str
    key: str
    value: str
    created_at: datetime
    updated_at: datetime


class PromptImportOut(_Out):
    added: int
    updated: int
    prompts: list[PromptOut]


class SharedPromptOut(_Out):
    id: str
    key: str
    value: str
    locale: str = Field(description="The language of this text (the reader's, or a fallback).")


@router.get("", response_model=list[PromptOut])
async def list_prompts(user: CurrentUser, services: ServicesDep) -> list[PromptOut]:
    """My prompts, oldest first."""
    return [PromptOut.model_validate(p) for p in await Prompts(services.db).list(user.id)]


@router.post("", response_model=PromptOut, status_code=status.HTTP_201_CREATED)
async def create_prompt(body: PromptIn, user: CurrentUser, services: ServicesDep) -> PromptOut:
    """A title already in my library is `409 conflict`."""
    prompt = await Prompts(services.db).create(user.id, body.key, body.value)
    return PromptOut.model_validate(prompt)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def clear_prompts(user: CurrentUser, services: ServicesDep) -> Response:
    """Delete every prompt of my library (the shared collection stays)."""
    await Prompts(services.db).clear(user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/import", response_model=PromptImportOut)
async def import_prompts(
    body: Annotated[list[Any], Body(max_length=5000)], user: CurrentUser, services: ServicesDep
) -> PromptImportOut:
    """chatgpt-web's prompt JSON, `[{"key": "title", "value": "text"}, …]` (or `{act, prompt}`),
    merged into my library: new titles are added, a known title takes the imported text."""
    result = await Prompts(services.db).import_list(user.id, body)
    return PromptImportOut(
        added=result.added,
        updated=result.updated,
        prompts=[PromptOut.model_validate(p) for p in result.prompts],
    )


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "A prompt-store file."}},
)
async def export_prompts(user: CurrentUser, services: ServicesDep) -> Response:
    """My library as chatgpt-web's prompt JSON, as a download."""
    prompts = await Prompts(services.db).list(user.id)
    body = orjson.dumps(
        [{"key": p.key, "value": p.value} for p in prompts], option=orjson.OPT_INDENT_2
    )
    return Response(
        content=body,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="chatgate-prompts.json"'},
    )


@router.get("/shared", response_model=list[SharedPromptOut])
async def shared_prompts(
    _user: CurrentUser,
    services: ServicesDep,
    locale: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")] = None,
) -> list[SharedPromptOut]:
    """The administrators' collection, each prompt in `locale` (else the same language in
    another region, else English)."""
    prompts = await SharedPrompts(services.db).list(locale)
    return [SharedPromptOut(id=p.id, key=p.key, value=p.value, locale=p.locale) for p in prompts]


@router.patch("/{prompt_id}", response_model=PromptOut)
async def update_prompt(
    prompt_id: Id, body: PromptPatch, user: CurrentUser, services: ServicesDep
) -> PromptOut:
    prompt = await Prompts(services.db).update(user.id, prompt_id, key=body.key, value=body.value)
    return PromptOut.model_validate(prompt)


@router.delete("/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_prompt(prompt_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    await Prompts(services.db).delete(user.id, prompt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
