"""engine/lint/documents.py: YAML syntax, duplicate keys, kind, schema, modeline, and what the
bundle builder reports for kinds registered elsewhere."""

from __future__ import annotations

import importlib.util

import pytest

from engine.config import bundle as bundle_module
from engine.problems import Problem


def test_yaml_syntax_error_is_located_and_other_files_still_lint(lint_tree):
    r = lint_tree({
        "mappings/broken.yaml": "kind: mapping\nstream: adhoc\nfields: {a: [1, 2}\n",
        "rules/more.yaml": "# yaml-language-server: $schema=../schemas/classification.schema.json\n"
                           "kind: classification\nrules:\n  - id: x\n    priority: 3\n"
                           "    when: {path: cdr.id, exists: true}\n    stream: adhoc\n",
    })
    p = r.one("yaml.syntax")
    assert (p.file, p.line, p.severity) == ("mappings/broken.yaml", 3, "error")
    assert r.one("rule.no_description").file == "rules/more.yaml"


def test_duplicate_keys(lint_tree):
    r = lint_tree({"rules/operator.yaml": (
        "# yaml-language-server: $schema=../schemas/operator.schema.json\n"
        "kind: operator\nname: A\nname: B\nown_parties: [\"DE*VLT\"]\ncountry: DE\n"
        "default_time_zone: Europe/Berlin\n")})
    p = r.one("yaml.duplicate_key")
    assert (p.line, p.col) == (4, 1)
    assert p.message == "duplicate key 'name' (first defined at line 3)"


def test_unknown_kind_with_did_you_mean(lint_tree):
    r = lint_tree({"rules/x.yaml": "# yaml-language-server: $schema=../schemas/classification.schema.json\n"
                                   "kind: clasification\nrules: []\n"})
    p = r.one("config.kind")
    assert (p.line, p.col) == (2, 7)
    assert p.message.startswith("unknown kind 'clasification' (did you mean 'classification'?)")


def test_schema_reports_the_branch_the_author_meant_with_did_you_mean(lint_rules):
    r = lint_rules("""
        - id: typo
          description: misspelt operator and stream
          priority: 1
          when:
            all:
              - {path: cdr.id, exists: true}
              - {path: cdr.id, startwith: DE}
          stream: adhco
    """)
    messages = {p.code: p.message for p in r.findings if p.code.startswith("schema.")}
    assert "unknown key 'startwith' (did you mean 'startswith'?)" in messages["schema.additionalProperties"]
    assert "'adhco' is not one of ['adhoc', 'subscription', 'msp'] (did you mean 'adhoc'?)" == messages["schema.enum"]


def test_modeline_missing_is_a_warning(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": "kind: mapping\nstream: adhoc\nfields: {a: {const: 1}}\n",
                   "rules/tests/t.yaml": "kind: tests\ntests: []\n"})
    found = {p.file: p for p in r.of("style.modeline")}
    assert set(found) == {"mappings/adhoc.yaml", "rules/tests/t.yaml"}
    assert all(p.severity == "warning" and p.line == 1 for p in found.values())
    assert "$schema=../schemas/mapping.schema.json" in found["mappings/adhoc.yaml"].message
    assert "$schema=../../schemas/tests.schema.json" in found["rules/tests/t.yaml"].message
    assert r.report.exit_code == 0


def test_modeline_after_other_comments_is_found(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": "# Ad-hoc billing\n#\n# yaml-language-server: $schema=../schemas/mapping.schema.json\n"
                                          "kind: mapping\nstream: adhoc\nfields: {a: {const: 1}}\n"})
    assert r.of("style.modeline") == []


def test_modeline_below_content_does_not_count(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": "kind: mapping\n# yaml-language-server: $schema=../schemas/mapping.schema.json\n"
                                          "stream: adhoc\nfields: {a: {const: 1}}\n"})
    assert r.one("style.modeline").line == 1


def test_modeline_pointing_at_another_kinds_schema(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": "# yaml-language-server: $schema=../schemas/classification.schema.json\n"
                                          "kind: mapping\nstream: adhoc\nfields: {a: {const: 1}}\n"})
    p = r.one("style.modeline")
    assert (p.line, p.col) == (1, 33)
    assert "points at 'classification.schema.json' but this file is 'kind: mapping'" in p.message


def test_bundle_problems_pass_through(lint_tree):
    r = lint_tree({"rules/operator.yaml": None})
    p = r.one("config.operator")
    assert p.message == "expected exactly one 'kind: operator' file, found 0"


def test_problems_of_kinds_registered_elsewhere_are_reported(lint_tree, monkeypatch):
    """A kind registered with register_kind is linted by its own builder, with no lint code."""
    def builder(docs):
        return None, [Problem(code="tariff.unknown_id", message="made up", file=d.file, line=2, col=3)
                      for d in docs]
    monkeypatch.setitem(bundle_module._EXTENSIONS, "mapping", builder)
    r = lint_tree({})
    p = r.one("tariff.unknown_id")
    assert (p.file, p.line, p.col) == ("mappings/adhoc.yaml", 2, 3)


def test_codes_the_linter_reports_itself_are_not_doubled(lint_rules):
    r = lint_rules("""
        - id: a
          description: a
          priority: 1
          when: {path: cdr.id, matches: "("}
          stream: adhoc
        - id: a
          description: b
          priority: 2
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """, fallback=False)
    assert r.codes().count("rule.duplicate_id") == 1
    assert r.codes().count("rule.no_fallback") == 1
    assert r.codes().count("rule.bad_regex") == 1


@pytest.mark.skipif(importlib.util.find_spec("engine.tax.config") is None, reason="no tax_rules kind yet")
def test_kinds_registered_by_other_modules_are_known(lint_tree):
    r = lint_tree({"rules/tax.yaml": "# yaml-language-server: $schema=../schemas/tax_rules.schema.json\n"
                                     "kind: tax_rules\n"})
    assert r.of("config.kind") == []
    assert r.of("schema.required")  # known kind, checked against its schema
