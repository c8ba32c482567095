"""Signing in with an organisation's account.

The happy paths go through a real, standards-conformant provider (node-oidc-provider on loopback,
its login form filled in as a browser would); the tampered answers a real provider never gives
come from `ForgingProvider`. Every refusal must land on the refused page and in the audit log.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from chatgate.api import sso as sso_routes
from chatgate.security.redaction import redact
from tests.conftest import PASSWORD, Harness
from tests.fakes.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    ForgingProvider,
    NodeProvider,
    s256,
    sign_in_at,
)

PUBLIC_URL = "http://chatgate.test"
CALLBACK = f"{PUBLIC_URL}/api/auth/oidc/school/callback"
FORGED_CALLBACK = f"{PUBLIC_URL}/api/auth/oidc/forged/callback"


@pytest.fixture(scope="module")
def op() -> Iterator[NodeProvider]:
    provider = NodeProvider([CALLBACK])
    yield provider
    provider.stop()


@pytest.fixture
def forging() -> Iterator[ForgingProvider]:
    provider = ForgingProvider()
    yield provider
    provider.stop()


def school(issuer: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "school",
        "display_name": "Example School",
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "email", "profile", "groups"],
        "allowed_domains": ["school.example"],
        "role_claim": "groups",
        "admin_values": ["chatgate-admins"],
        "quota_groups": {"students": "students"},
        **overrides,
    }


@pytest.fixture
async def app(make_harness: Callable[..., Any], op: NodeProvider) -> Harness:
    harness: Harness = await make_harness(
        public_url=PUBLIC_URL,
        oidc_providers=[school(op.issuer)],
        role_quotas={"students": {"messages_per_day": 20}},
    )
    return harness


async def start(client: httpx.AsyncClient, provider: str = "school") -> str:
    response = await client.get(f"/api/auth/oidc/{provider}/start")
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def sso(
    app: Harness, login: str, client: httpx.AsyncClient | None = None
) -> tuple[httpx.AsyncClient, httpx.Response]:
    """A browser signing in as `login` at the real provider; ChatGate's last answer."""
    client = client or await app.client()
    callback = await sign_in_at(await start(client), login, PUBLIC_URL)
    return client, await client.get(callback)


async def audit(app: Harness, action: str) -> list[str]:
    entries = await app.services.audit.recent()
    return [entry.detail for entry, _ in entries if entry.action == action]


# -- acceptance 1: the real provider ---------------------------------------------------------------
async def test_first_sign_in_creates_the_account_with_the_mapped_role_and_the_next_reuses_it(
    app: Harness, op: NodeProvider
) -> None:
    config = (await (await app.client()).get("/api/auth/config")).json()
    assert config["sso"] == [
        {
            "name": "school",
            "label": "Example School",
            "start_url": "/api/auth/oidc/school/start",
        }
    ]
    location = await start(await app.client())
    asked = parse_qs(urlsplit(location).query)
    assert location.startswith(op.issuer)
    assert asked["code_challenge_method"] == ["S256"] and asked["redirect_uri"] == [CALLBACK]
    assert asked["state"][0] and asked["nonce"][0]

    alice, answer = await sso(app, "alice")
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    me = (await alice.get("/api/auth/me")).json()
    assert (me["username"], me["role"]) == ("alice", "admin")
    # No provider token reaches the browser: only ChatGate's session cookie.
    assert set(alice.cookies.keys()) == {"chatgate_session"}
    assert await audit(app, "sso.account_created")

    again, answer = await sso(app, "alice")
    assert answer.headers["location"] == "/"
    assert (await again.get("/api/auth/me")).json()["id"] == me["id"]
    assert (await app.sql("SELECT count(*) FROM users"))[0] == 1
    assert (await app.sql("SELECT count(*) FROM external_identities"))[0] == 1
    assert len(await audit(app, "sso.signed_in")) == 2

    bob, answer = await sso(app, "bob")
    assert answer.headers["location"] == "/"
    bob_me = (await bob.get("/api/auth/me")).json()
    assert bob_me["role"] == "user"
    quota = (await app.sql(f"SELECT quota FROM users WHERE id = '{bob_me['id']}'"))[0]
    assert "20" in str(quota)  # the students quota group


async def test_a_disallowed_domain_asks_for_approval_and_signs_in_once_approved(
    app: Harness,
) -> None:
    eve, answer = await sso(app, "eve")
    assert answer.headers["location"] == "/signin/pending"
    assert (await eve.get("/api/auth/me")).status_code == 401
    user = await app.services.users.get_by_username("eve")
    assert user.status == "pending"
    assert await audit(app, "sso.approval_requested")
    _, again = await sso(app, "eve")
    assert again.headers["location"] == "/signin/pending"

    await app.services.users.update(user.id, status="active")
    eve, answer = await sso(app, "eve")
    assert answer.headers["location"] == "/"
    assert (await eve.get("/api/auth/me")).json()["username"] == "eve"


