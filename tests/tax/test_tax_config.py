import json

import pytest

from tax_helpers import REPO, repo_rules, rules_from

HEAD = """\
kind: tax_rules
supplier_country: DE
notes: {reverse_charge: "Steuerschuldnerschaft des Leistungsempfängers"}
"""
TREATMENTS = """\
treatments:
  - {id: b2c, stream: adhoc, treatment: domestic}
  - {id: sub, stream: subscription, treatment: domestic}
  - {id: rc, stream: msp, when: {reseller: true}, treatment: reverse_charge, note: reverse_charge}
  - {id: dom, stream: msp, when: {reseller: false}, treatment: domestic}
"""


def codes(problems):
    return [(p.code, p.severity, p.line) for p in problems]


def test_repository_tax_rules_load_clean():
    rules = repo_rules()
    assert rules.supplier_country == "DE" and len(rules.treatments) == 6


def test_overlapping_rates_are_an_error_at_the_line(tmp_path):
    _, problems = rules_from(tmp_path, HEAD + """\
rates:
  - {country: FI, rate: 24, valid_from: "2020-01-01", valid_to: "2024-09-01"}
  - {country: FI, rate: 25.5, valid_from: "2024-09-01"}
""" + TREATMENTS)
    assert codes(problems) == [("validity.overlap", "error", 6)]
    assert problems[0].file == "rules/tax_rules.yaml" and problems[0].col == 5


def test_gaps_are_a_warning(tmp_path):
    _, problems = rules_from(tmp_path, HEAD + """\
rates:
  - {country: FI, rate: 24, valid_from: "2020-01-01", valid_to: "2024-08-30"}
  - {country: FI, rate: 25.5, valid_from: "2024-09-01"}
""" + TREATMENTS)
    assert codes(problems) == [("validity.gap", "warning", 6)]
    assert "2024-08-31" in problems[0].message


def test_unknown_note_with_did_you_mean_and_duplicate_id(tmp_path):
    _, problems = rules_from(tmp_path, HEAD + """\
rates: [{country: DE, rate: 19, valid_from: "2020-01-01"}]
treatments:
  - {id: b2c, stream: "*", when: {customer_type: B2C}, treatment: domestic}
  - {id: b2c, stream: msp, when: {reseller: true}, treatment: reverse_charge, note: reverse_charg}
  - {id: other, stream: "*", treatment: domestic}
""")
    got = codes(problems)
    assert ("tax.duplicate_id", "error", 7) in got
    assert ("tax.unknown_note", "error", 7) in got
    assert "did you mean 'reverse_charge'" in next(p.message for p in problems if p.code == "tax.unknown_note")


def test_unreachable_rules_missing_notes_and_streams_warn(tmp_path):
    _, problems = rules_from(tmp_path, HEAD + """\
rates: [{country: DE, rate: 19, valid_from: "2020-01-01"}]
treatments:
  - {id: all-msp, stream: msp, treatment: domestic}
  - {id: rc, stream: msp, when: {reseller: true}, treatment: reverse_charge}
""")
    got = {p.code for p in problems}
    assert {"tax.unreachable", "tax.reverse_charge_without_note", "tax.stream_without_rule"} <= got
    assert all(p.severity == "warning" for p in problems)


def test_schema_rejects_bad_country_and_treatment(tmp_path):
    from engine.config.bundle import read_document
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + """\
rates: [{country: deu, rate: 19, valid_from: "2020-01-01"}]
treatments: [{id: x, stream: adhoc, treatment: domestik}]
""")
    _, problems = read_document(path, "t.yaml")
    messages = " ".join(p.message for p in problems)
    assert "did you mean 'domestic'" in messages and any(p.line == 4 for p in problems)


SCHEMAS = ["tax_rules", "tariffs", "tariff_plans", "msp_tariffs"]


def _properties_without_description(node, path="$"):
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            if isinstance(sub, dict) and "description" not in sub:
                yield f"{path}.properties.{name}"
        for key, value in node.items():
            yield from _properties_without_description(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties_without_description(value, f"{path}[{i}]")


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_schema_property_has_a_description(kind):
    from jsonschema import Draft202012Validator
    schema = json.loads((REPO / "schemas" / f"{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert list(_properties_without_description(schema)) == []


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_rules_file_has_modeline_and_kind(kind):
    text = (REPO / "rules" / f"{kind}.yaml").read_text()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema=../schemas/{kind}.schema.json"
    assert f"\nkind: {kind}\n" in text
