"""A person's profile (display name, description, avatar), and the avatar images.

Avatar images are only ever the server's own re-encoding, served from this origin with their
own Content-Type, `nosniff`, a sandboxing Content-Security-Policy and
`Cross-Origin-Resource-Policy: same-origin`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from chatgate.api.deps import CurrentUser, ServicesDep
from chatgate.api.schemas import Text, _In, _Out
from chatgate.services.avatars import MAX_UPLOAD_BYTES
from chatgate.services.profiles import DESCRIPTION_MAX, NAME_MAX, ProfileInfo, Profiles

router = APIRouter(tags=["account"])
OWN_AVATAR = "/api/account/profile/avatar"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/webp": {}, "image/png": {}},
        "description": "The avatar image.",
    }
}


class ProfileIn(_In):
    display_name: Annotated[Text, Field(max_length=NAME_MAX * 2)] | None = None
    description: Annotated[Text, Field(max_length=DESCRIPTION_MAX * 2)] | None = None
    avatar_emoji: Annotated[Text, Field(max_length=64)] | None = Field(
        None, description='An emoji as the avatar (replaces an image); "" removes it.'
    )


class ProfileOut(_Out):
    display_name: str
    description: str
    avatar_emoji: str | None
    avatar_url: str | None = Field(description="Same-origin URL of the avatar image, if any.")
    updated_at: datetime | None


def profile_out(profile: ProfileInfo) -> ProfileOut:
    return ProfileOut(
        display_name=profile.display_name,
        description=profile.description,
        avatar_emoji=profile.avatar_emoji,
        avatar_url=f"{OWN_AVATAR}?v={profile.version}" if profile.has_image else None,
        updated_at=profile.updated_at,
    )


def image_response(data: bytes, content_type: str, *, cache: str) -> Response:
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Cache-Control": cache,
            "Content-Disposition": 'inline; filename="avatar"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cross-Origin-Resource-Policy": "same-origin",
            # X-Content-Type-Options: nosniff is on every response (RequestContext).
        },
    )


@router.get("/api/account/profile", response_model=ProfileOut)
async def get_profile(user: CurrentUser, services: ServicesDep) -> ProfileOut:
    return profile_out(await Profiles(services.db).get(user.id))


@router.patch("/api/account/profile", response_model=ProfileOut)
async def update_profile(body: ProfileIn, user: CurrentUser, services: ServicesDep) -> ProfileOut:
    """Fields left out stay as they are."""
    profile = await Profiles(services.db).update(
        user.id,
        display_name=body.display_name,
        description=body.description,
        avatar_emoji=body.avatar_emoji,
    )
    return profile_out(profile)


@router.put(
    OWN_AVATAR,
    response_model=ProfileOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"The image file itself (PNG, JPEG, GIF or WebP, at most "
            f"{MAX_UPLOAD_BYTES // 1048576} MB). Its type is read from its bytes.",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES},
        }
    },
)
async def upload_avatar(request: Request, user: CurrentUser, services: ServicesDep) -> ProfileOut:
    """Re-encoded to a 256×256 WebP without metadata; replaces an emoji avatar."""
    profile = await Profiles(services.db).set_image(user.id, await request.body())
    return profile_out(profile)


@router.delete(OWN_AVATAR, response_model=ProfileOut)
async def remove_avatar(user: CurrentUser, services: ServicesDep) -> ProfileOut:
    """No avatar (neither image nor emoji)."""
    return profile_out(await Profiles(services.db).remove_avatar(user.id))


@router.get(OWN_AVATAR, response_class=Response, responses=IMAGE_RESPONSE)
async def own_avatar(user: CurrentUser, services: ServicesDep) -> Response:
    data, content_type = await Profiles(services.db).image(user.id)
    return image_response(data, content_type, cache="private, max-age=86400")


@router.get("/api/shared/{token}/avatar", response_class=Response, responses=IMAGE_RESPONSE)
async def shared_avatar(token: str, services: ServicesDep) -> Response:
    """Public: the avatar of the person who shared this conversation (404 once the link is
    revoked, or when they have no avatar image)."""
    owner = await services.shares.owner(token)
    data, content_type = await Profiles(services.db).image(owner)
    response = image_response(data, content_type, cache="public, max-age=300")
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
