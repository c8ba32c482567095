"""The models a signed-in user may choose."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import ModelOut, ModelsOut

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelsOut)
async def list_models(user: CurrentUser, services: ServicesDep) -> ModelsOut:
    """The models this person may choose: enabled ones, by their display names."""
    quota = services.quotas.effective(user.role, user.quota)
    routes = [
        r
        for r in services.registry.models_for(user.role, user.username)
        if services.quotas.model_allowed(quota, r.model.id)
    ]
    default = services.chat.default_model()
    if default not in {r.model.id for r in routes}:
        default = routes[0].model.id if routes else None
    return ModelsOut(
        default=default,
        models=[
            ModelOut(
                id=r.model.id,
                provider=r.provider.name,
                name=r.name,
                vision=r.vision,
                reasoning=r.reasoning,
            )
            for r in routes
        ],
        bundled_demo=services.registry.is_bundled(default),
    )
