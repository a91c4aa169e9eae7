"""Fixtures for the linter's unit tests; the helpers live in ``lintkit``."""

from __future__ import annotations

import pytest

from engine.lint import lint
from lintkit import Linted, catalog, rules_file, write_tree


@pytest.fixture
def lint_tree(tmp_path):
    """``lint_tree({"rules/x.yaml": "..."}, paths=None, base=True)`` -> Linted."""
    def run(files: dict[str, str | None], *, paths=None, base: bool = True, checks=None) -> Linted:
        write_tree(tmp_path, files, base=base)
        scopes = [tmp_path / p for p in paths] if paths else None
        report, ctx = lint(tmp_path, scopes, catalog=catalog(), checks=checks)
        return Linted(report, ctx)
    return run


@pytest.fixture
def lint_rules(lint_tree):
    """``lint_rules('''- id: ...''')`` -> Linted, for a classification file with these rules."""
    def run(body: str, *, fallback: bool = True, **extra) -> Linted:
        return lint_tree({"rules/classification.yaml": rules_file(body, fallback=fallback), **extra})
    return run
