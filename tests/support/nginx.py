"""A real nginx in front of ChatGate, for the tests that must prove streams survive proxies."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def nginx(
    directory: Path, server_block: str, *, probe: tuple[str, int] | None = None
) -> Iterator[int]:
    """Run nginx with `server_block`, which listens on `{port}` (filled in here) or on `probe`."""
    if NGINX is None:
        pytest.skip(
            "NGINX NOT INSTALLED: the reverse-proxy tests did not run (apt-get install nginx)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # workers may run as nobody
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(
        f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    {server_block.replace("{port}", str(port))}
}}
"""
    )
    process = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", str(directory)], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(probe or ("127.0.0.1", port), timeout=0.2),
            ):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"nginx did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
