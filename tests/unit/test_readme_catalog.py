"""The README's sample catalog is the one in the code (travelbuddy/domain/sample_catalog.py)."""

from __future__ import annotations

from tests.catalog_table import README, catalog_markdown, readme_catalog


def test_the_readme_lists_the_sample_catalog_as_the_code_defines_it() -> None:
    assert readme_catalog(README.read_text()) == catalog_markdown(), (
        "README.md's sample catalog differs from the code: run python -m tests.catalog_table")
