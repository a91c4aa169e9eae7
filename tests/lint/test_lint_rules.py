"""engine/lint/rules.py: priority ties, regexes, the fallback, descriptions."""

from __future__ import annotations

from lintkit import rules_file


def test_priority_tie_is_an_error_on_the_later_rule(lint_rules):
    r = lint_rules("""
        - id: first
          description: a
          priority: 100
          when: {path: cdr.cdr_token.type, eq: APP_USER}
          stream: adhoc
        - id: second
          description: b
          priority: 100
          when: {path: cdr.cdr_token.type, eq: RFID}
          stream: adhoc
    """)
    p = r.one("rule.priority_tie")
    assert p.severity == "error"
    assert (p.line, p.col) == (11, 15)  # the value of the second 'priority'
    assert "rule 'second' has priority 100, the same as rule 'first' (rules/classification.yaml:4)" in p.message


def test_priority_ties_across_files(lint_tree):
    r = lint_tree({"rules/more.yaml": rules_file("""
        - id: other
          description: b
          priority: 100
          when: {path: cdr.cdr_token.type, eq: RFID}
          stream: adhoc
    """, fallback=False)})
    p = r.one("rule.priority_tie")
    assert p.file == "rules/more.yaml"
    assert "rule 'adhoc-app' (rules/classification.yaml:4)" in p.message


def test_bad_regex_points_at_the_pattern_and_keeps_the_rule(lint_rules):
    r = lint_rules("""
        - id: bad
          description: a
          priority: 100
          when: {path: cdr.id, matches: "^(DE"}
          stream: adhoc
        - id: same-priority
          description: b
          priority: 100
          when: {path: cdr.id, eq: x}
          stream: adhoc
    """)
    p = r.one("rule.bad_regex")
    assert (p.line, p.col) == (7, 35)
    assert p.message.startswith("rule 'bad': regex '^(DE' does not compile: missing ), unterminated subpattern")
    # the rule with the broken regex still takes part in the other checks
    assert "rule 'same-priority' has priority 100, the same as rule 'bad'" in r.one("rule.priority_tie").message


def test_missing_fallback(lint_rules):
    r = lint_rules("""
        - id: a
          description: a
          priority: 1
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """, fallback=False)
    p = r.one("rule.no_fallback")
    assert (p.file, p.line, p.severity) == ("rules/classification.yaml", 1, "error")


def test_fallback_in_another_file_counts(lint_tree):
    r = lint_tree({"rules/more.yaml": rules_file("""
        - id: other
          description: b
          priority: 5
          when: {path: cdr.cdr_token.type, eq: RFID}
          stream: adhoc
    """, fallback=False)})
    assert r.of("rule.no_fallback") == []


def test_a_second_fallback_is_an_error(lint_tree):
    r = lint_tree({"rules/more.yaml": rules_file("""
        - id: other
          description: b
          priority: 5
          when: {path: cdr.cdr_token.type, eq: RFID}
          stream: adhoc
    """, fallback=True)})
    p = r.one("rule.duplicate_fallback")
    assert p.file == "rules/more.yaml" and p.line == 9
    assert "the first is at rules/classification.yaml:9" in p.message


def test_rule_without_description_is_a_warning(lint_rules):
    r = lint_rules("""
        - id: terse
          priority: 1
          when: {path: cdr.id, exists: true}
          stream: adhoc
        - id: blank
          description: "  "
          priority: 2
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """)
    found = r.of("rule.no_description")
    assert [p.severity for p in found] == ["warning", "warning"]
    assert [(p.line, p.col) for p in found] == [(4, 5), (8, 5)]
    assert r.report.exit_code == 1  # (blank is shadowed by terse: an error)


def test_warnings_alone_are_clean(lint_rules):
    r = lint_rules("""
        - id: terse
          priority: 1
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """)
    assert r.codes() == ["rule.no_description"]
    assert r.report.exit_code == 0


def test_invalid_rules_are_skipped_not_fatal(lint_rules):
    r = lint_rules("""
        - id: broken
          description: misspelt operator
          priority: 1
          when: {path: cdr.id, eqq: x}
          stream: adhoc
        - id: fine
          priority: 1
          when: {path: cdr.id, exists: true}
          stream: adhoc
    """)
    assert r.one("schema.additionalProperties").line == 7
    # 'fine' is still checked; 'broken' is not parsed, so no tie with it
    assert r.one("rule.no_description").line == 9
    assert r.of("rule.priority_tie") == []
