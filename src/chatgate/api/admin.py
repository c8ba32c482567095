"""Administration: accounts, invites, quotas, upstreams, usage and the audit log.

Administrators see usage, never conversation content — unless the operator sets
`admin_content_access`, and then every reading is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from chatgate.api.conversations import conversation_out, message_out
from chatgate.api.deps import AdminUser, ServicesDep
from chatgate.api.schemas import (
    AdminPasswordIn,
    AdminUserIn,
    AdminUserOut,
    AdminUserPatch,
    ConversationPage,
    Day,
    Id,
    InstanceSettingsIn,
    InstanceSettingsOut,
    InviteIn,
    InviteOut,
    MessageList,
)
from chatgate.api.sse import SelfTestStream
from chatgate.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chatgate.ids import utcnow
from chatgate.services.container import Services
from chatgate.services.users import UserInfo

router = APIRouter(prefix="/api/admin", tags=["admin"])


def _admin_user(services: Services, user: UserInfo) -> AdminUserOut:
    effective = services.quotas.effective(user.role, user.quota).model_dump()
    return AdminUserOut.model_validate(user).model_copy(update={"effective_quota": effective})


@router.get("/users", response_model=list[AdminUserOut])
async def list_users(_admin: AdminUser, services: ServicesDep) -> list[AdminUserOut]:
    """Accounts with their quota overrides and the limits that result."""
    return [_admin_user(services, u) for u in await services.users.all()]


@router.post("/users", response_model=AdminUserOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: AdminUserIn, admin: AdminUser, services: ServicesDep) -> AdminUserOut:
    user = await services.users.create_user(body.username, body.password, role=body.role)
    await services.audit.record(
        admin.id, "user.create", target_user_id=user.id, detail=user.username
    )
    return _admin_user(services, user)


@router.patch("/users/{user_id}", response_model=AdminUserOut)
async def update_user(
    user_id: Id, body: AdminUserPatch, admin: AdminUser, services: ServicesDep
) -> AdminUserOut:
    """Approve (status active), disable, change the role (the user's sessions end at once), or set
    the user's quota overrides."""
    if user_id == admin.id and (body.role == "user" or body.status in ("disabled", "pending")):
        raise Conflict("You cannot demote or disable yourself; ask another administrator.")
    user = await services.users.get(user_id)
    if body.role is not None or body.status is not None:
        user = await services.users.update(user_id, role=body.role, status=body.status)
        await services.audit.record(
            admin.id,
            "user.update",
            target_user_id=user_id,
            detail=f"role={user.role} status={user.status}",
        )
    if "quota" in body.model_fields_set:
        overrides = body.quota.overrides() if body.quota else {}
        user = await services.users.set_quota(user_id, overrides or None)
        await services.audit.record(
            admin.id, "user.quota", target_user_id=user_id, detail=str(overrides)
        )
    return _admin_user(services, user)


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    user_id: Id, body: AdminPasswordIn, admin: AdminUser, services: ServicesDep
) -> Response:
    await services.users.set_password(user_id, body.password)
    await services.audit.record(admin.id, "user.password_reset", target_user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_id}/signout", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_everywhere(user_id: Id, admin: AdminUser, services: ServicesDep) -> Response:
    await services.users.get(user_id)
    await services.auth.end_all_sessions(user_id)
    await services.audit.record(admin.id, "user.signout", target_user_id=user_id)
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
    await services.audit.record(
        admin.id, "invite.create", detail=f"role={body.role} uses={body.max_uses}"
    )
    base = services.settings.public_url or str(request.base_url)
    out = InviteOut.model_validate(invite)
    return out.model_copy(
        update={"code": code, "url": f"{base.rstrip('/')}/register?invite={code}"}
    )


