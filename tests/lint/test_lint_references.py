"""engine/lint/references.py: duplicate names and dangling references between kinds."""

from __future__ import annotations

import pytest

from lintkit import MAPPING, rules_file
from engine.lint import references
from engine.lint.context import value_loc
from engine.lint.references import Ref, defines, refers_to, unique

POSTING_GROUPS = """\
# yaml-language-server: $schema=../schemas/posting_groups.schema.json
kind: posting_groups
groups:
  - {id: B2C-ENERGY, stream: adhoc, tax_treatment: domestic, product: ENERGY, business_group: B2C,
     revenue_account: "8400", receivable_account: "1400"}
  - {id: B2C-FEE, stream: adhoc, tax_treatment: domestic, product: SESSION_FEE, business_group: B2C,
     revenue_account: "8400", receivable_account: "1400"}
  - {id: B2C-ENERGY-2, stream: adhoc, tax_treatment: domestic, product: ENERGY, business_group: B2C,
     revenue_account: "8401", receivable_account: "1400"}
  - {id: B2C-FEE, stream: msp, tax_treatment: reverse_charge, product: ENERGY, business_group: MSP,
     revenue_account: "8337", receivable_account: "1410"}
"""


def test_duplicate_rule_ids_across_files(lint_tree):
    r = lint_tree({"rules/more.yaml": rules_file("""
        - id: adhoc-app
          description: again
          priority: 7
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """, fallback=False)})
    p = r.one("rule.duplicate_id")
    assert (p.file, p.line, p.col, p.severity) == ("rules/more.yaml", 4, 9, "error")
    assert p.message.startswith("duplicate rule id 'adhoc-app': already used at rules/classification.yaml:4")


def test_rule_stream_without_mapping_and_mapping_without_rule(lint_tree):
    r = lint_tree({
        "rules/more.yaml": rules_file("""
            - id: roaming
              description: roaming partners
              priority: 7
              when: {path: facts.msp, exists: true}
              stream: msp
        """, fallback=False),
        "mappings/subscription.yaml": MAPPING.format(stream="subscription"),
    })
    no_mapping = r.one("rule.no_mapping")
    assert no_mapping.severity == "warning" and (no_mapping.file, no_mapping.line) == ("rules/more.yaml", 8)
    assert no_mapping.message.startswith("rule 'roaming' sends CDRs to stream 'msp', but no mapping file has 'stream: msp'")
    no_rule = r.one("mapping.no_rule")
    assert no_rule.severity == "warning" and (no_rule.file, no_rule.line, no_rule.col) == ("mappings/subscription.yaml", 3, 9)
    assert no_rule.message == "no rule sends CDRs to stream 'subscription': the mapping mappings/subscription.yaml is never used"
    assert r.report.exit_code == 0


def test_two_mappings_for_one_stream(lint_tree):
    r = lint_tree({"mappings/adhoc-copy.yaml": MAPPING.format(stream="adhoc")})
    p = r.one("mapping.duplicate_stream")
    assert p.file == "mappings/adhoc.yaml"  # sorted: adhoc-copy.yaml comes first
    assert "a second mapping for stream 'adhoc'" in p.message


def test_posting_groups_duplicate_key_and_id(lint_tree):
    r = lint_tree({"mappings/posting_groups.yaml": POSTING_GROUPS})
    key = r.one("posting_groups.duplicate")
    assert (key.line, key.col, key.severity) == (8, 5, "error")
    assert key.message.startswith("posting group 'B2C-ENERGY-2' repeats (stream adhoc, tax_treatment domestic, "
                                  "product ENERGY) of posting group 'B2C-ENERGY' (at mappings/posting_groups.yaml:4)")
    dup = r.one("posting_groups.duplicate_id")
    assert (dup.line, dup.col) == (10, 10)


