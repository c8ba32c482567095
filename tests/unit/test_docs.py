"""Documentation generated from code stays in step with it."""

from __future__ import annotations

from pathlib import Path

from chatgate.config.reference import render

ROOT = Path(__file__).parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "docs/configuration.md is stale: run `make docs`"


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:400]
    assert "make run" in head and "make test" in head
