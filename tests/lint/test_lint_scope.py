"""engine/lint/__init__.py and context.py: what is loaded (everything under the config root)
versus what is reported (findings in the given paths)."""

from __future__ import annotations

from lintkit import catalog, rules_file, write_tree
from engine.lint import lint
from engine.lint.context import LintContext

DUPLICATE = rules_file("""
    - id: adhoc-app
      description: again
      priority: 7
      when: {path: cdr.id, exists: true}
      stream: adhoc
""", fallback=False)


def test_cross_file_checks_see_everything_but_report_only_the_paths(tmp_path):
    write_tree(tmp_path, {"rules/more.yaml": DUPLICATE,
                          "mappings/adhoc.yaml": "kind: mapping\nstream: adhoc\nfields: {a: {const: 1}}\n"})
    report, _ = lint(tmp_path, [tmp_path / "rules" / "more.yaml"], catalog=catalog())
    assert [(p.code, p.file) for p in report.findings] == [("rule.duplicate_id", "rules/more.yaml")]
    assert report.files == ["rules/more.yaml"]

    report, _ = lint(tmp_path, [tmp_path / "mappings"], catalog=catalog())
    assert [(p.code, p.file) for p in report.findings] == [("style.modeline", "mappings/adhoc.yaml")]

    report, _ = lint(tmp_path, catalog=catalog())  # default: rules and mappings
    assert sorted(p.code for p in report.findings) == ["rule.duplicate_id", "style.modeline"]
    assert len(report.files) == 4


def test_files_outside_the_config_tree_join_the_bundle(tmp_path):
    write_tree(tmp_path / "cfg", {})
    extra = tmp_path / "draft.yaml"
    extra.write_text(DUPLICATE)
    report, ctx = lint(tmp_path / "cfg", [extra], catalog=catalog())
    assert report.files == [str(extra)]
    assert [p.code for p in report.findings] == ["rule.duplicate_id"]


def test_bundle_level_findings_without_a_classification_file(tmp_path):
    write_tree(tmp_path, {"rules/classification.yaml": None})
    report, _ = lint(tmp_path, catalog=catalog())
    assert ("rule.no_fallback", "rules") in [(p.code, p.file) for p in report.findings]
    report, _ = lint(tmp_path, [tmp_path / "mappings"], catalog=catalog())
    assert "rule.no_fallback" not in [p.code for p in report.findings]


def test_context_keeps_valid_rules_of_a_broken_file(tmp_path):
    write_tree(tmp_path, {"rules/classification.yaml": rules_file("""
        - id: ok-1
          priority: 3
          when: {path: cdr.id, exists: true}
          stream: adhoc
        - id: Bad Id
          priority: 2
          when: {path: cdr.id, exists: true}
          stream: adhoc
        - id: ok-2
          priority: 1
          when: {path: cdr.id, matches: "("}
          stream: adhoc
    """)})
    ctx = LintContext.load(tmp_path)
    assert [r.id for r in ctx.rules] == ["ok-1", "ok-2"]
    assert [r.order for r in ctx.rules] == [0, 2]
    assert ctx.rule_node(ctx.rules[1])["id"] == "ok-2"
    assert [fb.reason for fb, _ in ctx.fallbacks] == ["UNCLASSIFIED"]


def test_unreadable_files_are_findings_not_crashes(tmp_path):
    write_tree(tmp_path, {})
    (tmp_path / "rules" / "latin1.yaml").write_bytes("kind: operator\nname: Caf\xe9\n".encode("latin-1"))
    (tmp_path / "rules" / "empty.yaml").write_text("")
    report, _ = lint(tmp_path, catalog=catalog())
    codes = {(p.code, p.file) for p in report.findings}
    assert ("yaml.encoding", "rules/latin1.yaml") in codes
    assert ("yaml.empty", "rules/empty.yaml") in codes
