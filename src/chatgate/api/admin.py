"""Administration: accounts and invites. Administrators see accounts, never conversation content."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from chatgate.api.deps import AdminUser, ServicesDep
from chatgate.api.schemas import (
    AdminPasswordIn,
    AdminUserIn,
    AdminUserPatch,
    Id,
    InviteIn,
    InviteOut,
    UserOut,
)
from chatgate.errors import Conflict

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/users", response_model=list[UserOut])
async def list_users(_admin: AdminUser, services: ServicesDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await services.users.all()]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: AdminUserIn, _admin: AdminUser, services: ServicesDep) -> UserOut:
    return UserOut.model_validate(
        await services.users.create_user(body.username, body.password, role=body.role)
    )


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: Id, body: AdminUserPatch, admin: AdminUser, services: ServicesDep
) -> UserOut:
    """Approve (status active), disable, or change the role; the user's sessions end at once."""
    if user_id == admin.id and (body.role == "user" or body.status in ("disabled", "pending")):
        raise Conflict("You cannot demote or disable yourself; ask another administrator.")
    return UserOut.model_validate(
        await services.users.update(user_id, role=body.role, status=body.status)
    )


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    user_id: Id, body: AdminPasswordIn, _admin: AdminUser, services: ServicesDep
) -> Response:
    await services.users.set_password(user_id, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_id}/signout", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_everywhere(user_id: Id, _admin: AdminUser, services: ServicesDep) -> Response:
    await services.users.get(user_id)
    await services.auth.end_all_sessions(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/invites", response_model=list[InviteOut])
async def list_invites(_admin: AdminUser, services: ServicesDep) -> list[InviteOut]:
    return [InviteOut.model_validate(i) for i in await services.users.list_invites()]


@router.post("/invites", response_model=InviteOut, status_code=status.HTTP_201_CREATED)
async def create_invite(
    body: InviteIn, request: Request, admin: AdminUser, services: ServicesDep
) -> InviteOut:
    invite, code = await services.users.create_invite(
        admin.id, max_uses=body.max_uses, days=body.days, role=body.role, note=body.note
    )
    base = services.settings.public_url or str(request.base_url)
    out = InviteOut.model_validate(invite)
    return out.model_copy(
        update={"code": code, "url": f"{base.rstrip('/')}/register?invite={code}"}
    )


@router.delete("/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invite(invite_id: Id, _admin: AdminUser, services: ServicesDep) -> Response:
    await services.users.revoke_invite(invite_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
