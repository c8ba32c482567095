"""The deployment paths people use: the shipped nginx configuration with HTTPS in front of
ChatGate, built-in HTTPS, forwarded addresses trusted only from proxies, graceful SIGTERM."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import providers_for
from tests.conftest import PASSWORD
from tests.fakes.upstream import FakeUpstream
from tests.support.nginx import free_port, nginx
from tests.support.server import ChatGateProcess, write_config
from tests.support.streams import SseParser

pytestmark = [pytest.mark.slow, pytest.mark.nginx]
DEPLOY = Path(__file__).parents[2] / "deploy"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "tls"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "chatgate",
            "cert",
            "--self-signed",
            "--host",
            "localhost",
            "--host",
            "127.0.0.1",
            "--host",
            "127.0.0.2",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out / "cert.pem", out / "key.pem"


def _stream_times(client: httpx.Client, cid: str) -> list[float]:
    parser, times = SseParser(), []
    with client.stream(
        "POST", f"/api/conversations/{cid}/messages", json={"content": "go"}
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            times += [time.monotonic() for e in parser.feed(chunk) if e.event == "delta"]
    return times


def test_shipped_nginx_config_serves_https_redirects_http_streams_and_forwards_the_address(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    fake.reply = "one two three four five six seven eight nine ten"
    fake.set_scenario("normal", token_delay=0.1)
    cert, key = _certificate(tmp_path)
    config = write_config(tmp_path / "chatgate.toml", providers_for(fake))
    server = ChatGateProcess(tmp_path / "data", config)
    server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    http_port, https_port = free_port(), free_port()
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("server 127.0.0.1:3002;", f"server 127.0.0.1:{server.port};")
    site = re.sub(r"listen 80;\n\s*listen \[::\]:80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(
        r"listen 443 ssl http2;\n\s*listen \[::\]:443 ssl http2;",
        f"listen 127.0.0.2:{https_port} ssl http2;",
        site,
    )
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    try:
        with nginx(tmp_path / "nginx", site, probe=("127.0.0.1", http_port)):
            redirect = httpx.get(
                f"http://127.0.0.1:{http_port}/api/auth/config",
                headers={"Host": "chat.example.org"},
            )
            assert redirect.status_code == 301
            assert redirect.headers["location"] == "https://chat.example.org/api/auth/config"
            context = ssl.create_default_context(cafile=str(cert))
            # The person's browser: a different address from nginx's own (127.0.0.1).
            transport = httpx.HTTPTransport(verify=context, local_address="127.0.0.3")
            with httpx.Client(
                base_url=f"https://127.0.0.2:{https_port}", transport=transport, timeout=30
            ) as client:
                assert client.get("/healthz").json() == {"status": "ok"}
                login = client.post(
                    "/api/auth/login",
                    json={"username": "alice", "password": PASSWORD},
                    headers={"Origin": f"https://127.0.0.2:{https_port}"},
                )
                assert login.status_code == 200
                assert "secure" in login.headers["set-cookie"].lower(), (
                    "the cookie is Secure behind HTTPS"
                )
                cid = client.post("/api/conversations", json={}).json()["id"]
                times = _stream_times(client, cid)
            assert len(times) >= 8 and times[-1] - times[0] > 0.5, (
                "tokens arrived in a lump through nginx"
            )
    finally:
        server.stop()
    logged = server.log.read_text()
    assert "client=127.0.0.3" in logged, "ChatGate logs the person's address, not nginx's"
    assert re.search(
        r"path=/api/conversations/[0-9a-f]+/messages.*status=200|status=200.*path=/api/conversations/[0-9a-f]+/messages",
        logged,
    )


def test_builtin_https_and_forged_forwarded_for_is_ignored(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server = ChatGateProcess(tmp_path / "data")
    port = server.port
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatgate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--forwarded-allow-ips",
            "192.0.2.1",
        ],
        env=server.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(
                    f"https://127.0.0.1:{port}/healthz",
                    verify=context,
                    headers={"X-Forwarded-For": "6.6.6.6"},
                )
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0
    assert "https://" in output
    assert "6.6.6.6" not in output and "client=127.0.0.1" in output


def test_sigterm_during_a_stream_finishes_it_or_marks_it_interrupted_and_exits_0(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    fake.reply = " ".join(f"w{n}" for n in range(60))
    fake.set_scenario("normal", token_delay=0.1)
    config = write_config(
        tmp_path / "chatgate.toml", providers_for(fake), shutdown_grace_seconds=1.0
    )
    server = ChatGateProcess(tmp_path / "data", config)
    server.cli("user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD}
        ).raise_for_status()
        cid = client.post("/api/conversations", json={}).json()["id"]
        parser, events = SseParser(), []
        with client.stream(
            "POST", f"/api/conversations/{cid}/messages", json={"content": "long"}
        ) as response:
            for chunk in response.iter_bytes():
                events += parser.feed(chunk)
                if sum(e.event == "delta" for e in events) == 5 and server.process is not None:
                    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert server.process is not None
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    restarted = ChatGateProcess(tmp_path / "data", config)
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            client.post(
                "/api/auth/login", json={"username": "alice", "password": PASSWORD}
            ).raise_for_status()
            answer = client.get(f"/api/conversations/{cid}/messages").json()["messages"][-1]
        assert answer["status"] in ("complete", "interrupted")
        assert answer["content"]
    finally:
        restarted.stop()
