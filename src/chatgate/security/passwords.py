"""Password hashing (argon2id via pwdlib) and the password policy.

Hashing takes tens of milliseconds and ~64 MiB, so it runs in a worker thread, and a bounded
number at once so a burst of logins cannot exhaust memory. :func:`use_hasher` swaps the cost for
a block of code (the test suite hashes with tiny argon2 parameters).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pwdlib import PasswordHash

from chatgate.errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 1024
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="argon2")


# A hash of a throwaway password with argon2id's recommended parameters (m=64 MiB, t=3, p=4),
# made once and kept here: hashing it at every start cost 120-190 ms of start-up. Nothing secret
# is in it. Used only while the hasher would make a hash with the same parameters.
_RECOMMENDED_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$1utftrTVKHSLZUTYYmaqgQ$oj/GiFp5mR9nV1Vf+nBiw9G1KehnluGoxnA+a5FVERM"


@dataclass(frozen=True)
class _Hashing:
    hasher: PasswordHash
    # Verified against when the user does not exist, so unknown users cost the same as wrong
    # passwords: made with the same parameters as the hasher's own hashes, so it costs the same.
    dummy_hash: str

    @classmethod
    def of(cls, hasher: PasswordHash) -> _Hashing:
        if not hasher.current_hasher.check_needs_rehash(_RECOMMENDED_DUMMY_HASH):
            return cls(hasher, _RECOMMENDED_DUMMY_HASH)
        return cls(hasher, hasher.hash("chatgate-dummy-password-for-timing"))


_hashing = _Hashing.of(PasswordHash.recommended())


@contextlib.contextmanager
def use_hasher(hasher: PasswordHash) -> Iterator[None]:
    """Hash and verify with ``hasher`` inside the block, then go back to the one before.

    Process-wide, not per task: hashing runs in worker threads. For tests, which would otherwise
    spend most of their time in argon2id at its production cost (~0.3 s a hash)."""
    global _hashing
    saved, _hashing = _hashing, _Hashing.of(hasher)
    try:
        yield
    finally:
        _hashing = saved


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent.parent / "data" / "common-passwords.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def check_policy(password: str, *, username: str | None = None) -> None:
    """Length, and not a well-known password; any characters, no composition rules (OWASP ASVS)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    if not password.strip():
        raise WeakPassword("A password cannot be only spaces.")
    if username and password.casefold() == username.casefold():
        raise WeakPassword("The password cannot be the username.")
    if password.casefold() in _common_passwords() or password in _common_passwords():
        raise WeakPassword("This password is one of the most common ones; choose another.")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hashing.hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(matches, new hash if the stored one should be upgraded)."""
    loop = asyncio.get_running_loop()
    hashing = _hashing
    if password_hash is None:
        await loop.run_in_executor(_pool, hashing.hasher.verify, password, hashing.dummy_hash)
        return False, None
    update = hashing.hasher.verify_and_update
    return await loop.run_in_executor(_pool, update, password, password_hash)
