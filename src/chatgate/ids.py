"""Identifiers and clocks shared by every layer."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def new_id() -> str:
    """A 32-hex-digit id: 48 bits of milliseconds then 80 random bits.

    Time-ordered, so rows inserted together sit together in indexes and cursors sort by
    creation; random enough (80 bits) that ids cannot be guessed.
    """
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{os.urandom(10).hex()}"


def utcnow() -> datetime:
    return datetime.now(UTC)
