"""Cookie-authenticated writes must come from ChatGate's own page."""

from __future__ import annotations

from tests.conftest import Harness


async def test_cross_origin_post_with_the_cookie_is_refused(harness: Harness) -> None:
    alice = await harness.user("alice")
    forged = await alice.post(
        "/api/conversations", json={"title": "forged"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"
    cross_site = await alice.post(
        "/api/conversations", json={}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    null_origin = await alice.post("/api/conversations", json={}, headers={"Origin": "null"})
    assert null_origin.status_code == 403
    assert (await alice.get("/api/conversations")).json()["items"] == []


async def test_same_origin_post_works(harness: Harness) -> None:
    alice = await harness.user("alice")
    by_origin = await alice.post(
        "/api/conversations", json={"title": "a"}, headers={"Origin": "http://testserver"}
    )
    assert by_origin.status_code == 201
    by_fetch_metadata = await alice.post(
        "/api/conversations",
        json={"title": "b"},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert by_fetch_metadata.status_code == 201


async def test_logout_cannot_be_forced_cross_site(harness: Harness) -> None:
    alice = await harness.user("alice")
    response = await alice.post("/api/auth/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert (await alice.get("/api/auth/me")).status_code == 200


async def test_security_headers_are_sent(harness: Harness) -> None:
    client = await harness.client()
    page = await client.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    )
    api = await client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"
