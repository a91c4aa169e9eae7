"""engine/lint/shadowing.py: rule.shadowed and rule.never_matches."""

from __future__ import annotations


def test_a_rule_implied_by_an_earlier_broader_rule_is_shadowed(lint_rules):
    r = lint_rules("""
        - id: msp-all
          description: every active roaming contract
          priority: 200
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
        - id: msp-reseller
          description: resellers
          priority: 100
          when:
            all:
              - {path: facts.msp.active, eq: true}
              - {path: facts.msp.reseller, eq: true}
          stream: adhoc
    """)
    p = r.one("rule.shadowed")
    assert p.severity == "error"
    assert p.message == ("rule 'msp-reseller' can never match: rule 'msp-all' (priority 200, "
                         "rules/classification.yaml:4) matches every CDR it matches")
    assert (p.file, p.line, p.col) == ("rules/classification.yaml", 13, 7)  # the "all:" under when


def test_priority_not_file_order_decides_who_is_earlier(lint_rules):
    r = lint_rules("""
        - id: narrow
          description: resellers
          priority: 100
          when:
            all:
              - {path: facts.msp.active, eq: true}
              - {path: facts.msp.reseller, eq: true}
          stream: adhoc
        - id: broad
          description: every active contract
          priority: 200
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
    """)
    assert "rule 'narrow' can never match: rule 'broad'" in r.one("rule.shadowed").message


def test_narrow_rule_first_is_fine(lint_rules):
    r = lint_rules("""
        - id: narrow
          description: resellers
          priority: 200
          when:
            all:
              - {path: facts.msp.active, eq: true}
              - {path: facts.msp.reseller, eq: true}
          stream: adhoc
        - id: broad
          description: every active contract
          priority: 100
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
    """)
    assert r.of("rule.shadowed") == []


def test_eq_shadowed_by_in_and_bounds_by_wider_bounds(lint_rules):
    r = lint_rules("""
        - id: app-or-adhoc
          description: app and ad-hoc users
          priority: 300
          when: {path: cdr.cdr_token.type, in: [APP_USER, AD_HOC_USER]}
          stream: adhoc
        - id: app
          description: app users
          priority: 290
          when: {path: cdr.cdr_token.type, eq: APP_USER}
          stream: adhoc
        - id: big
          description: at least 10 kWh
          priority: 200
          when: {path: cdr.total_energy, ge: 10}
          stream: adhoc
        - id: bigger
          description: more than 20 kWh
          priority: 190
          when: {path: cdr.total_energy, gt: 20}
          stream: adhoc
    """)
    assert sorted(p.message.split("'")[1] for p in r.of("rule.shadowed")) == ["app", "bigger"]


def test_a_rule_after_an_unconditional_one(lint_rules):
    r = lint_rules("""
        - id: catch-all
          description: everything
          priority: 500
          when:
            any:
              - {path: cdr.id, exists: true}
              - {path: cdr.id, missing: true}
          exception: {reason: HOLD}
        - id: app
          description: app users
          priority: 100
          when: {path: cdr.cdr_token.type, eq: APP_USER}
          stream: adhoc
    """)
    p = r.one("rule.shadowed")
    assert "rule 'app' can never match: rule 'catch-all'" in p.message
    assert "its condition always holds" in p.message


def test_first_shadowing_rule_is_named_once(lint_rules):
    r = lint_rules("""
        - id: a
          description: a
          priority: 300
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
        - id: b
          description: b
          priority: 200
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
        - id: c
          description: c
          priority: 100
          when: {path: facts.msp.active, eq: true}
          stream: adhoc
    """)
    assert [p.message.split("'")[1:4:2] for p in r.of("rule.shadowed")] == [["b", "a"], ["c", "a"]]


def test_unrelated_rules_are_not_shadowed(lint_rules):
    r = lint_rules("""
        - id: app
          description: app users
          priority: 300
          when: {path: cdr.cdr_token.type, eq: APP_USER}
          stream: adhoc
        - id: not-app
          description: everyone else without a PSP payment
          priority: 200
          when:
            all:
              - {path: cdr.cdr_token.type, ne: APP_USER}
              - {path: facts.psp, missing: true}
          stream: adhoc
        - id: small
          description: up to 5 kWh
          priority: 100
          when: {path: cdr.total_energy, le: 5}
          stream: adhoc
    """)
    assert r.of("rule.shadowed") == [] and r.of("rule.never_matches") == []


def test_a_contradictory_condition_never_matches(lint_rules):
    r = lint_rules("""
        - id: both
          description: impossible
          priority: 100
          when:
            all:
              - {path: cdr.total_energy, gt: 50}
              - {path: cdr.total_energy, lt: 10}
          stream: adhoc
        - id: later
          description: fine
          priority: 50
          when: {path: cdr.total_energy, gt: 50}
          stream: adhoc
    """)
    p = r.one("rule.never_matches")
    assert p.message == "rule 'both' can never match: its condition contradicts itself"
    assert r.of("rule.shadowed") == []  # a rule that never matches shadows nothing
