"""The shared prompt collection, kept by administrators: every user sees it in their language."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import Field

from chatgate.api.deps import AdminUser, ServicesDep
from chatgate.api.schemas import Id, Text, _In, _Out
from chatgate.services.prompts import KEY_MAX, VALUE_MAX
from chatgate.services.shared_prompts import MAX_LANGUAGES, SharedPrompts

router = APIRouter(prefix="/api/admin/prompts", tags=["admin"])


class Translation(_In):
    key: Annotated[Text, Field(max_length=KEY_MAX * 2)] = ""
    value: Annotated[Text, Field(max_length=VALUE_MAX)] = ""


class SharedPromptIn(_In):
    translations: Annotated[dict[str, Translation], Field(max_length=MAX_LANGUAGES)] = Field(
        description='UI language → title and text, e.g. {"en-US": {"key", "value"}, "zh-CN": …}; '
        "a language with an empty title and text is removed."
    )


class TranslationOut(_Out):
    key: str
    value: str


class AdminSharedPromptOut(_Out):
    id: str
    translations: dict[str, TranslationOut]
    position: int
    created_at: datetime
    updated_at: datetime


@router.get("", response_model=list[AdminSharedPromptOut])
async def list_shared(_admin: AdminUser, services: ServicesDep) -> list[AdminSharedPromptOut]:
    """Every shared prompt with all its languages, in the order users see them."""
    return [AdminSharedPromptOut.model_validate(p) for p in await SharedPrompts(services.db).all()]


@router.post("", response_model=AdminSharedPromptOut, status_code=status.HTTP_201_CREATED)
async def create_shared(
    body: SharedPromptIn, admin: AdminUser, services: ServicesDep
) -> AdminSharedPromptOut:
    prompt = await SharedPrompts(services.db).create(_plain(body))
    await services.audit.record(admin.id, "prompt.create", detail=prompt.id)
    return AdminSharedPromptOut.model_validate(prompt)


@router.patch("/{prompt_id}", response_model=AdminSharedPromptOut)
async def update_shared(
    prompt_id: Id, body: SharedPromptIn, admin: AdminUser, services: ServicesDep
) -> AdminSharedPromptOut:
    """Replaces the prompt's translations."""
    prompt = await SharedPrompts(services.db).update(prompt_id, _plain(body))
    await services.audit.record(admin.id, "prompt.update", detail=prompt.id)
    return AdminSharedPromptOut.model_validate(prompt)


@router.delete("/{prompt_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_shared(prompt_id: Id, admin: AdminUser, services: ServicesDep) -> Response:
    await SharedPrompts(services.db).delete(prompt_id)
    await services.audit.record(admin.id, "prompt.delete", detail=prompt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _plain(body: SharedPromptIn) -> dict[str, dict[str, str]]:
    return {code: t.model_dump() for code, t in body.translations.items()}
