"""A person's own account: what they have used and have left, and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Id, Text, _In, _Out

router = APIRouter(prefix="/api/account", tags=["account"])


class ApiKeyIn(_In):
    name: Text = Field("API key", max_length=100)


class ApiKeyOut(_Out):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    key: str | None = Field(None, description="The whole key: shown once, when it is created.")


@router.get("/usage")
async def my_usage(user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Limits, what is used, what is left and when each resets."""
    return await services.usage.of_user(user)


@router.get("/keys", response_model=list[ApiKeyOut])
async def list_keys(user: CurrentUser, services: ServicesDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in await services.api_keys.list(user.id)]


@router.post("/keys", response_model=ApiKeyOut, status_code=status.HTTP_201_CREATED)
async def create_key(body: ApiKeyIn, user: CurrentUser, services: ServicesDep) -> ApiKeyOut:
    key, raw = await services.api_keys.create(user.id, body.name)
    return ApiKeyOut.model_validate(key).model_copy(update={"key": raw})


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: Id, user: CurrentUser, services: ServicesDep) -> Response:
    await services.api_keys.revoke(user.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
