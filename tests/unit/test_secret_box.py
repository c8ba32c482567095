"""Console secrets are sealed with the instance secret and open only with it."""

from __future__ import annotations

import pytest

from chatgate.errors import SecretUnreadable
from chatgate.security.secret_box import SecretBox

KEY = "sk-live-0123456789abcdef"


def test_a_sealed_secret_opens_with_the_same_instance_secret_only() -> None:
    box = SecretBox(b"\x01" * 32)
    sealed = box.seal(KEY)
    assert KEY not in sealed and KEY.encode() not in sealed.encode()
    assert box.open(sealed) == KEY
    assert SecretBox(b"\x01" * 32).open(sealed) == KEY  # another instance of the same database
    assert box.seal(KEY) != sealed  # a fresh IV each time: equal keys are not recognisable


def test_another_instance_secret_gives_a_clear_error() -> None:
    sealed = SecretBox(b"\x01" * 32).seal(KEY)
    with pytest.raises(SecretUnreadable, match="instance secret"):
        SecretBox(b"\x02" * 32).open(sealed)
    with pytest.raises(SecretUnreadable):
        SecretBox(b"\x01" * 32).open("not a token")
    with pytest.raises(SecretUnreadable):
        SecretBox(b"\x01" * 32).open(sealed[:-4] + "AAAA")
