"""The `chatgate` command: its subcommands (`commands`) and the `doctor` report."""

from __future__ import annotations

from chatgate.cli.commands import app, main

__all__ = ["app", "main"]