@router.delete("/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invite(invite_id: Id, admin: AdminUser, services: ServicesDep) -> Response:
    await services.users.revoke_invite(invite_id)
    await services.audit.record(admin.id, "invite.revoke", detail=invite_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the instance ---------------------------------------------------------------------------
def _instance_settings(services: Services) -> InstanceSettingsOut:
    return InstanceSettingsOut(
        **services.site_settings.as_dict(),
        configured_default_model=services.registry.default_model,
        effective_default_model=services.chat.default_model(),
    )


@router.get("/settings", response_model=InstanceSettingsOut)
async def get_settings(_admin: AdminUser, services: ServicesDep) -> InstanceSettingsOut:
    return _instance_settings(services)


@router.patch("/settings", response_model=InstanceSettingsOut)
async def update_settings(
    body: InstanceSettingsIn, admin: AdminUser, services: ServicesDep
) -> InstanceSettingsOut:
    """Registration policy, default model and the announcement banner, changed at run time."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if changes.get("default_model"):
        services.registry.route(changes["default_model"])  # must exist
    await services.site_settings.update(changes)
    await services.audit.record(admin.id, "settings.update", detail=str(changes))
    return _instance_settings(services)


@router.get(
    "/selftest/stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def selftest_stream(_admin: AdminUser) -> Response:
    """Twenty events 100 ms apart: the console measures whether they arrive one by one."""
    return SelfTestStream()


@router.get("/providers")
async def providers(_admin: AdminUser, services: ServicesDep) -> list[dict[str, Any]]:
    """Each upstream: its models, queue and credentials' state (ready, cooling down after a 429,
    resting after a refusal — with the redacted reason, when it happened and the next try).
    `usable` is false while no credential can answer: people get `upstream_resting` meanwhile."""
    rows = []
    for provider in services.registry.providers:
        credentials = await services.scheduler.status(provider.name)
        rows.append(
            {
                "name": provider.name,
                "kind": provider.kind.value,
                "models": [m.id for m in provider.models],
                "queue_length": await services.scheduler.queue_length(provider.name),
                "usable": not credentials or any(c["state"] != "resting" for c in credentials),
                "credentials": credentials,
            }
        )
    return rows


@router.post(
    "/providers/{provider}/credentials/{credential}/retry",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def retry_credential(
    admin: AdminUser, services: ServicesDep, provider: str, credential: str
) -> None:
    """ "Try now": end the credential's cool-down or rest, so the next request uses it."""
    names = {p.name: [c.name for c in p.credentials] for p in services.registry.providers}
    if credential not in names.get(provider, []):
        raise NotFound("No such credential.")
    await services.scheduler.try_now(provider, credential)
    await services.audit.record(admin.id, "credential.try_now", detail=f"{provider}/{credential}")


# -- usage ------------------------------------------------------------------------------------
GROUPS = ("day", "user", "model")


def _period(since: date | None, until: date | None) -> tuple[str, str]:
    today = utcnow().date()
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise ValidationFailed("since must not be after until.")
    return since.isoformat(), until.isoformat()


def _groups(group: str) -> list[str]:
    chosen = [g.strip() for g in group.split(",") if g.strip()]
    if not chosen or any(g not in GROUPS for g in chosen):
        raise ValidationFailed("group is a comma-separated list of day, user and model.")
    return chosen


@router.get("/usage")
async def usage(
    _admin: AdminUser,
    services: ServicesDep,
    since: Day | None = None,
    until: Day | None = None,
    group: Annotated[str, Query(max_length=40)] = "day",
) -> list[dict[str, Any]]:
    """Requests, tokens and cost between two UTC days, grouped by day, user and/or model."""
    first, last = _period(since, until)
    return await services.usage.summary(since_day=first, until_day=last, group=_groups(group))


@router.get("/usage.csv", response_class=Response)
async def usage_csv(
    _admin: AdminUser,
    services: ServicesDep,
    since: Day | None = None,
    until: Day | None = None,
    group: Annotated[str, Query(max_length=40)] = "day,user,model",
) -> Response:
    first, last = _period(since, until)
    groups = _groups(group)
    rows = await services.usage.summary(since_day=first, until_day=last, group=groups)
    out = io.StringIO()
    fields = [*groups, "requests", "prompt_tokens", "completion_tokens", "cost_usd"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        # A username starting with = + - @ would be a formula in a spreadsheet.
        writer.writerow(
            {k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v) for k, v in row.items()}
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="chatgate-usage-{first}-{last}.csv"'
        },
    )


@router.get("/audit")
async def audit_log(_admin: AdminUser, services: ServicesDep) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.id,
            "actor": actor,
            "action": entry.action,
            "target_user_id": entry.target_user_id,
            "detail": entry.detail,
            "created_at": entry.created_at.isoformat(),
        }
        for entry, actor in await services.audit.recent()
    ]


# -- content, only where the operator allows it --------------------------------------------
def _content_allowed(services: Services) -> None:
    if not services.settings.admin_content_access:
        raise Forbidden(
            "Administrators cannot read conversations on this server (admin_content_access is off)."
        )


@router.get("/users/{user_id}/conversations", response_model=ConversationPage)
async def user_conversations(
    user_id: Id, admin: AdminUser, services: ServicesDep
) -> ConversationPage:
    _content_allowed(services)
    await services.users.get(user_id)
    page = await services.conversations.page(user_id, limit=100, cursor=None, query=None)
    await services.audit.record(admin.id, "content.list", target_user_id=user_id)
    return ConversationPage(
        items=[conversation_out(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get("/users/{user_id}/conversations/{conversation_id}/messages", response_model=MessageList)
async def user_messages(
    user_id: Id, conversation_id: Id, admin: AdminUser, services: ServicesDep
) -> MessageList:
    _content_allowed(services)
    messages, leaf = await services.conversations.messages(user_id, conversation_id)
    await services.audit.record(
        admin.id, "content.read", target_user_id=user_id, detail=f"conversation {conversation_id}"
    )
    return MessageList(messages=[message_out(m) for m in messages], current_leaf_id=leaf)
