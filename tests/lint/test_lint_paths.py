"""engine/lint/paths.py: path.unknown in rules and mappings."""

from __future__ import annotations

from lintkit import MAPPING


def test_unknown_rule_path_points_at_the_path_with_did_you_mean(lint_rules):
    r = lint_rules("""
        - id: typo
          description: a
          priority: 1
          when:
            all:
              - {path: cdr.cdr_token.typ, eq: RFID}
              - {path: facts.msp.actve, eq: true}
          stream: adhoc
    """)
    found = r.of("path.unknown")
    assert [(p.line, p.col) for p in found] == [(9, 18), (10, 18)]
    assert found[0].message == ("rule 'typo': unknown field 'cdr.cdr_token.typ': 'cdr.cdr_token' has no "
                                "field 'typ' (did you mean 'cdr.cdr_token.type'?)")
    assert "(did you mean 'facts.msp.active'?)" in found[1].message
    assert all(p.severity == "error" for p in found)


def test_list_fields_must_be_indexed(lint_rules):
    r = lint_rules("""
        - id: period
          description: a
          priority: 1
          when: {path: cdr.charging_periods.tariff_id, eq: T1}
          stream: adhoc
    """)
    assert "index it, e.g. 'cdr.charging_periods.0.tariff_id'" in r.one("path.unknown").message


def test_known_paths_are_fine(lint_rules):
    r = lint_rules("""
        - id: fine
          description: a
          priority: 1
          when:
            any:
              - {path: cdr.charging_periods.0.tariff_id, eq: T1}
              - {path: facts.customer.type, eq: B2B}
              - not: {path: cdr.cdr_location.coordinates.latitude, exists: true}
          stream: adhoc
    """)
    assert r.of("path.unknown") == []


def test_mapping_paths_including_defaults_and_concat(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": """\
        # yaml-language-server: $schema=../schemas/mapping.schema.json
        kind: mapping
        stream: adhoc
        fields:
          invoice.id: {path: cdr.session_id, default: {path: cdr.ids}}
          invoice.text: {concat: [{const: "Session "}, {path: cdr.cdr_tokn.uid}]}
          invoice.amount: {path: pricing.total_cost.excl_vat}
          customer.name: {path: facts.customer.name}
    """})
    found = r.of("path.unknown")
    assert [(p.line, p.col) for p in found] == [(5, 54), (6, 55)]
    assert found[0].message.startswith("mapping field 'invoice.id': unknown field 'cdr.ids'")
    assert "(did you mean 'cdr.cdr_token.uid'?)" in found[1].message


def test_mapping_with_invalid_expression_is_left_to_the_schema_check(lint_tree):
    r = lint_tree({"mappings/adhoc.yaml": MAPPING.format(stream="adhoc").replace(
        "{path: cdr.cdr_token.uid}", "{path: cdr.nope, const: 1}")})
    assert r.of("path.unknown") == []
    assert any(c.startswith("schema.") for c in r.codes())


def test_missing_cdr_schema_is_a_note_not_a_finding(tmp_path):
    from lintkit import write_tree
    from engine.lint import lint
    from engine.lint.fields import FieldCatalog

    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "facts.schema.json").write_text('{"type": "object", "properties": {}}')
    write_tree(tmp_path / "cfg", {})
    report, ctx = lint(tmp_path / "cfg", catalog=FieldCatalog.load(tmp_path / "schemas"))
    assert report.findings == []
    assert report.notes == ["schemas/cdr.schema.json not found: cdr.* paths are not checked"]
