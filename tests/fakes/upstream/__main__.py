"""``python -m tests.fakes.upstream --port 9100``: see :mod:`tests.fakes.upstream.cli`."""

from __future__ import annotations

from tests.fakes.upstream.cli import main

raise SystemExit(main())