async def test_a_local_account_is_linked_only_with_its_password(app: Harness) -> None:
    await app.services.users.create_user("carol", PASSWORD)
    carol, answer = await sso(app, "carol")
    assert answer.headers["location"] == "/signin/link"
    assert (await carol.get("/api/auth/me")).status_code == 401
    offer = (await carol.get("/api/auth/oidc/link")).json()
    assert offer == {"provider": "Example School", "username": "carol"}
    wrong = await carol.post("/api/auth/oidc/link", json={"password": "not carol's password"})
    assert wrong.status_code == 401
    # Someone else's browser has no sign-in to link.
    stranger = await app.client()
    assert (
        await stranger.post("/api/auth/oidc/link", json={"password": PASSWORD})
    ).status_code == 404
    right = await carol.post("/api/auth/oidc/link", json={"password": PASSWORD})
    assert right.status_code == 200, right.text
    assert right.json()["username"] == "carol"
    assert await audit(app, "sso.linked")

    again, answer = await sso(app, "carol")
    assert answer.headers["location"] == "/"
    assert (await again.get("/api/auth/me")).json()["username"] == "carol"
    assert (await app.sql("SELECT count(*) FROM users"))[0] == 1


async def test_sign_out_ends_the_session_and_offers_the_providers_sign_out(
    app: Harness, op: NodeProvider
) -> None:
    alice, _ = await sso(app, "alice")
    response = await alice.post("/api/auth/logout")
    assert response.status_code == 200
    url = response.json()["end_session_url"]
    assert url.startswith(f"{op.issuer}/session/end?")
    assert parse_qs(urlsplit(url).query)["post_logout_redirect_uri"] == [f"{PUBLIC_URL}/login"]
    assert (await alice.get("/api/auth/me")).status_code == 401


# -- acceptance 2: tampered flows ------------------------------------------------------------------
async def refused(app: Harness, response: httpx.Response, reason: str) -> None:
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin/refused?reason={reason}"
    details = await audit(app, "sso.refused")
    assert any(f"reason={reason}" in d for d in details), details


async def test_a_wrong_state_is_refused(app: Harness) -> None:
    client = await app.client()
    callback = await sign_in_at(await start(client), "alice", PUBLIC_URL)
    tampered = callback.replace("state=", "state=x")
    await refused(app, await client.get(tampered), "state")
    # The flow is spent: the genuine answer afterwards does not sign in either.
    await refused(app, await client.get(callback), "state")
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_an_answer_from_another_browser_is_refused(app: Harness) -> None:
    victim = await app.client()
    attacker_callback = await sign_in_at(await start(await app.client()), "eve", PUBLIC_URL)
    await start(victim)  # the victim's own flow has its own state
    await refused(app, await victim.get(attacker_callback), "state")


