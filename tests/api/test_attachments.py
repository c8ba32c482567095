"""Attached files: what is accepted (sniffed from the bytes), how it is made safe, who may read
it, what reaches the upstream, and how long it lives."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Callable
from typing import Any

import docx
import httpx
import pytest
from PIL import Image

from chatgate.services.attachments import documents
from tests.api.conftest import providers_for
from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream
from tests.support.streams import answer_text, data, events_of

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _png(size: tuple[int, int] = (64, 48), color: tuple[int, ...] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _pdf(pages: list[str]) -> bytes:
    """A minimal PDF written by hand: one line of Helvetica text per page."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        content = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 10 Tf 20 700 Td ({escaped}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Quarterly plan for the lighthouse.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Cost"
    table.cell(1, 0).text, table.cell(1, 1).text = "Lamp", "42"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def _upload(
    client: httpx.AsyncClient,
    name: str,
    body: bytes,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post("/api/attachments", files={"file": (name, body, content_type)})


async def _conversation(client: httpx.AsyncClient, model: str | None = None) -> str:
    settings = {"settings": {"model": model}} if model else {}
    response = await client.post("/api/conversations", json={"title": "files", **settings})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _send(
    client: httpx.AsyncClient, cid: str, content: str, ids: list[str], **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/conversations/{cid}/messages",
        json={"content": content, "attachments": ids, **extra},
    )


def _seeing_providers(fake: FakeUpstream) -> list[dict[str, Any]]:
    providers = providers_for(fake)
    providers[0]["models"].append({"id": "seeing-model", "upstream": "fake-model", "vision": True})
    providers[1]["models"] = [{"id": "claude-fake", "upstream": "fake-model", "vision": True}]
    # A ChatGPT web model marked as seeing still cannot: its kind carries text only.
    providers[2]["models"] = [{"id": "web-fake", "upstream": "auto", "vision": True}]
    return providers


@pytest.fixture
async def files(make_harness: Callable[..., Any], fake: FakeUpstream) -> Harness:
    harness: Harness = await make_harness(
        providers=_seeing_providers(fake), default_model="fake-model", upstream_retries=0
    )
    return harness


# -- what is accepted ----------------------------------------------------------------------------
async def test_each_accepted_type_is_sniffed_from_its_bytes(files: Harness) -> None:
    alice = await files.user("alice")
    cases = [
        ("photo.png", _png(), "image", "image/png"),
        ("notes.md", b"# Notes\n\n- one\n- two\n", "document", "text/markdown"),
        ("data.csv", b"a,b\n1,2\n", "document", "text/csv"),
        ("conf.json", b'{"a": 1}', "document", "application/json"),
        ("main.py", b"print('hello')\n", "document", "text/x-python"),
        ("utf16.txt", "grüße 你好".encode("utf-16"), "document", "text/plain"),
        ("report.pdf", _pdf(["The harbour opens at dawn."]), "document", "application/pdf"),
        ("plan.docx", _docx(), "document", DOCX),
        # The name does not decide: a PNG named .txt is an image.
        ("actually-an-image.txt", _png((10, 10)), "image", "image/png"),
    ]
    for name, body, kind, media_type in cases:
        response = await _upload(alice, name, body, "text/html")
        assert response.status_code == 201, (name, response.text)
        out = response.json()
        assert (out["name"], out["kind"], out["media_type"]) == (name, kind, media_type)
        if kind == "image":
            assert out["width"] and out["height"] and out["tokens"] is None
        else:
            assert out["tokens"] > 0 and out["width"] is None
    pdf = (await _upload(alice, "again.pdf", _pdf(["Lighthouse keeper's log"]))).json()
    assert pdf["tokens"] >= 4
    stored = await files.sql(f"SELECT text FROM attachments WHERE id = '{pdf['id']}'")
    assert "Lighthouse keeper" in stored.text
    word = await files.sql(f"SELECT text FROM attachments WHERE media_type = '{DOCX}'")
    assert "lighthouse" in word.text and "Lamp | 42" in word.text


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("cat.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415, "attachment_type"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415, "attachment_type"),
        ("feed.xml", b'<?xml version="1.0"?><svg onload="alert(1)"/>', 415, "attachment_type"),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", 415, "attachment_type"),
        ("empty.txt", b"", 422, "attachment_unreadable"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), 422, "attachment_unreadable"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "attachment_unreadable"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf at all", 422, "attachment_unreadable"),
    ],
)  # fmt: skip
async def test_refused_files_are_not_stored(
    files: Harness, name: str, body: bytes, status: int, code: str
) -> None:
    alice = await files.user("alice")
    response = await _upload(alice, name, body, "image/png")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 0


