"""Documents as the text a model reads: PDF page by page (pypdf), DOCX paragraphs and tables in
the order they stand (python-docx), text files as they are. Extraction stops at a bound of
tokens (and of PDF pages) and says where, in English, in the attachment's note: "Truncated at
page 12 (the file has 40 pages)." Blocking (CPU, and the tokenizer): run it in a thread, with
the tokenizer loaded (`tokens.ready()`)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from chatgate.errors import AttachmentUnreadable
from chatgate.services import tokens
from chatgate.services.attachments.sniff import DOCX, PDF

MAX_TOKENS = 100_000  # of one document's text
MAX_PAGES = 2_000


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    tokens: int
    note: str | None = None


def _cut_at(pieces: list[str], page: int, total: int) -> Extracted:
    text = "\n\n".join(pieces)
    return Extracted(
        text, tokens.count(text), f"Truncated at page {page} (the file has {total} pages)."
    )


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    pieces: list[str] = []
    used = 0
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentUnreadable("This PDF is protected by a password.")
        total = len(reader.pages)
        for number, page in enumerate(reader.pages, start=1):
            if number > MAX_PAGES:
                return _cut_at(pieces, number - 1, total)
            text = (page.extract_text() or "").strip()
            cost = tokens.count(text)
            if used + cost > MAX_TOKENS:
                if not pieces:  # one huge first page: as much of it as fits
                    pieces.append(tokens.cut(text, MAX_TOKENS))
                    return _cut_at(pieces, number, total)
                return _cut_at(pieces, number - 1, total)
            if text:
                pieces.append(text)
            used += cost
    except AttachmentUnreadable:
        raise
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        RecursionError,
        AssertionError,
        ZeroDivisionError,
        UnicodeError,
        zipfile.BadZipFile,
    ) as exc:
        raise AttachmentUnreadable("This PDF is damaged and could not be read.") from exc
    text = "\n\n".join(pieces)
    if not text.strip():
        return Extracted("", 0, "No text found (a scanned PDF has only pictures of its pages).")
    return Extracted(text, tokens.count(text))


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(block.text)
            elif isinstance(block, Table):
                for row in block.rows:
                    lines.append(" | ".join(cell.text.replace("\n", " ") for cell in row.cells))
                lines.append("")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise AttachmentUnreadable("This Word document is damaged and could not be read.") from exc
    except (PackageNotFoundError, XMLSyntaxError, zipfile.BadZipFile) as exc:
        raise AttachmentUnreadable("This Word document could not be read.") from exc
    return "\n".join(lines).strip()


def _bounded(text: str) -> Extracted:
    count = tokens.count(text)
    if count <= MAX_TOKENS:
        return Extracted(text, count)
    shown = tokens.cut(text, MAX_TOKENS)
    note = f"Truncated after {len(shown):,} of {len(text):,} characters."
    return Extracted(shown, tokens.count(shown), note)


def extract(data: bytes, media_type: str, text: str | None) -> Extracted:
    if media_type == PDF:
        return _pdf(data)
    if media_type == DOCX:
        return _bounded(_docx(data))
    return _bounded(text or "")
