"""Helpers for the tax tests: build TaxRules from inline YAML (file:line kept)."""

from __future__ import annotations

from pathlib import Path

from engine.config.bundle import read_document
from engine.tax.config import build_tax_rules

REPO = Path(__file__).resolve().parents[2]


def rules_from(tmp_path: Path, text: str, name: str = "rules/tax_rules.yaml"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    doc, problems = read_document(path, name)
    assert doc is not None, problems
    built, found = build_tax_rules([doc])
    return built, problems + found


def repo_rules():
    doc, problems = read_document(REPO / "rules" / "tax_rules.yaml", "rules/tax_rules.yaml")
    assert doc is not None and not problems, problems
    built, found = build_tax_rules([doc])
    assert found == [], found
    return built