async def test_a_zip_named_pdf_is_refused(files: Harness) -> None:
    alice = await files.user("alice")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.txt", "not a document")
    response = await _upload(alice, "invoice.pdf", archive.getvalue(), "application/pdf")
    assert response.status_code == 415 and response.json()["error"]["code"] == "attachment_type"


async def test_a_decompression_bomb_is_refused(files: Harness) -> None:
    # 12,000 × 12,000 one-bit pixels: a few kilobytes that would decode to 144 megapixels,
    # over Pillow's bound (Image.MAX_IMAGE_PIXELS, about 89 million).
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, format="PNG")
    assert len(out.getvalue()) < 1_000_000
    alice = await files.user("alice")
    response = await _upload(alice, "bomb.png", out.getvalue(), "image/png")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "attachment_unreadable"
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 0


async def test_a_file_over_the_limit_is_refused(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    harness: Harness = await make_harness(
        providers=providers_for(fake), default_model="fake-model", attachment_max_bytes=2000
    )
    alice = await harness.user("alice")
    assert (await _upload(alice, "fits.txt", b"a" * 2000)).status_code == 201
    response = await _upload(alice, "big.txt", b"b" * 2001)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "attachment_too_large"
    assert (await harness.sql("SELECT count(*) AS n FROM attachments")).n == 1


async def test_images_are_re_encoded_upright_without_metadata_and_bounded(files: Harness) -> None:
    alice = await files.user("alice")
    exif = Image.Exif()
    exif[0x010E] = "secret description 52.3N 4.9E"  # ImageDescription
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    photo = io.BytesIO()
    Image.new("RGB", (80, 40), (10, 120, 200)).save(photo, format="JPEG", exif=exif.tobytes())
    assert b"secret description" in photo.getvalue()
    out = (await _upload(alice, "photo.jpg", photo.getvalue(), "image/jpeg")).json()
    assert (out["media_type"], out["width"], out["height"]) == ("image/jpeg", 40, 80)
    served = await alice.get(f"/api/attachments/{out['id']}")
    assert served.status_code == 200
    assert b"secret description" not in served.content
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.size == (40, 80)
        assert dict(image.getexif()) == {}
        assert not image.info.get("exif")
    wide = (await _upload(alice, "wide.png", _png((3000, 1000)), "image/png")).json()
    assert (wide["media_type"], wide["width"], wide["height"]) == ("image/png", 2048, 683)


async def test_the_same_file_twice_is_stored_once(files: Harness) -> None:
    alice, bob = await files.user("alice"), await files.user("bob")
    body = _pdf(["Same bytes, same file."])
    first = (await _upload(alice, "a.pdf", body)).json()
    second = (await _upload(alice, "renamed.pdf", body)).json()
    assert second["id"] == first["id"]
    # Another person's copy is their own.
    other = (await _upload(bob, "a.pdf", body)).json()
    assert other["id"] != first["id"]
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 2
    # Once sent, the same bytes make a new file for the next message.
    cid = await _conversation(alice)
    assert (await _send(alice, cid, "read it", [first["id"]])).status_code == 200
    again = (await _upload(alice, "a.pdf", body)).json()
    assert again["id"] != first["id"]
    assert (await _send(alice, cid, "and again", [again["id"]])).status_code == 200


async def test_an_unsent_upload_can_be_removed_but_a_sent_one_cannot(files: Harness) -> None:
    alice = await files.user("alice")
    first = (await _upload(alice, "a.txt", b"first")).json()
    assert (await alice.delete(f"/api/attachments/{first['id']}")).status_code == 204
    assert (await alice.get(f"/api/attachments/{first['id']}")).status_code == 404
    sent = (await _upload(alice, "b.txt", b"second")).json()
    cid = await _conversation(alice)
    assert (await _send(alice, cid, "here", [sent["id"]])).status_code == 200
    assert (await alice.delete(f"/api/attachments/{sent['id']}")).status_code == 404
    assert (await alice.get(f"/api/attachments/{sent['id']}")).status_code == 200


# -- what reaches the upstream ------------------------------------------------------------------
async def test_an_image_reaches_a_vision_model_as_an_image_part(
    files: Harness, fake: FakeUpstream
) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(alice, "seeing-model")
    response = await _send(alice, cid, "What colour is this?", [image["id"]])
    assert response.status_code == 200
    assert answer_text(events_of(response))
    content = fake.requests[-1].json["messages"][-1]["content"]
    assert isinstance(content, list)
    assert {"type": "text", "text": "What colour is this?"} in content
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
    served = await alice.get(f"/api/attachments/{image['id']}")
    assert urls[0].endswith(__import__("base64").b64encode(served.content).decode())


async def test_an_image_reaches_an_anthropic_model_as_an_image_block(
    files: Harness, fake: FakeUpstream
) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(alice, "claude-fake")
    assert (await _send(alice, cid, "Describe it", [image["id"]])).status_code == 200
    blocks = fake.requests[-1].json["messages"][-1]["content"]
    kinds = [b["type"] for b in blocks]
    assert "image" in kinds and "text" in kinds
    source = next(b for b in blocks if b["type"] == "image")["source"]
    assert source["type"] == "base64" and source["media_type"] == "image/png"


@pytest.mark.parametrize("model", ["fake-model", "web-fake"])
async def test_an_image_to_a_model_that_cannot_see_is_refused_before_anything(
    files: Harness, fake: FakeUpstream, model: str
) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(alice, model)
    before = len(fake.requests)
    response = await _send(alice, cid, "What is this?", [image["id"]])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_cannot_see"
    assert len(fake.requests) == before
    listed = (await alice.get(f"/api/conversations/{cid}/messages")).json()
    assert listed["messages"] == []
    # The upload is still waiting, and goes to a model that can see.
    response = await _send(alice, cid, "What is this?", [image["id"]], model="seeing-model")
    assert response.status_code == 200


async def test_a_document_reaches_the_model_as_text(files: Harness, fake: FakeUpstream) -> None:
    alice = await files.user("alice")
    pdf = (await _upload(alice, "report.pdf", _pdf(["The harbour opens at dawn."]))).json()
    word = (await _upload(alice, "plan.docx", _docx())).json()
    cid = await _conversation(alice)
    response = await _send(alice, cid, "Summarise both", [pdf["id"], word["id"]])
    assert response.status_code == 200
    sent = fake.requests[-1].json["messages"][-1]["content"]
    assert isinstance(sent, str)
    assert f"[report.pdf — {pdf['tokens']:,} tokens]" in sent
    assert "The harbour opens at dawn." in sent
    assert "Lamp | 42" in sent and sent.endswith("Summarise both")
    assert "truncated" not in sent
    # The next question still has them in its context.
    assert (await _send(alice, cid, "And the cost?", [])).status_code == 200
    history = fake.requests[-1].json["messages"]
    assert any("The harbour opens at dawn." in m["content"] for m in history[:-1])


async def test_a_long_pdf_is_cut_with_visible_notes(
    files: Harness, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_TOKENS", 400)
    pages = [
        f"Page {n}: the keeper climbed the stairs and lit the lamp again." for n in range(1, 41)
    ]
    alice = await files.user("alice")
    pdf = (await _upload(alice, "log.pdf", _pdf(pages))).json()
    assert pdf["note"] is not None
    assert (
        pdf["note"].startswith("Truncated at page ") and "(the file has 40 pages)." in pdf["note"]
    )
    shown = int(pdf["note"].split()[3])
    assert 5 < shown < 40 and pdf["tokens"] <= 400
    # tiny-window: 1,200 tokens less 1,024 kept for the answer: the text must be cut to fit.
    cid = await _conversation(alice, "tiny-window")
    assert (await _send(alice, cid, "What happened?", [pdf["id"]])).status_code == 200
    sent = fake.requests[-1].json["messages"][-1]["content"]
    assert "Page 1:" in sent and f"Page {shown}:" not in sent
    assert "[… truncated: the rest of log.pdf did not fit]" in sent
    assert sent.endswith("What happened?")


# -- who may read it ----------------------------------------------------------------------------
async def test_only_the_owner_and_live_share_links_read_a_file(files: Harness) -> None:
    alice, bob = await files.user("alice"), await files.user("bob")
    stranger = await files.client()
    image = (await _upload(alice, "shot.png", _png())).json()
    doc = (await _upload(alice, "notes <b>.txt", b"plain words")).json()
    cid = await _conversation(alice, "seeing-model")
    assert (await _send(alice, cid, "look", [image["id"], doc["id"]])).status_code == 200

    own = await alice.get(f"/api/attachments/{image['id']}")
    assert own.status_code == 200 and own.headers["content-type"] == "image/png"
    assert own.headers["content-disposition"].startswith("inline")
    text = await alice.get(f"/api/attachments/{doc['id']}")
    assert text.headers["content-type"] == "application/octet-stream"
    assert text.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''notes%20%3Cb%3E.txt"
    )
    for response in (own, text):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert response.headers["cache-control"] == "private, max-age=3600"

    for file in (image, doc):
        assert (await bob.get(f"/api/attachments/{file['id']}")).status_code == 404
        assert (await bob.delete(f"/api/attachments/{file['id']}")).status_code == 404
        assert (await stranger.get(f"/api/attachments/{file['id']}")).status_code == 401
    key = (await alice.post("/api/account/keys", json={"name": "k"})).json()["key"]
    keyed = await files.client(headers={"Authorization": f"Bearer {key}"})
    by_key = await keyed.get(f"/api/attachments/{image['id']}")
    assert by_key.status_code == 401 and by_key.content != own.content

    share = (await alice.post(f"/api/conversations/{cid}/shares")).json()
    token = share["url"].rsplit("/", 1)[1]
    shared = (await stranger.get(f"/api/shared/{token}")).json()
    assert [f["id"] for f in shared["messages"][0]["attachments"]] == [image["id"], doc["id"]]
    viewed = await stranger.get(f"/api/shared/{token}/attachments/{image['id']}")
    assert viewed.status_code == 200 and viewed.content == own.content
    assert viewed.headers["content-security-policy"] == "default-src 'none'; sandbox"
    # A file of another conversation, or one uploaded but not sent, is not reachable through it.
    other = (await _upload(alice, "other.txt", b"not shared")).json()
    assert (await stranger.get(f"/api/shared/{token}/attachments/{other['id']}")).status_code == 404
    assert (
        await stranger.get(f"/api/shared/{'x' * 22}/attachments/{image['id']}")
    ).status_code == 404
    await alice.delete(f"/api/shares/{share['id']}")
    revoked = await stranger.get(f"/api/shared/{token}/attachments/{image['id']}")
    assert revoked.status_code == 404


async def test_another_users_upload_cannot_be_sent(files: Harness, fake: FakeUpstream) -> None:
    alice, bob = await files.user("alice"), await files.user("bob")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(bob, "seeing-model")
    before = len(fake.requests)
    response = await _send(bob, cid, "mine now?", [image["id"]])
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert len(fake.requests) == before
    assert (await bob.get(f"/api/conversations/{cid}/messages")).json()["messages"] == []


# -- how it is shown ----------------------------------------------------------------------------
async def test_the_conversation_shows_files_and_parts(files: Harness) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(alice, "seeing-model")
    start = data(events_of(await _send(alice, cid, "look", [image["id"]]))[0])
    messages = (await alice.get(f"/api/conversations/{cid}/messages")).json()["messages"]
    question = next(m for m in messages if m["id"] == start["user_message_id"])
    answer = next(m for m in messages if m["id"] == start["message_id"])
    assert question["attachments"] == [image]
    assert answer["attachments"] == [] and answer["parts"] == []


async def test_exports_include_the_files(files: Harness) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    pdf = (await _upload(alice, "report.pdf", _pdf(["Harbour"]))).json()
    cid = await _conversation(alice, "seeing-model")
    assert (await _send(alice, cid, "look", [image["id"], pdf["id"]])).status_code == 200
    served = (await alice.get(f"/api/attachments/{image['id']}")).content
    page = (await alice.get("/api/export", params={"format": "html"})).text
    encoded = __import__("base64").b64encode(served).decode()
    assert f'src="data:image/png;base64,{encoded}"' in page
    assert "report.pdf" in page
    markdown = (await alice.get("/api/export", params={"format": "markdown"})).text
    assert "*Attached: `shot.png`, `report.pdf`*" in markdown
    exported = (await alice.get("/api/export")).json()
    question = next(m for m in exported["conversations"][0]["messages"] if m["role"] == "user")
    assert [f["name"] for f in question["attachments"]] == ["shot.png", "report.pdf"]
    # Imported elsewhere, the export's text comes along and the files are reported left out.
    bob = await files.user("bob")
    report = (await bob.post("/api/import", json=exported)).json()
    assert report["conversations"] == 1
    assert report["outcomes"][0]["notes"] == {"attachments_left_out": 2}


# -- how long it lives --------------------------------------------------------------------------
async def test_deleting_the_message_or_conversation_deletes_the_files(files: Harness) -> None:
    alice = await files.user("alice")
    cid = await _conversation(alice)
    first = (await _upload(alice, "one.txt", b"one")).json()
    start = data(events_of(await _send(alice, cid, "first", [first["id"]]))[0])
    second = (await _upload(alice, "two.txt", b"two")).json()
    assert (await _send(alice, cid, "second", [second["id"]])).status_code == 200
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 2
    deleted = await alice.delete(f"/api/conversations/{cid}/messages/{start['user_message_id']}")
    assert deleted.status_code == 200, deleted.text
    # The first question's subtree went (its answer, and the second turn below it).
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 0
    assert (await alice.get(f"/api/attachments/{first['id']}")).status_code == 404
    assert (await alice.delete(f"/api/conversations/{cid}")).status_code == 204
    assert (await files.sql("SELECT count(*) AS n FROM attachments")).n == 0


async def test_unsent_uploads_are_swept_after_a_day(files: Harness) -> None:
    alice = await files.user("alice")
    old = (await _upload(alice, "old.txt", b"old")).json()
    fresh = (await _upload(alice, "fresh.txt", b"fresh")).json()
    cid = await _conversation(alice)
    sent = (await _upload(alice, "sent.txt", b"sent")).json()
    assert (await _send(alice, cid, "keep", [sent["id"]])).status_code == 200

    def age(s: Any) -> None:
        from sqlalchemy import text

        s.execute(
            text("UPDATE attachments SET created_at = :t WHERE id IN (:a, :b)"),
            {"t": "2020-01-01 00:00:00.000000", "a": old["id"], "b": sent["id"]},
        )

    await files.services.db.write(age)
    assert await files.services.attachments.sweep() == 1
    assert (await alice.get(f"/api/attachments/{old['id']}")).status_code == 404
    assert (await alice.get(f"/api/attachments/{fresh['id']}")).status_code == 200
    assert (await alice.get(f"/api/attachments/{sent['id']}")).status_code == 200


async def test_parallel_uploads_never_overshoot_the_storage_quota(
    make_harness: Callable[..., Any], fake: FakeUpstream
) -> None:
    size = 1000
    harness: Harness = await make_harness(
        providers=providers_for(fake), default_model="fake-model", attachment_quota_bytes=5 * size
    )
    alice = await harness.user("alice")
    bodies = [(b"%04d" % i) * (size // 4) for i in range(16)]
    responses = await asyncio.gather(
        *(_upload(alice, f"f{i}.txt", body) for i, body in enumerate(bodies))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [413] * 11, statuses
    refused = [r for r in responses if r.status_code == 413]
    assert {r.json()["error"]["code"] for r in refused} == {"storage_quota"}
    stored = await harness.sql("SELECT count(*) AS n, sum(size) AS total FROM attachments")
    assert stored.n == 5 and stored.total <= 5 * size


async def test_switching_to_a_model_that_cannot_see(files: Harness, fake: FakeUpstream) -> None:
    alice = await files.user("alice")
    image = (await _upload(alice, "shot.png", _png())).json()
    cid = await _conversation(alice, "seeing-model")
    start = data(events_of(await _send(alice, cid, "What is it?", [image["id"]]))[0])
    before = len(fake.requests)
    # Answering that question again with a model that cannot see is refused before anything.
    again = await alice.post(
        f"/api/conversations/{cid}/messages/{start['message_id']}/regenerate",
        json={"model": "fake-model"},
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "model_cannot_see"
    assert len(fake.requests) == before
    # A later question to it goes, the earlier image named instead of shown.
    assert (await _send(alice, cid, "Thanks!", [], model="fake-model")).status_code == 200
    sent = fake.requests[-1].json["messages"]
    assert all(isinstance(m["content"], str) for m in sent)
    assert "[image shot.png: not shown to this model]" in sent[0]["content"]
