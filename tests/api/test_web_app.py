"""The built web app is served at / with its own routes, strict headers, and CSP reports."""

from __future__ import annotations

import pytest

from chatgate.app import STATIC_DIR
from tests.conftest import Harness

built = pytest.mark.skipif(
    not (STATIC_DIR / "index.html").exists(),
    reason="WEB APP NOT BUILT: run `make web` (make test builds it)",
)


@built
@pytest.mark.parametrize(
    "path",
    ["/", "/login", "/setup?token=abc", "/c/01a2245b87bb91739af2a74d1f817ce4", "/s/sometoken"],
)
async def test_app_routes_load_the_page_with_a_strict_policy(harness: Harness, path: str) -> None:
    client = await harness.client()
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response.headers["cache-control"] == "no-cache"
    assert "<script>" not in response.text, "no inline script"


@built
async def test_assets_are_immutable_and_unknown_files_and_api_routes_stay_404(
    harness: Harness,
) -> None:
    client = await harness.client()
    index = (await client.get("/")).text
    asset = index.split('src="', 1)[1].split('"', 1)[0]
    response = await client.get(asset)
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert (await client.get("/missing.js")).status_code == 404
    api = await client.get("/api/no-such-route")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


async def test_csp_violation_reports_are_accepted_and_logged(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await harness.client()
    report = {
        "csp-report": {
            "document-uri": "http://testserver/c/1",
            "violated-directive": "script-src",
            "blocked-uri": "inline",
        }
    }
    response = await client.post(
        "/api/csp-report", json=report, headers={"content-type": "application/csp-report"}
    )
    assert response.status_code == 204
    assert "content security policy violation" in capsys.readouterr().out
    assert (await client.post("/api/csp-report", content=b"not json")).status_code == 204
