"""Helpers for the linter's unit tests (imported as ``lintkit``: ``conftest`` is not a unique
module name across test directories): a config tree in tmp_path, linted with a small CDR
schema fixture (tests/lint/cdr.schema.json) so the tests do not depend on the real one."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from engine.config.schema_check import SCHEMA_DIR
from engine.lint.fields import FieldCatalog

HERE = Path(__file__).resolve().parent


def catalog() -> FieldCatalog:
    with open(HERE / "cdr.schema.json", encoding="utf-8") as fh:
        cdr = json.load(fh)
    with open(SCHEMA_DIR / "facts.schema.json", encoding="utf-8") as fh:
        facts = json.load(fh)
    return FieldCatalog({"cdr": cdr, "facts": facts}, directory=HERE)


OPERATOR = """\
# yaml-language-server: $schema=../schemas/operator.schema.json
kind: operator
name: Volt GmbH
own_parties: ["DE*VLT"]
country: DE
default_time_zone: Europe/Berlin
"""

MAPPING = """\
# yaml-language-server: $schema=../schemas/mapping.schema.json
kind: mapping
stream: {stream}
fields:
  customer.id: {{path: cdr.cdr_token.uid}}
"""

# A clean classification: its one stream has a mapping, its rule a description.
CLASSIFICATION = """\
# yaml-language-server: $schema=../schemas/classification.schema.json
kind: classification
rules:
  - id: adhoc-app
    description: App payments
    priority: 100
    when: {path: cdr.cdr_token.type, eq: AD_HOC_USER}
    stream: adhoc
fallback:
  reason: UNCLASSIFIED
"""


def rules_file(body: str, *, fallback: bool = True) -> str:
    """A classification file whose ``rules:`` list is ``body`` (YAML, dedented)."""
    text = ("# yaml-language-server: $schema=../schemas/classification.schema.json\n"
            "kind: classification\nrules:\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n")
    if fallback:
        text += "fallback:\n  reason: UNCLASSIFIED\n"
    return text


def write_tree(root: Path, files: dict[str, str | None], *, base: bool = True) -> Path:
    """Write a config tree.  ``base`` adds an operator, a clean classification (one adhoc rule
    and the fallback) and the adhoc mapping; a file mapped to None is left out."""
    tree: dict[str, str | None] = {}
    if base:
        tree["rules/operator.yaml"] = OPERATOR
        tree["rules/classification.yaml"] = CLASSIFICATION
        tree["mappings/adhoc.yaml"] = MAPPING.format(stream="adhoc")
    tree.update(files)
    for name, text in tree.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if not text.startswith("#") else text, encoding="utf-8")
    return root


class Linted:
    """The outcome of linting a tree: findings, and shortcuts to look at them."""

    def __init__(self, report, ctx):
        self.report = report
        self.ctx = ctx
        self.findings = report.findings

    def codes(self) -> list[str]:
        return [p.code for p in self.findings]

    def of(self, code: str) -> list:
        return [p for p in self.findings if p.code == code]

    def one(self, code: str):
        found = self.of(code)
        assert len(found) == 1, f"expected one {code}, got {found}\nall: {self.findings}"
        return found[0]
