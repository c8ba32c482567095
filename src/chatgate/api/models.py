"""The models a signed-in user may choose."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import ModelOut, ModelsOut

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelsOut)
async def list_models(_user: CurrentUser, services: ServicesDep) -> ModelsOut:
    registry = services.registry
    return ModelsOut(
        default=registry.default_model,
        models=[
            ModelOut(id=r.model.id, provider=r.provider.name, name=r.model.id)
            for r in registry.models()
        ],
    )
