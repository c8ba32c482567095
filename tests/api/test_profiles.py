"""A profile per account: name, description and an avatar (an emoji, or an image the server
re-encodes), the same on every device, shown on shared conversations, served safely."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
from PIL import Image

from tests.conftest import PASSWORD, Harness

AVATAR = "/api/account/profile/avatar"


def _jpeg_with_metadata() -> bytes:
    image = Image.new("RGB", (900, 600), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = "secret description in EXIF"  # ImageDescription
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: latitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"secret comment")
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge image (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def _second_device(harness: Harness, username: str) -> httpx.AsyncClient:
    other = await harness.client()
    response = await other.post(
        "/api/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200
    return other


async def test_a_new_account_has_an_empty_profile(harness: Harness) -> None:
    alice = await harness.user("alice")
    assert (await alice.get("/api/account/profile")).json() == {
        "display_name": "",
        "description": "",
        "avatar_emoji": None,
        "avatar_url": None,
        "updated_at": None,
    }
    assert (await alice.get(AVATAR)).status_code == 404


async def test_name_description_and_emoji_follow_the_account(harness: Harness) -> None:
    alice = await harness.user("alice")
    response = await alice.patch(
        "/api/account/profile",
        json={
            "display_name": "  Alice   Liddell ",
            "description": "Curious.\nAlways.",
            "avatar_emoji": "🦊",
        },
    )
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["display_name"] == "Alice Liddell"
    assert profile["description"] == "Curious.\nAlways."
    assert profile["avatar_emoji"] == "🦊"
    phone = await _second_device(harness, "alice")
    assert (await phone.get("/api/account/profile")).json() == profile
    # Fields left out stay; a family emoji (a ZWJ sequence) is one avatar.
    again = await phone.patch("/api/account/profile", json={"avatar_emoji": "👨‍👩‍👧‍👦"})
    assert again.json()["display_name"] == "Alice Liddell"
    assert again.json()["avatar_emoji"] == "👨‍👩‍👧‍👦"
    bob = await harness.user("bob")
    assert (await bob.get("/api/account/profile")).json()["display_name"] == ""


async def test_profile_fields_are_bounded(harness: Harness) -> None:
    alice = await harness.user("alice")
    for body in (
        {"display_name": "x" * 65},
        {"display_name": "evil\u202eadmin"},  # a right-to-left override
        {"description": "y" * 501},
        {"avatar_emoji": "not one emoji"},
        {"avatar_emoji": "🦊" * 17},
    ):
        response = await alice.patch("/api/account/profile", json=body)
        assert response.status_code == 422, body
    assert (await alice.get("/api/account/profile")).json()["updated_at"] is None


async def test_an_uploaded_image_is_reencoded_without_metadata(harness: Harness) -> None:
    alice = await harness.user("alice")
    await alice.patch("/api/account/profile", json={"avatar_emoji": "🦊"})
    upload = _jpeg_with_metadata()
    response = await alice.put(AVATAR, content=upload, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["avatar_emoji"] is None  # the image replaces the emoji
    assert profile["avatar_url"].startswith(AVATAR + "?v=")

    image = await alice.get(profile["avatar_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/webp"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert image.headers["cross-origin-resource-policy"] == "same-origin"
    assert image.content != upload
    assert b"secret" not in image.content and b"Exif" not in image.content
    with Image.open(io.BytesIO(image.content)) as decoded:
        assert decoded.format == "WEBP" and decoded.size == (256, 256)
        assert not decoded.getexif()
        red, green, blue = decoded.convert("RGB").getpixel((128, 128))  # type: ignore[misc]
        assert red > 180 and green < 60 and blue < 60

    # Another device sees the same picture; removing it leaves no avatar at all.
    phone = await _second_device(harness, "alice")
    assert (await phone.get(AVATAR)).content == image.content
    cleared = await phone.delete(AVATAR)
    assert cleared.json()["avatar_url"] is None and cleared.json()["avatar_emoji"] is None
    assert (await alice.get(AVATAR)).status_code == 404


async def test_what_is_not_a_safe_image_is_refused(harness: Harness) -> None:
    alice = await harness.user("alice")
    png = io.BytesIO()
    Image.new("RGB", (10, 10), "blue").save(png, format="PNG")
    assert (await alice.put(AVATAR, content=png.getvalue())).status_code == 200
    kept = (await alice.get(AVATAR)).content

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<html><script>alert(1)</script></html>"
    truncated = png.getvalue()[:40]
    for body, content_type in (
        (svg, "image/svg+xml"),
        (html, "image/png"),  # a declared type is not believed
        (b"", "image/png"),
        (truncated, "image/png"),
        (_png_header_only(100_000, 100_000), "image/png"),  # a decompression bomb
        (_png_header_only(9000, 10), "image/png"),  # wider than any avatar needs
    ):
        response = await alice.put(AVATAR, content=body, headers={"content-type": content_type})
        assert response.status_code == 400, (content_type, response.text)
        assert response.json()["error"]["code"] == "bad_request"
    bomb = await alice.put(AVATAR, content=_png_header_only(100_000, 100_000))
    assert "too many pixels" in bomb.json()["error"]["message"]  # refused before decoding
    too_big = await alice.put(AVATAR, content=b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024))
    assert too_big.status_code == 413
    assert (await alice.get(AVATAR)).content == kept  # nothing replaced the good one


async def test_an_animation_becomes_its_first_frame(harness: Harness) -> None:
    alice = await harness.user("alice")
    frames = [Image.new("RGB", (64, 64), color) for color in ("green", "white", "black")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert (await alice.put(AVATAR, content=gif.getvalue())).status_code == 200
    with Image.open(io.BytesIO((await alice.get(AVATAR)).content)) as decoded:
        assert getattr(decoded, "n_frames", 1) == 1
        red, green, blue = decoded.convert("RGB").getpixel((32, 32))  # type: ignore[misc]
        assert green > 100 and red < 60 and blue < 60


async def test_a_shared_conversation_shows_the_profile_but_never_the_username(
    harness: Harness,
) -> None:
    alice = await harness.user("alice")
    cid = (await alice.post("/api/conversations", json={"title": "Shared"})).json()["id"]
    share = (await alice.post(f"/api/conversations/{cid}/shares")).json()
    token = share["url"].rsplit("/", 1)[1]
    visitor = await harness.client()

    # Nothing set: nothing about the author.
    opened = (await visitor.get(f"/api/shared/{token}")).json()
    assert opened["author"] is None
    assert (await visitor.get(f"/api/shared/{token}/avatar")).status_code == 404

    await alice.patch(
        "/api/account/profile", json={"display_name": "Dr. A", "description": "Biologist"}
    )
    png = io.BytesIO()
    Image.new("RGB", (300, 300), "purple").save(png, format="PNG")
    await alice.put(AVATAR, content=png.getvalue())
    response = await visitor.get(f"/api/shared/{token}")
    author = response.json()["author"]
    assert author["display_name"] == "Dr. A" and author["description"] == "Biologist"
    assert author["avatar_url"].startswith(f"/api/shared/{token}/avatar?v=")
    assert "alice" not in response.text
    image = await visitor.get(author["avatar_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    assert image.headers["content-security-policy"] == "default-src 'none'; sandbox"

    await alice.delete(f"/api/shares/{share['id']}")
    assert (await visitor.get(author["avatar_url"])).status_code == 404
    assert (await visitor.get("/api/shared/not-a-token/avatar")).status_code == 404


async def test_the_avatar_upload_needs_the_apps_own_origin(harness: Harness) -> None:
    alice = await harness.user("alice")
    response = await alice.put(
        AVATAR, content=b"GIF89a", headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403
