"""Admin → Upstreams: providers, credentials and models managed in the browser (issue 18).

Administrators only. Keys and proxies go in and never come out. Providers from the configuration
file are listed (`source: "file"`) and read-only, but their models can be discovered, tested and
given settings like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from chatgate.api.deps import AdminUser, ServicesDep
from chatgate.api.schemas import Id
from chatgate.api.sse import EventStream
from chatgate.api.upstream_schemas import (
    CredentialIn,
    CredentialOut,
    CredentialPatch,
    DiscoverIn,
    FileTestIn,
    ModelSettingIn,
    ModelSettingOut,
    ModelsFound,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    SavedTestIn,
    TestIn,
    UpstreamsOut,
)
from chatgate.errors import NotFound
from chatgate.services.upstreams import upstreams_view

router = APIRouter(prefix="/api/admin/upstreams", tags=["admin"])
STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


async def _view(services: Any) -> dict[str, Any]:
    return await upstreams_view(
        services.upstreams, services.registry, services.scheduler, services.chat.default_model()
    )


async def _provider(services: Any, provider_id: str) -> ProviderOut:
    found = next((p for p in (await _view(services))["providers"] if p["id"] == provider_id), None)
    if found is None:
        raise NotFound("No such provider.")
    return ProviderOut.model_validate(found)


async def _credential(services: Any, provider_id: str, credential_id: str) -> CredentialOut:
    provider = await _provider(services, provider_id)
    found = next((c for c in provider.credentials if c.id == credential_id), None)
    if found is None:
        raise NotFound("No such credential.")
    return found


def _given(body: Any) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.model_fields_set}


@router.get("", response_model=UpstreamsOut)
async def list_upstreams(_admin: AdminUser, services: ServicesDep) -> UpstreamsOut:
    return UpstreamsOut.model_validate(await _view(services))


@router.post("/providers", response_model=ProviderOut, status_code=status.HTTP_201_CREATED)
async def create_provider(body: ProviderIn, admin: AdminUser, services: ServicesDep) -> ProviderOut:
    provider_id = await services.upstream_console.create_provider(admin.id, body.model_dump())
    return await _provider(services, provider_id)


@router.patch("/providers/{provider_id}", response_model=ProviderOut)
async def update_provider(
    provider_id: str, body: ProviderPatch, admin: AdminUser, services: ServicesDep
) -> ProviderOut:
    await services.upstream_console.update_provider(admin.id, provider_id, _given(body))
    return await _provider(services, provider_id)


@router.delete("/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(provider_id: str, admin: AdminUser, services: ServicesDep) -> Response:
    await services.upstream_console.delete_provider(admin.id, provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/providers/{provider_id}/credentials",
    response_model=CredentialOut,
    status_code=status.HTTP_201_CREATED,
)
async def add_credential(
    provider_id: str, body: CredentialIn, admin: AdminUser, services: ServicesDep
) -> CredentialOut:
    credential_id = await services.upstream_console.add_credential(
        admin.id, provider_id, body.model_dump()
    )
    return await _credential(services, provider_id, credential_id)


@router.patch("/providers/{provider_id}/credentials/{credential_id}", response_model=CredentialOut)
async def update_credential(
    provider_id: str,
    credential_id: Id,
    body: CredentialPatch,
    admin: AdminUser,
    services: ServicesDep,
) -> CredentialOut:
    await services.upstream_console.update_credential(
        admin.id, provider_id, credential_id, _given(body)
    )
    return await _credential(services, provider_id, credential_id)


@router.delete(
    "/providers/{provider_id}/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_credential(
    provider_id: str, credential_id: Id, admin: AdminUser, services: ServicesDep
) -> Response:
    await services.upstream_console.delete_credential(admin.id, provider_id, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- discovery and the connection test ------------------------------------------------------------
@router.post("/discover", response_model=ModelsFound)
async def discover(body: DiscoverIn, _admin: AdminUser, services: ServicesDep) -> ModelsFound:
    probe = services.probe
    async with probe.provider(probe.form_config(body.model_dump())) as provider:
        return ModelsFound(models=await probe.discover(provider))


@router.post("/providers/{provider_id}/discover", response_model=ModelsFound)
async def discover_saved(provider_id: str, _admin: AdminUser, services: ServicesDep) -> ModelsFound:
    probe = services.probe
    async with probe.provider(await probe.saved_config(provider_id)) as provider:
        return ModelsFound(models=await probe.discover(provider))


@router.post("/file/{provider}/discover", response_model=ModelsFound)
async def discover_file(provider: str, _admin: AdminUser, services: ServicesDep) -> ModelsFound:
    probe = services.probe
    async with probe.provider(file=provider) as running:
        return ModelsFound(models=await probe.discover(running))


@router.post("/test", response_class=Response, responses=STREAM)
async def test(body: TestIn, _admin: AdminUser, services: ServicesDep) -> Response:
    """A short answer streamed from an unsaved service: `delta`… `done`, or one `error`."""
    config = services.probe.form_config(body.model_dump())
    return EventStream(services.probe.run_test(body.model, config))


@router.post("/providers/{provider_id}/test", response_class=Response, responses=STREAM)
async def test_saved(
    provider_id: str, body: SavedTestIn, _admin: AdminUser, services: ServicesDep
) -> Response:
    config = await services.probe.saved_config(provider_id, body.credential_id)
    return EventStream(services.probe.run_test(body.model, config))


@router.post("/file/{provider}/test", response_class=Response, responses=STREAM)
async def test_file(
    provider: str, body: FileTestIn, _admin: AdminUser, services: ServicesDep
) -> Response:
    if not services.upstreams.is_file_provider(provider):
        raise NotFound("No such provider in the configuration file.")
    return EventStream(services.probe.run_test(body.model, file=provider))


# -- model settings -------------------------------------------------------------------------------
@router.put("/models/{provider}/{model_id:path}", response_model=ModelSettingOut)
async def put_model(
    provider: str, model_id: str, body: ModelSettingIn, admin: AdminUser, services: ServicesDep
) -> ModelSettingOut:
    await services.upstream_console.put_model(admin.id, provider, model_id, body.model_dump())
    view = await _view(services)
    for found in view["providers"]:
        for model in found["models"]:
            if found["name"] == provider and model["id"] == model_id:
                return ModelSettingOut.model_validate(model)
    raise NotFound("No such model.")
