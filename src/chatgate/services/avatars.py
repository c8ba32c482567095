"""Uploaded avatar images, made safe to serve: the type is sniffed from the bytes (PNG, JPEG,
GIF or WebP, nothing else), the size and the decoded dimensions are bounded before anything is
decoded, and what is stored is a fresh 256×256 WebP (PNG where Pillow lacks WebP) drawn from the
pixels alone: no metadata (EXIF, GPS, ICC, comments), no animation, no trailing bytes."""

from __future__ import annotations

import io
import warnings

from chatgate.errors import BadRequest, BodyTooLarge

# Pillow is imported where an image is read, in the worker thread that reads it: ~2 MB that a
# server nobody uploads images to should not hold.

# What Pillow raises for bytes that are not a readable image (its `UnidentifiedImageError` is an
# OSError; its PNG reader raises SyntaxError for some malformed chunks); avatars and attached
# images are read the same way.
UNREADABLE_IMAGE = (OSError, ValueError, SyntaxError, EOFError)

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 8192
# Decoded sizes: a JPEG is decoded at a reduced scale (up to 1/8 per side), the others whole.
MAX_PIXELS = 4096 * 4096
MAX_JPEG_PIXELS = 50_000_000  # a 50-megapixel photo
TOO_MANY_PIXELS = "This image has too many pixels for an avatar."
SIZE = 256

_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("JPEG", b"\xff\xd8\xff", 0),
    ("GIF", b"GIF87a", 0),
    ("GIF", b"GIF89a", 0),
    ("WEBP", b"WEBP", 8),  # RIFF....WEBP
)
NOT_AN_IMAGE = "This file is not a PNG, JPEG, GIF or WebP image."


def sniff(data: bytes) -> str | None:
    """The image format the bytes really are (never the file name or the declared type)."""
    for name, signature, offset in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature and (
            name != "WEBP" or data[:4] == b"RIFF"
        ):
            return name
    return None


def output_type() -> tuple[str, str]:
    """(Pillow format, Content-Type) of stored avatars."""
    from PIL import features

    return ("WEBP", "image/webp") if features.check("webp") else ("PNG", "image/png")


def reencode(data: bytes) -> tuple[bytes, str]:
    """The avatar to store, and its Content-Type. Blocking (CPU): run it in a thread."""
    from PIL import Image, ImageOps

    if len(data) > MAX_UPLOAD_BYTES:
        raise BodyTooLarge(f"An avatar image may be at most {MAX_UPLOAD_BYTES // 1048576} MB.")
    kind = sniff(data)
    if kind is None:
        raise BadRequest(NOT_AN_IMAGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Opening reads the header only: the dimensions are checked before any decoding.
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                if width < 1 or height < 1 or max(width, height) > MAX_SIDE:
                    raise BadRequest(f"An avatar image may be at most {MAX_SIDE} pixels wide.")
                if width * height > (MAX_JPEG_PIXELS if kind == "JPEG" else MAX_PIXELS):
                    raise BadRequest(TOO_MANY_PIXELS)
                if kind == "JPEG":
                    image.draft("RGB", (SIZE * 2, SIZE * 2))  # decode at a reduced scale
                image.seek(0)  # an animation's first frame
                upright = ImageOps.exif_transpose(image)
                pixels = upright.convert("RGBA")
    except BadRequest:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadRequest(TOO_MANY_PIXELS) from exc
    except UNREADABLE_IMAGE as exc:
        raise BadRequest(f"{NOT_AN_IMAGE} (It could not be read.)") from exc
    square = ImageOps.fit(pixels, (SIZE, SIZE), Image.Resampling.LANCZOS)
    # A new image holding nothing but the pixels: no info dictionary travels to the encoder.
    clean = Image.frombytes("RGBA", square.size, square.tobytes())
    fmt, content_type = output_type()
    out = io.BytesIO()
    if fmt == "WEBP":
        clean.save(out, format="WEBP", quality=85, method=4)
    else:
        clean.save(out, format="PNG", optimize=True)
    return out.getvalue(), content_type
