"""What an uploaded file really is, from its bytes — never from its name or declared type.

Images (PNG, JPEG, GIF, WebP) and PDFs by their magic numbers; DOCX as a ZIP holding
`word/document.xml`; anything else must decode as text (UTF-8, or UTF-16 with its byte-order
mark) without control bytes. HTML, SVG and XML carrying script are refused whatever their name:
they are active content. The file name only chooses between text subtypes (Markdown, CSV, JSON,
source code), as it cannot make bytes into something they are not.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from chatgate.errors import AttachmentType, AttachmentUnreadable

PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
IMAGE_TYPES = frozenset({PNG, JPEG, GIF, WEBP})
# A DOCX's parts, unpacked, may be at most this large (a ZIP bomb is refused before reading).
DOCX_MAX_UNPACKED = 256 * 1024 * 1024
DOCX_MAX_ENTRIES = 10_000

_SOURCE = {
    "py": "python", "js": "javascript", "mjs": "javascript", "cjs": "javascript",
    "ts": "typescript", "tsx": "typescript", "jsx": "javascript", "java": "java", "kt": "kotlin",
    "c": "c", "h": "c", "cc": "c++", "cpp": "c++", "hpp": "c++", "cs": "csharp", "go": "go",
    "rs": "rust", "rb": "ruby", "php": "php", "swift": "swift", "scala": "scala", "sh": "shellscript",
    "bash": "shellscript", "zsh": "shellscript", "ps1": "powershell", "sql": "sql", "r": "r",
    "lua": "lua", "pl": "perl", "dart": "dart", "vue": "vue", "svelte": "svelte", "css": "css",
    "scss": "scss", "less": "less", "yaml": "yaml", "yml": "yaml", "toml": "toml", "ini": "ini",
    "xml": "xml", "tex": "tex", "dockerfile": "dockerfile", "makefile": "makefile",
    "diff": "diff", "patch": "diff", "proto": "protobuf", "graphql": "graphql", "hs": "haskell",
    "ex": "elixir", "exs": "elixir", "erl": "erlang", "clj": "clojure", "ml": "ocaml", "m": "objc",
    "zig": "zig", "nim": "nim", "jl": "julia",
}  # fmt: skip
_TEXT = {
    "md": "text/markdown", "markdown": "text/markdown", "csv": "text/csv",
    "tsv": "text/tab-separated-values", "json": "application/json", "jsonl": "application/json",
}  # fmt: skip
# Control bytes no text file has (tab, line feed, form feed and carriage return are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Markup a browser would run: an HTML document, an SVG, script in any XML.
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|script|svg)\b", re.I | re.S
)
_ACTIVE_XML = re.compile(rb"<(svg|script|html)\b|javascript:|\bon[a-z]+\s*=", re.I)


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: str  # image | document
    media_type: str
    text: str | None = None  # text files: the decoded text


def _image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise AttachmentUnreadable("This ZIP file is damaged.") from exc
    names = {entry.filename for entry in entries}
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        return False
    unpacked = sum(entry.file_size for entry in entries)
    if len(entries) > DOCX_MAX_ENTRIES or unpacked > DOCX_MAX_UNPACKED:
        raise AttachmentUnreadable("This document unpacks to too much data to be read.")
    return True


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8")


def _text_type(name: str) -> str:
    path = PurePosixPath(name.lower())
    extension = path.suffix.lstrip(".") or path.name  # "Makefile", "Dockerfile"
    if extension in _TEXT:
        return _TEXT[extension]
    if extension in _SOURCE:
        return f"text/x-{_SOURCE[extension]}"
    return "text/plain"


def sniff(data: bytes, name: str) -> Sniffed:
    """The file's kind and media type; AttachmentType or AttachmentUnreadable when refused."""
    if not data:
        raise AttachmentUnreadable("This file is empty.")
    image = _image(data)
    if image is not None:
        return Sniffed("image", image)
    if b"%PDF-" in data[:1024]:
        return Sniffed("document", PDF)
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return Sniffed("document", DOCX)
        raise AttachmentType("This ZIP archive is not a Word document (DOCX).")
    head = data[:4096]
    if b"\x00" in head and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AttachmentType("This is a binary file of a kind that cannot be attached.")
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        raise AttachmentUnreadable("This text is not in UTF-8 or UTF-16.") from exc
    if _CONTROL.search(text):
        raise AttachmentType("This is a binary file of a kind that cannot be attached.")
    media_type = _text_type(name)
    if not media_type.startswith("text/x-") or media_type == "text/x-xml":
        # Source code (a Vue component opens with <script>) is text to read, and is served
        # only as a download: the markup rules are for files that are nothing but markup.
        encoded = text.encode("utf-8")
        if _HTML_START.match(encoded[:65536]):
            raise AttachmentType("HTML and SVG files cannot be attached.")
        markup = encoded.lstrip().startswith((b"<?xml", b"<!DOCTYPE", b"<!doctype"))
        if (markup or media_type == "text/x-xml") and _ACTIVE_XML.search(encoded):
            raise AttachmentType("XML with script or SVG cannot be attached.")
    return Sniffed("document", media_type, text)
