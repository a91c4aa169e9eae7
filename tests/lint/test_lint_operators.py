"""engine/lint/operators.py: operators and values that do not fit the field's type."""

from __future__ import annotations

import pytest


def one_rule(when: str) -> str:
    return f"""
        - id: r
          description: a
          priority: 1
          when: {when}
          stream: adhoc
    """


@pytest.mark.parametrize("when, code, severity, fragment", [
    # gt on a string enumeration
    ("{path: cdr.cdr_token.type, gt: APP_USER}", "rule.type_mismatch", "error",
     "cdr.cdr_token.type is a string enumeration (AD_HOC_USER, APP_USER, OTHER, RFID); ordering it"),
    # matches on a number
    ("{path: cdr.total_energy, matches: '^1'}", "rule.type_mismatch", "error",
     "matches works on text, but cdr.total_energy is a number: always false; use eq/in or lt/le/gt/ge"),
    # matches on a date-time
    ("{path: cdr.start_date_time, matches: '^2026'}", "rule.type_mismatch", "error",
     "cdr.start_date_time is a date-time: always false; compare date-times with ge/lt"),
    # eq 5 on a string field
    ("{path: cdr.cdr_location.id, eq: 5}", "rule.type_mismatch", "error",
     "cdr.cdr_location.id is a string and never equals the number 5, so this is always false; quote it: '5'"),
    # a quoted number on a number field
    ("{path: cdr.total_energy, ge: '10'}", "rule.type_mismatch", "error",
     "never orders with the string '10': always false; write it without quotes: 10"),
    ("{path: cdr.total_energy, eq: '10'}", "rule.type_mismatch", "error",
     "write it without quotes: 10"),
    # a quoted boolean
    ("{path: facts.msp.active, eq: 'true'}", "rule.type_mismatch", "error",
     "facts.msp.active is a boolean and never equals the string 'true', so this is always false; "
     "write it without quotes: true"),
    # ne with a wrong type is always true
    ("{path: facts.msp.active, ne: 1}", "rule.type_mismatch", "error", "so this is always true"),
    # order on a boolean
    ("{path: facts.msp.active, gt: 0}", "rule.type_mismatch", "error", "which has no order"),
    # a date-time compared with something that is not one
    ("{path: cdr.start_date_time, lt: 'last tuesday'}", "rule.type_mismatch", "error",
     "write an ISO 8601 date-time"),
    ("{path: cdr.start_date_time, eq: 20260101}", "rule.type_mismatch", "error", "write an ISO 8601 date-time"),
    # values outside the enum
    ("{path: cdr.cdr_token.type, eq: AD_HOC}", "rule.enum_value", "error",
     "eq 'AD_HOC': not a value of cdr.cdr_token.type (AD_HOC_USER, APP_USER, OTHER, RFID), so this is "
     "always false (did you mean 'AD_HOC_USER'?)"),
    ("{path: cdr.cdr_token.type, in: [RFID, app_user]}", "rule.enum_value", "error", "(did you mean 'APP_USER'?)"),
    ("{path: cdr.cdr_token.type, ne: rfid}", "rule.enum_value", "warning",
     "always true (did you mean 'RFID'?)"),
    ("{path: facts.location.category, startswith: URB}", "rule.enum_value", "error",
     "no value of facts.location.category (urban, highway, destination, depot, residential, retail) "
     "starts with 'URB', so this is always false (did you mean 'urban'?)"),
    ("{path: facts.location.category, matches: '^H'}", "rule.enum_value", "error", "matches '^H'"),
    # free text ordered alphabetically
    ("{path: cdr.id, gt: '10'}", "rule.string_order", "warning", "compares alphabetically ('10' < '9')"),
])
def test_mismatches(lint_rules, when, code, severity, fragment):
    r = lint_rules(one_rule(when))
    p = r.one(code)
    assert p.severity == severity
    assert fragment in p.message, p.message
    assert p.message.startswith("rule 'r': ")
    assert p.line == 7 and p.col >= 30  # at the operator's value


@pytest.mark.parametrize("when", [
    "{path: cdr.cdr_token.type, eq: RFID}",
    "{path: cdr.cdr_token.type, in: [RFID, APP_USER]}",
    "{path: cdr.cdr_token.type, startswith: AD_}",
    "{path: cdr.cdr_token.type, matches: '^(RFID|OTHER)$'}",
    "{path: cdr.total_energy, gt: 0.5}",
    "{path: cdr.total_energy, eq: 10}",
    "{path: cdr.start_date_time, ge: '2026-09-01T00:00:00Z'}",
    "{path: cdr.start_date_time, lt: '2026-09-01'}",
    "{path: cdr.start_date_time, eq: '2026-09-01T02:00:00+02:00'}",
    "{path: facts.session_date, ge: '2026-01-01'}",  # ISO dates order correctly as strings
    "{path: facts.msp.active, eq: true}",
    "{path: facts.msp, missing: true}",
    "{path: cdr.cdr_location.id, matches: '^LOC-'}",
    "{path: cdr.cdr_location.coordinates.latitude, gt: 50}",  # open object: type unknown
])
def test_fitting_comparisons(lint_rules, when):
    r = lint_rules(one_rule(when))
    assert r.findings == []


def test_bad_regex_on_an_enum_is_only_reported_once(lint_rules):
    r = lint_rules(one_rule("{path: facts.location.category, matches: '(urban'}"))
    assert r.codes() == ["rule.bad_regex"]


def test_unknown_paths_get_no_type_findings(lint_rules):
    r = lint_rules(one_rule("{path: cdr.cdr_token.typ, gt: 5}"))
    assert r.codes() == ["path.unknown"]
