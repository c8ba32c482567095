"""The OpenID Connect relying party: discovery, the authorization request and the checked answer.

Authorization code flow with PKCE (S256), `state` and `nonce`, through Authlib's pieces: the
request URI (`prepare_grant_uri`), the code challenge, the token request body, and the ID token
checks (joserfc signature against the provider's JWKS; Authlib's `CodeIDToken` for issuer,
audience, expiry with a bounded leeway, nonce, `azp` and `at_hash`). Nothing here is a
hand-written JWT check.

Every request to the provider has a timeout and follows no redirect (a token request that is
redirected is refused: the code and the client secret go only to the discovered endpoint).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri, url_decode
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from chatgate.config import SSO_CALLBACK_PATH, OidcProviderConfig
from chatgate.security import redaction
from chatgate.services.sign_in_failed import SignInFailed

METADATA_TTL = 3600.0
# Asymmetric algorithms only: an HS256 ID token would be "signed" with the client secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


@dataclass(frozen=True, slots=True)
class Started:
    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """One configured provider."""

    def __init__(
        self, config: OidcProviderConfig, *, public_url: str, timeout: float, leeway: float
    ) -> None:
        self.config = config
        self.redirect_uri = public_url.rstrip("/") + SSO_CALLBACK_PATH.format(name=config.name)
        self._timeout = timeout
        self._leeway = int(leeway)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None
        if config.client_secret is not None:
            redaction.register_secret(config.client_secret.get_secret_value())

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SignInFailed("unreachable", f"{url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SignInFailed("unreachable", f"{url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SignInFailed("unreachable", f"{url} did not answer JSON") from exc
        if not isinstance(body, dict):
            raise SignInFailed("unreachable", f"{url} did not answer a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (cached for an hour); its issuer must be the configured one."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
            return self._metadata
        issuer = self.config.issuer.rstrip("/")
        found = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        if str(found.get("issuer", "")).rstrip("/") != issuer:
            raise SignInFailed(
                "issuer", f"discovery names issuer {found.get('issuer')!r}, not {issuer!r}"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(key), str):
                raise SignInFailed("unreachable", f"discovery has no {key}")
        self._metadata, self._metadata_at, self._jwks = found, time.monotonic(), None
        return found

    async def start(self) -> Started:
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        scopes = ["openid", *(s for s in self.config.scopes if s != "openid")]
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            client_id=self.config.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=" ".join(scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Started(url, state, nonce, verifier)

    async def finish(self, code: str, *, code_verifier: str, nonce: str) -> dict[str, Any]:
        """Exchange the code and return the verified claims (ID token, then userinfo)."""
        metadata = await self.metadata()
        tokens = await self._token_request(metadata["token_endpoint"], code, code_verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("token", "the token response has no id_token")
        claims = await self._check_id_token(id_token, nonce, tokens.get("access_token"))
        userinfo_url = metadata.get("userinfo_endpoint")
        access_token = tokens.get("access_token")
        if isinstance(userinfo_url, str) and isinstance(access_token, str):
            extra = await self._userinfo(userinfo_url, access_token)
            if extra.get("sub") != claims["sub"]:
                raise SignInFailed("token", "userinfo is about another subject")
            claims = {**extra, **claims}
        return claims

    async def _token_request(self, url: str, code: str, verifier: str) -> dict[str, Any]:
        form = dict(
            prepare_token_request_form(
                code=code, redirect_uri=self.redirect_uri, code_verifier=verifier
            )
        )
        auth: httpx.Auth = httpx.Auth()  # no authentication: a public client
        if self.config.client_secret is not None:
            # client_secret_basic: the default every provider supports.
            auth = httpx.BasicAuth(
                self.config.client_id, self.config.client_secret.get_secret_value()
            )
        else:
            form["client_id"] = self.config.client_id
        try:
            async with self._client() as client:
                response = await client.post(
                    url, data=form, auth=auth, headers={"accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise SignInFailed("unreachable", f"token endpoint: {type(exc).__name__}") from exc
        if response.is_redirect:
            raise SignInFailed("unreachable", "the token endpoint answered with a redirect")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", response.status_code) if isinstance(body, dict) else ""
            raise SignInFailed("code", f"the provider refused the code ({error})")
        return body

    async def _keys(self, *, fresh: bool = False) -> KeySet:
        if self._jwks is None or fresh:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError) as exc:
            raise SignInFailed("signature", "the provider's JWKS cannot be read") from exc

    async def _check_id_token(self, id_token: str, nonce: str, access_token: Any) -> dict[str, Any]:
        registry = JWSRegistry(algorithms=ALGORITHMS)
        try:
            try:
                token = jwt.decode(id_token, await self._keys(), registry=registry)
            except (InvalidKeyIdError, BadSignatureError):
                # The provider may have rotated its keys: read them again, once.
                token = jwt.decode(id_token, await self._keys(fresh=True), registry=registry)
        except BadSignatureError as exc:
            raise SignInFailed("signature", "the ID token's signature does not verify") from exc
        except InvalidKeyIdError as exc:
            raise SignInFailed("signature", "the ID token is signed by an unknown key") from exc
        except JoseError as exc:
            raise SignInFailed("token", f"the ID token cannot be read ({exc.error})") from exc
        issuer = (await self.metadata())["issuer"]
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.config.client_id}
        if isinstance(access_token, str):
            params["access_token"] = access_token
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": self.config.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
            },
            params,
        )
        try:
            claims.validate(leeway=self._leeway)
        except ExpiredTokenError as exc:
            raise SignInFailed("expired", "the ID token has expired") from exc
        except (InvalidClaimError, MissingClaimError) as exc:
            claim = str(getattr(exc, "claim", "") or exc.description or "")
            reason = {"aud": "audience", "azp": "audience", "iss": "issuer", "nonce": "nonce"}
            name = next((v for k, v in reason.items() if k in claim), "token")
            if name == "token" and "exp" in claim:
                name = "expired"
            raise SignInFailed(name, f"ID token claim {claim!r} is not valid") from exc
        except JoseError as exc:
            raise SignInFailed("token", f"the ID token is not valid ({exc.error})") from exc
        return dict(claims)

    async def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(
                    url, headers={"authorization": f"Bearer {access_token}"}
                )
        except httpx.HTTPError as exc:
            raise SignInFailed("unreachable", f"userinfo: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SignInFailed("unreachable", f"userinfo answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SignInFailed("unreachable", "userinfo is not JSON") from exc
        return body if isinstance(body, dict) else {}

    async def end_session_url(self, after: str) -> str | None:
        """The provider's sign-out page, if it has one (RP-initiated logout)."""
        if not self.config.end_session:
            return None
        try:
            metadata = await self.metadata()
        except SignInFailed:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        url: str = add_params_to_uri(
            endpoint, {"client_id": self.config.client_id, "post_logout_redirect_uri": after}
        )
        return url


def prepare_token_request_form(**values: str) -> list[tuple[str, str]]:
    """The authorization-code grant's form fields (Authlib's encoding of RFC 6749 §4.1.3)."""
    return list(url_decode(prepare_token_request("authorization_code", **values)))
