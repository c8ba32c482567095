"""The models a signed-in user may choose."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import ModelOut, ModelsOut

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelsOut)
async def list_models(user: CurrentUser, services: ServicesDep) -> ModelsOut:
    quota = services.quotas.effective(user.role, user.quota)
    routes = [
        r for r in services.registry.models() if services.quotas.model_allowed(quota, r.model.id)
    ]
    default = services.chat.default_model()
    if default not in {r.model.id for r in routes}:
        default = routes[0].model.id if routes else None
    return ModelsOut(
        default=default,
        models=[ModelOut(id=r.model.id, provider=r.provider.name, name=r.model.id) for r in routes],
        bundled_demo=services.registry.bundled_default,
    )
