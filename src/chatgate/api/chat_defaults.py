"""New-chat defaults: the settings a person's new conversations start with, on every device."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import SettingsIn, SettingsOut
from chatgate.services.chat_defaults import ChatDefaults

router = APIRouter(prefix="/api/account/defaults", tags=["account"])


@router.get("", response_model=SettingsOut)
async def get_defaults(user: CurrentUser, services: ServicesDep) -> SettingsOut:
    """My defaults for new chats (null fields: the server's default)."""
    return SettingsOut.model_validate(await ChatDefaults(services.db).get(user.id))


@router.put("", response_model=SettingsOut)
async def put_defaults(body: SettingsIn, user: CurrentUser, services: ServicesDep) -> SettingsOut:
    """Replace my defaults; a field left out is the server's default. A conversation created
    without some setting takes it from here."""
    settings = await ChatDefaults(services.db).put(user.id, body.changes())
    return SettingsOut.model_validate(settings)
