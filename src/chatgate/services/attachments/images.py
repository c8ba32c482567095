"""Attached images made safe to store, serve and send: decoded within Pillow's pixel bound (a
decompression bomb is refused before its pixels are allocated), turned upright, drawn into a
fresh image holding nothing but the pixels (no EXIF, GPS, ICC, comments, animation or trailing
bytes), at most `MAX_SIDE` pixels on the long side, and encoded anew: a PNG stays a PNG, a JPEG
stays a JPEG and a WebP a WebP at quality 90, a GIF becomes a PNG (its first frame)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from chatgate.errors import AttachmentUnreadable
from chatgate.services.attachments.sniff import GIF, JPEG, PNG, WEBP
from chatgate.services.avatars import UNREADABLE_IMAGE

MAX_SIDE = 2048  # what vision models look at; larger ones are scaled down by them anyway
QUALITY = 90
TOO_MANY_PIXELS = "This image has too many pixels to be read safely."
_FORMATS = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}


@dataclass(frozen=True, slots=True)
class Reencoded:
    data: bytes
    media_type: str
    width: int
    height: int


def _output(media_type: str, alpha: bool) -> tuple[str, str]:
    from PIL import features

    if media_type == JPEG and not alpha:
        return "JPEG", JPEG
    if media_type == WEBP and features.check("webp"):
        return "WEBP", WEBP
    return "PNG", PNG


def reencode(data: bytes, media_type: str) -> Reencoded:
    """Blocking (CPU): run it in a thread. AttachmentUnreadable for a bomb or a broken file."""
    from PIL import Image, ImageOps  # here, in the thread: see `avatars`

    try:
        with warnings.catch_warnings():
            # Over Image.MAX_IMAGE_PIXELS Pillow warns (and over twice that refuses): both are
            # refusals here, decided from the header before any pixel is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_FORMATS[media_type]]) as image:
                if media_type == JPEG:
                    image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale
                image.seek(0)  # an animation's first frame
                upright = ImageOps.exif_transpose(image)
                alpha = "A" in upright.getbands() or "transparency" in upright.info
                mode = "RGBA" if alpha else "RGB"
                if upright.mode in ("L", "RGB", "RGBA", "LA") and (
                    alpha or "A" not in upright.mode
                ):
                    mode = upright.mode
                pixels = upright.convert(mode)
                pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AttachmentUnreadable(TOO_MANY_PIXELS) from exc
    except (*UNREADABLE_IMAGE, MemoryError) as exc:
        raise AttachmentUnreadable("This image could not be read.") from exc
    # A new image holding nothing but the pixels: no info dictionary travels to the encoder.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    fmt, out_type = _output(media_type, alpha)
    if fmt == "JPEG" and clean.mode not in ("L", "RGB"):
        clean = clean.convert("RGB")
    out = io.BytesIO()
    if fmt == "PNG":
        clean.save(out, format="PNG")
    else:
        clean.save(out, format=fmt, quality=QUALITY)
    return Reencoded(out.getvalue(), out_type, clean.width, clean.height)
