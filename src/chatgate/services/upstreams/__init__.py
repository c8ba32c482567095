"""Upstreams managed in the admin console (issue 18), one room per part:

- `catalog` — the stored rows as provider configurations and model routes (no I/O);
- `live` — applying them to the running instance, and following other instances' changes;
- `console` — the administrator's changes: validated, sealed, audited, applied;
- `view` — Admin → Upstreams as the console shows it, secrets left out;
- `probe` — model discovery and the connection test on a temporary provider.
"""

from __future__ import annotations

from chatgate.services.upstreams.console import UpstreamConsole
from chatgate.services.upstreams.live import LiveUpstreams
from chatgate.services.upstreams.probe import Probe
from chatgate.services.upstreams.view import upstreams_view

__all__ = ["LiveUpstreams", "Probe", "UpstreamConsole", "upstreams_view"]