def test_tests_must_expect_existing_rules(lint_tree):
    r = lint_tree({"rules/tests/t.yaml": """\
        # yaml-language-server: $schema=../../schemas/tests.schema.json
        kind: tests
        tests:
          - name: app
            cdr: {inline: {}}
            expect: {rule: adhoc-ap}
          - name: nothing matches
            cdr: {inline: {}}
            expect: {rule: fallback}
    """})
    p = r.one("tests.unknown_rule")
    assert (p.file, p.line, p.col) == ("rules/tests/t.yaml", 6, 20)
    assert p.message == "test 'app' expects rule 'adhoc-ap', which does not exist (did you mean 'adhoc-app'?)"


# -- the mechanism: new kinds add reference checks with one-line registrations ------------------

@pytest.fixture
def registries(monkeypatch):
    monkeypatch.setattr(references, "DEFINERS", {k: list(v) for k, v in references.DEFINERS.items()})
    monkeypatch.setattr(references, "UNIQUES", list(references.UNIQUES))
    monkeypatch.setattr(references, "REFERENCES", list(references.REFERENCES))


def test_registering_a_new_reference_check(lint_tree, registries):
    """Exception reasons: defined by rules and the fallback, used by tests' expect.exception."""
    @defines("reason")
    def reasons(ctx):
        for rule in ctx.rules:
            if rule.exception:
                yield Ref(rule.exception["reason"], value_loc(ctx.rule_node(rule), "exception"), f"rule {rule.id!r}")
        for fb, doc in ctx.fallbacks:
            yield Ref(fb.reason, value_loc(doc, "fallback"), "the fallback")

    @refers_to("reason", "tests.unknown_exception", noun="exception reason")
    def expected_reasons(ctx):
        for doc in ctx.docs("tests"):
            for item in doc.data["tests"]:
                if isinstance(item["expect"].get("exception"), str):
                    yield Ref(item["expect"]["exception"], value_loc(item["expect"], "exception"),
                              f"test {item['name']!r}")

    unique("reason", "rule.duplicate_reason", noun="exception reason", severity="warning")

    r = lint_tree({
        "rules/more.yaml": rules_file("""
            - id: hold
              description: hold
              priority: 9
              when: {path: cdr.id, missing: true}
              exception: {reason: UNCLASSIFIED}
        """, fallback=False),
        "rules/tests/t.yaml": """\
            # yaml-language-server: $schema=../../schemas/tests.schema.json
            kind: tests
            tests:
              - {name: a, cdr: {inline: {}}, expect: {exception: UNCLASIFIED}}
              - {name: b, cdr: {inline: {}}, expect: {exception: UNCLASSIFIED}}
        """,
    })
    p = r.one("tests.unknown_exception")
    assert p.message == "test 'a' refers to unknown exception reason 'UNCLASIFIED' (did you mean 'UNCLASSIFIED'?)"
    assert (p.file, p.line) == ("rules/tests/t.yaml", 4)
    dup = r.one("rule.duplicate_reason")  # rule 'hold' defines it first, then the fallback again
    assert dup.severity == "warning" and dup.file == "rules/classification.yaml"


def test_references_to_a_kind_that_is_not_loaded_are_skipped(lint_tree, registries):
    @refers_to("tariff", "mapping.unknown_tariff")
    def tariffs(ctx):
        yield Ref("T-1", None, "somebody")

    r = lint_tree({})
    assert r.of("mapping.unknown_tariff") == []


def test_definitions_from_invalid_items_still_count(lint_tree):
    """A rule with a schema error still defines its id (no spurious 'unknown rule')."""
    r = lint_tree({
        "rules/more.yaml": rules_file("""
            - id: broken
              priority: not-a-number
              when: {path: cdr.id, exists: true}
              stream: adhoc
        """, fallback=False),
        "rules/tests/t.yaml": "# yaml-language-server: $schema=../../schemas/tests.schema.json\n"
                              "kind: tests\ntests:\n  - {name: a, cdr: {inline: {}}, expect: {rule: broken}}\n",
    })
    assert r.of("tests.unknown_rule") == []
    assert r.of("schema.type")


def test_ref_defaults():
    assert Ref("x", None).shown == "'x'"
    assert Ref(("a", "b"), None, show="a/b").shown == "a/b"