async def test_a_replayed_code_is_refused(app: Harness) -> None:
    client = await app.client()
    callback = await sign_in_at(await start(client), "alice", PUBLIC_URL)
    assert (await client.get(callback)).headers["location"] == "/"
    # The same answer again (the flow was used) …
    await refused(app, await client.get(callback), "state")
    # … and the used code inside a fresh flow of the same browser: the provider refuses it.
    fresh_state = parse_qs(urlsplit(await start(client)).query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = await client.get(
        "/api/auth/oidc/school/callback", params={"code": code, "state": fresh_state}
    )
    await refused(app, response, "code")


async def test_the_providers_own_refusal_is_shown(app: Harness) -> None:
    client = await app.client()
    state = parse_qs(urlsplit(await start(client)).query)["state"][0]
    response = await client.get(
        "/api/auth/oidc/school/callback", params={"error": "access_denied", "state": state}
    )
    await refused(app, response, "provider_error")


@pytest.fixture
async def forged(make_harness: Callable[..., Any], forging: ForgingProvider) -> Harness:
    harness: Harness = await make_harness(
        public_url=PUBLIC_URL,
        oidc_providers=[
            {
                "name": "forged",
                "issuer": forging.issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            }
        ],
        oidc_clock_skew_seconds=60,
    )
    return harness


async def forged_sign_in(app: Harness, forging: ForgingProvider, **claims: Any) -> httpx.Response:
    client = await app.client()
    asked = parse_qs(urlsplit(await start(client, "forged")).query)
    forging.claims = {"nonce": asked["nonce"][0], **claims}
    return await client.get(
        "/api/auth/oidc/forged/callback", params={"code": "a-code", "state": asked["state"][0]}
    )


async def test_the_forging_provider_signs_in_when_nothing_is_tampered(
    forged: Harness, forging: ForgingProvider
) -> None:
    """The control: the same provider with a genuine token signs in, with PKCE checked."""
    response = await forged_sign_in(forged, forging)
    assert response.headers["location"] == "/"
    request = forging.token_requests[-1]
    assert request["grant_type"] == "authorization_code"
    assert request["redirect_uri"] == FORGED_CALLBACK
    assert request["authorization"].startswith("Basic ")
    assert len(request["code_verifier"]) >= 43


async def test_pkce_challenge_is_the_s256_of_the_verifier(
    forged: Harness, forging: ForgingProvider
) -> None:
    client = await forged.client()
    asked = parse_qs(urlsplit(await start(client, "forged")).query)
    forging.claims = {"nonce": asked["nonce"][0]}
    await client.get(
        "/api/auth/oidc/forged/callback", params={"code": "c", "state": asked["state"][0]}
    )
    assert s256(forging.token_requests[-1]["code_verifier"]) == asked["code_challenge"][0]


async def test_a_redirected_token_request_is_not_followed(
    forged: Harness, forging: ForgingProvider
) -> None:
    forging.redirect_token_request = True
    response = await forged_sign_in(forged, forging)
    await refused(forged, response, "unreachable")
    assert [r["path"] for r in forging.token_requests] == ["/token"]


async def test_an_unreachable_provider_gets_the_refused_page(
    make_harness: Callable[..., Any],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    app: Harness = await make_harness(
        public_url=PUBLIC_URL,
        oidc_providers=[
            {"name": "down", "issuer": f"http://127.0.0.1:{closed}", "client_id": CLIENT_ID}
        ],
    )
    client = await app.client()
    await refused(app, await client.get("/api/auth/oidc/down/start"), "unreachable")
    await refused(app, await client.get("/api/auth/oidc/nosuch/start"), "unknown_provider")


@pytest.mark.parametrize(
    ("claims", "other_key", "reason"),
    [
        ({"aud": "someone-else"}, False, "audience"),
        ({"aud": ["someone-else", "another"]}, False, "audience"),
        # Naming us as the authorized party does not make a token for another audience ours.
        ({"aud": "someone-else", "azp": CLIENT_ID}, False, "audience"),
        ({"exp": 1_700_000_000, "iat": 1_699_999_000}, False, "expired"),
        ({}, True, "signature"),
        ({"iss": "https://evil.example"}, False, "issuer"),
        ({"nonce": "not-the-nonce-we-sent"}, False, "nonce"),
    ],
)
async def test_a_tampered_id_token_is_refused(
    forged: Harness,
    forging: ForgingProvider,
    claims: dict[str, Any],
    other_key: bool,
    reason: str,
) -> None:
    forging.sign_with_other_key = other_key
    response = await forged_sign_in(forged, forging, **claims)
    await refused(forged, response, reason)
    assert (await forged.sql("SELECT count(*) FROM users"))[0] == 0


async def test_clock_skew_is_tolerated_up_to_the_setting(
    forged: Harness, forging: ForgingProvider
) -> None:
    now = int(time.time())
    slightly = await forged_sign_in(forged, forging, exp=now - 30, iat=now - 300)
    assert slightly.headers["location"] == "/"
    too_far = await forged_sign_in(forged, forging, exp=now - 90, iat=now - 300, sub="other")
    await refused(forged, too_far, "expired")


def test_clock_skew_over_two_minutes_is_a_configuration_error(
    make_settings: Callable[..., Any],
) -> None:
    with pytest.raises(ValueError, match="120"):
        make_settings(oidc_clock_skew_seconds=600)


# -- local passwords off -----------------------------------------------------------------------------
async def test_local_passwords_off_leaves_only_the_break_glass_admin(
    make_harness: Callable[..., Any], op: NodeProvider
) -> None:
    app: Harness = await make_harness(
        public_url=PUBLIC_URL,
        oidc_providers=[school(op.issuer)],
        role_quotas={"students": {}},
        local_passwords=False,
        break_glass_admin="root",
    )
    await app.services.users.create_user("root", PASSWORD, role="admin")
    await app.services.users.create_user("dave", PASSWORD)
    client = await app.client()
    assert (await client.get("/api/auth/config")).json()["local_passwords"] is False
    dave = await client.post("/api/auth/login", json={"username": "dave", "password": PASSWORD})
    assert dave.status_code == 403
    # A wrong password is just wrong, whoever it is for: nothing tells who keeps a password.
    for name in ("dave", "root"):
        guess = await client.post("/api/auth/login", json={"username": name, "password": "nope"})
        assert guess.status_code == 401
    root = await client.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
    assert root.status_code == 200
    register = await (await app.client()).post(
        "/api/auth/register", json={"username": "newbie", "password": PASSWORD}
    )
    assert register.status_code == 403
    _, answer = await sso(app, "alice")
    assert answer.headers["location"] == "/"


# -- acceptance 3: the trusted header ----------------------------------------------------------------
HEADER = {"X-Forwarded-User": "frank", "X-Forwarded-Email": "frank@school.example"}


@pytest.fixture
async def proxied(make_harness: Callable[..., Any]) -> Harness:
    harness: Harness = await make_harness(
        trusted_header="X-Forwarded-User",
        trusted_header_email="X-Forwarded-Email",
        trusted_header_proxies=["10.0.0.2", "127.0.0.1/32"],
    )
    return harness


async def test_the_trusted_header_from_the_proxy_signs_in(proxied: Harness) -> None:
    proxy = await proxied.client(peer=("10.0.0.2", 50000))
    me = await proxy.get("/api/auth/me", headers=HEADER)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "frank"
    again = await proxy.get("/api/auth/me", headers=HEADER)
    assert again.json()["id"] == me.json()["id"]
    assert await audit(proxied, "sso.account_created")
    created = await proxy.post("/api/conversations", headers=HEADER, json={"title": "mine"})
    assert created.status_code == 201
    # A cross-site write through the proxy (its cookie adds the header) is refused.
    forged = await proxy.post(
        "/api/conversations", headers={**HEADER, "Origin": "https://evil.example"}, json={}
    )
    assert forged.status_code == 403
    # The proxy's word does not bring back a disabled account.
    await proxied.services.users.update(me.json()["id"], status="disabled")
    refused = await proxy.get("/api/auth/me", headers=HEADER)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_disabled"


async def test_the_trusted_header_from_anywhere_else_is_ignored_and_logged(
    proxied: Harness,
) -> None:
    stranger = await proxied.client(peer=("10.9.9.9", 50000))
    with capture_logs() as logs:
        for _ in range(3):
            assert (await stranger.get("/api/auth/me", headers=HEADER)).status_code == 401
    ignored = [e for e in logs if "trusted header ignored" in e["event"]]
    assert len(ignored) == 1 and ignored[0]["peer"] == "10.9.9.9"  # rate-limited
    assert (await proxied.sql("SELECT count(*) FROM users"))[0] == 0


async def test_a_forwarded_address_does_not_make_a_stranger_the_proxy(
    make_harness: Callable[..., Any],
) -> None:
    """127.0.0.1 is a trusted_proxies address (its X-Forwarded-For is believed for the client
    address) but not the sign-in proxy: the header is judged by the TCP peer alone."""
    app: Harness = await make_harness(
        trusted_header="X-Forwarded-User", trusted_header_proxies=["10.0.0.2"]
    )
    local = await app.client(peer=("127.0.0.1", 50000))
    response = await local.get("/api/auth/me", headers={**HEADER, "X-Forwarded-For": "10.0.0.2"})
    assert response.status_code == 401


@pytest.mark.parametrize(("proxies", "status"), [(["127.0.0.1"], 200), (["10.0.0.2"], 401)])
async def test_the_trusted_header_over_a_real_socket(
    make_harness: Callable[..., Any], proxies: list[str], status: int
) -> None:
    app: Harness = await make_harness(
        trusted_header="X-Forwarded-User", trusted_header_proxies=proxies
    )
    async with httpx.AsyncClient(base_url=await app.serve()) as client:
        me = await client.get("/api/auth/me", headers=HEADER)
        assert me.status_code == status
        if status == 200:
            assert me.json()["username"] == "frank"


def test_the_trusted_header_needs_its_proxies(make_settings: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="trusted_header_proxies"):
        make_settings(trusted_header="X-Forwarded-User")


async def test_the_client_secret_is_masked_wherever_it_would_appear(forged: Harness) -> None:
    assert CLIENT_SECRET not in redact(f"token request failed with secret={CLIENT_SECRET}")
    config = (await (await forged.client()).get("/api/auth/config")).text
    assert CLIENT_SECRET not in config


def test_passwords_off_without_another_way_in_is_a_configuration_error(
    make_settings: Callable[..., Any],
) -> None:
    with pytest.raises(ValueError, match="another way in"):
        make_settings(local_passwords=False, break_glass_admin="root")


async def test_sign_ins_started_are_limited_per_address(
    forged: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sso_routes, "STARTS_PER_IP", "2/minute")
    client = await forged.client()
    for _ in range(2):
        assert (await start(client, "forged")).startswith("http://127.0.0.1:")
    await refused(forged, await client.get("/api/auth/oidc/forged/start"), "rate_limited")
    other = await forged.client(peer=("10.1.2.3", 40000))
    assert (await start(other, "forged")).startswith("http://127.0.0.1:")
