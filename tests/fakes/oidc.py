"""OpenID providers for the sign-in tests.

- `NodeProvider`: the real one — node-oidc-provider (web/e2e/oidc-provider.mjs) as a subprocess on
  loopback, and `sign_in_at` driving its login form the way a browser would.
- `ForgingProvider`: a tiny provider this test controls, for the tampered answers a real one never
  gives (a token for another audience, an expired one, one signed with a key not in its JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

WEB = Path(__file__).resolve().parents[2] / "web"
SCRIPT = WEB / "e2e" / "oidc-provider.mjs"
CLIENT_ID = "chatgate"
CLIENT_SECRET = "oidc-test-client-secret-5f0c2a"  # as in oidc-provider.mjs


class NodeProvider:
    def __init__(self, redirect_uris: list[str]) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.skip("NO NODE: the OpenID Connect tests need node to run a real provider")
        if not (WEB / "node_modules" / "oidc-provider").is_dir():
            pytest.skip("oidc-provider is not installed: run `cd web && npm ci`")
        self._process = subprocess.Popen(
            [node, str(SCRIPT), *redirect_uris],
            cwd=WEB,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"oidc-provider did not start: {self._process.stderr.read()}")  # type: ignore[union-attr]
        self.issuer: str = json.loads(line)["issuer"]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)
_INPUT = re.compile(r"<input[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _fields(page: str, login: str) -> dict[str, str]:
    """The form's hidden fields, with the login typed in."""
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(page):
        attrs = dict(_ATTR.findall(tag))
        if "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    if "login" in fields:
        fields.update(login=login, password="any password")
    return fields


async def sign_in_at(start_location: str, login: str, public_url: str) -> str:
    """Follow the provider's pages as a browser would, typing `login` into its login form, until
    it redirects back to ChatGate; the path and query of that redirect."""
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as browser:
        url, method, form = start_location, "GET", None
        for _ in range(20):
            response = await browser.request(method, url, data=form)
            if response.is_redirect:
                url = str(response.url.join(response.headers["location"]))
                if url.startswith(public_url):
                    parts = urlsplit(url)
                    return f"{parts.path}?{parts.query}"
                method, form = "GET", None
                continue
            assert response.status_code == 200, response.text[:500]
            action = _FORM.search(response.text)
            assert action is not None, response.text[:500]
            url = str(response.url.join(action.group(1)))
            method = "POST"
            form = _fields(response.text, login)
    raise AssertionError("the provider never redirected back")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ForgingProvider:
    """Discovery, JWKS and a token endpoint answering with the ID token a test asks for."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "good"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "good"})
        self.token_requests: list[dict[str, str]] = []
        self.claims: dict[str, Any] = {}
        self.sign_with_other_key = False
        # The token endpoint redirects (a 307 keeps the method and body: code, secret, verifier).
        self.redirect_token_request = False
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server = server
        self.issuer = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def id_token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "forged-subject",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "email": "mallory@school.example",
            "email_verified": True,
            **self.claims,
            **overrides,
        }
        key = self.other_key if self.sign_with_other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "good"}, claims, key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: Any, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": f"{provider.issuer}/authorize",
                            "token_endpoint": f"{provider.issuer}/token",
                            "jwks_uri": f"{provider.issuer}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }
                    )
                elif path == "/jwks":
                    self._json(KeySet([provider.key]).as_dict(private=False))
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                form["authorization"] = self.headers.get("authorization", "")
                provider.token_requests.append({**form, "path": self.path})
                if provider.redirect_token_request and self.path == "/token":
                    self.send_response(307)
                    self.send_header("location", f"{provider.issuer}/token-elsewhere")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self._json(
                    {
                        "access_token": "opaque-access-token-for-tests",
                        "token_type": "Bearer",
                        "id_token": provider.id_token(),
                    }
                )

        return Handler
