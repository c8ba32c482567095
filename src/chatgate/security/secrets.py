"""The instance secret: generated once, kept in the data directory with 0600 permissions."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = "secret_key"


def load_or_create_secret(data_dir: Path) -> bytes:
    """Read the instance secret, creating it (256 random bits) on first start."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if len(value) < 64:
            raise RuntimeError(
                f"{path} is damaged (too short); delete it to generate a new one."
            ) from None
        return bytes.fromhex(value)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class TokenHasher:
    """Stored form of bearer secrets (session cookies, API keys, invite and setup codes).

    An HMAC with the instance secret: the database alone cannot produce or verify a token.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def hash(self, token: str, *, purpose: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
