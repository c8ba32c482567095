"""Secrets saved in the admin console (upstream keys, proxy URLs with passwords), encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key derived by HKDF-SHA256 from the
instance secret, which every instance of one database shares. So a copied database file, a backup
or an export holds only ciphertext, and it opens again only next to the same instance secret.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from chatgate.errors import SecretUnreadable

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# Domain separation: the same instance secret also keys session and API-key hashes.
_INFO = b"chatgate upstream secrets v1"


class SecretBox:
    def __init__(self, instance_secret: bytes) -> None:
        self._instance_secret = instance_secret
        self._fernet: Fernet | None = None

    @property
    def _box(self) -> Fernet:
        # `cryptography` costs 8 MB of memory: an instance with no key saved in the console never
        # loads it.
        if self._fernet is None:
            from cryptography.fernet import Fernet
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
                self._instance_secret
            )
            self._fernet = Fernet(base64.urlsafe_b64encode(key))
        return self._fernet

    def seal(self, plain: str) -> str:
        return self._box.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._box.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretUnreadable() from None
