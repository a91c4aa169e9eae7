from pathlib import Path

import pytest

from engine.config import load_bundle

OPERATOR = """\
kind: operator
name: Test GmbH
own_parties: ["DE*VLT"]
country: DE
default_time_zone: Europe/Berlin
"""

RULES = """\
kind: classification
rules:
  - id: adhoc
    priority: 100
    when:
      all:
        - {path: cdr.cdr_token.type, eq: AD_HOC_USER}
        - {path: facts.psp.captured, eq: true}
    stream: adhoc
  - id: msp
    priority: 50
    when: {path: facts.msp.active, eq: true}
    stream: msp
fallback: {reason: UNCLASSIFIED}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def config(tmp_path):
    return write(tmp_path, {"rules/operator.yaml": OPERATOR, "rules/classification.yaml": RULES})


def test_loads_and_hashes(config):
    bundle, problems = load_bundle(config)
    assert problems == []
    assert [r.id for r in bundle.rules] == ["adhoc", "msp"]
    assert len(bundle.version) == 12
    again, _ = load_bundle(config)
    assert again.version == bundle.version


def test_version_changes_with_content_but_not_with_tests(config):
    v1 = load_bundle(config)[0].version
    write(config, {"rules/tests/t.yaml": "kind: tests\ntests: []\n"})
    assert load_bundle(config)[0].version == v1
    write(config, {"rules/classification.yaml": RULES.replace("priority: 50", "priority: 60")})
    assert load_bundle(config)[0].version != v1


def test_bundle_is_immutable(config):
    bundle, _ = load_bundle(config)
    with pytest.raises((AttributeError, TypeError)):
        bundle.version = "x"
    with pytest.raises(TypeError):
        bundle.operator["name"] = "Other"
    assert isinstance(bundle.rules, tuple)


def test_rule_refs_carry_file_and_line(config):
    bundle, _ = load_bundle(config)
    assert bundle.rules[1].ref() == {"id": "msp", "file": "rules/classification.yaml", "line": 10}
    assert bundle.fallback.reason == "UNCLASSIFIED"


def test_schema_errors_point_at_the_line_with_did_you_mean(config):
    write(config, {"rules/classification.yaml": RULES.replace("eq: true}", "eqq: true}", 1)})
    bundle, problems = load_bundle(config)
    assert bundle is None
    (p,) = problems
    assert p.code == "schema.additionalProperties"
    assert (p.file, p.line) == ("rules/classification.yaml", 8)
    assert "did you mean 'eq'" in p.message


def test_deepest_oneof_branch_is_reported(config):
    write(config, {"rules/classification.yaml": RULES.replace("stream: msp", "stream: mps")})
    _, problems = load_bundle(config)
    assert any("did you mean 'msp'" in p.message for p in problems)


def test_duplicate_rule_ids_and_missing_fallback(config):
    text = RULES.replace("id: msp", "id: adhoc").replace("fallback: {reason: UNCLASSIFIED}\n", "")
    write(config, {"rules/classification.yaml": text})
    bundle, problems = load_bundle(config)
    assert bundle is None
    assert {p.code for p in problems} == {"rule.duplicate_id", "rule.no_fallback"}


def test_bad_regex_is_a_located_problem(config):
    write(config, {"rules/classification.yaml": RULES.replace("{path: facts.msp.active, eq: true}",
                                                              "{path: cdr.id, matches: '([a-'}")})
    bundle, problems = load_bundle(config)
    assert bundle is None
    (p,) = problems
    assert p.code == "rule.bad_regex" and p.line == 12


def test_operator_required_once(config):
    (config / "rules/operator.yaml").unlink()
    _, problems = load_bundle(config)
    assert [p.code for p in problems] == ["config.operator"]


def test_unknown_kind_suggests(config):
    write(config, {"mappings/x.yaml": "kind: maping\nstream: adhoc\nfields: {}\n"})
    _, problems = load_bundle(config)
    assert problems[0].code == "config.kind" and "did you mean 'mapping'" in problems[0].message


def test_repository_config_loads():
    root = Path(__file__).resolve().parents[2]
    if not (root / "rules" / "classification.yaml").exists():
        pytest.skip("repository rules not present")
    bundle, problems = load_bundle(root)
    assert [p for p in problems if p.is_error] == []
    assert bundle is not None and bundle.rules
