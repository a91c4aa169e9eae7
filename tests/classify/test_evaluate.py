"""The default evaluator's semantics: ``evaluate.compare`` is THE definition of every operator,
``Classifier`` the order in which rules are tried. The durable backend is held to exactly this."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifykit import ruleset
from engine.classify.evaluate import Classifier, compare, compile_condition, match_for, ordered, parse_instant
from engine.classify.rules import Cmp
from engine.paths import MISSING, compile_path, resolve

UTC = timezone.utc
CET = timezone(timedelta(hours=1))
PRESENT = ["", "x", 0, Decimal("0"), False, True, {}, [], Decimal("-1"), datetime(2026, 1, 1, tzinfo=UTC)]


# ----------------------------------------------------------------------------- presence

@pytest.mark.parametrize("value", PRESENT)
def test_exists_and_missing_on_present_values(value):
    assert compare("exists", value, True) is True
    assert compare("missing", value, True) is False


@pytest.mark.parametrize("value", [MISSING, None])
def test_missing_and_null_are_the_same(value):
    assert compare("exists", value, True) is False
    assert compare("missing", value, True) is True


@pytest.mark.parametrize("op,expected", [
    ("eq", "x"), ("eq", 0), ("eq", False), ("in", ("x", 0)), ("lt", 5), ("le", 5), ("gt", -5), ("ge", -5),
    ("lt", "2026-01-01"), ("matches", ""), ("startswith", ""),
])
@pytest.mark.parametrize("value", [MISSING, None])
def test_missing_or_null_fails_every_other_comparison(op, expected, value):
    assert compare(op, value, expected) is False


@pytest.mark.parametrize("op,expected", [("ne", "x"), ("ne", 0), ("not_in", ("x", 0)), ("not_in", ())])
@pytest.mark.parametrize("value", [MISSING, None])
def test_ne_and_not_in_hold_for_missing_or_null(op, expected, value):
    assert compare(op, value, expected) is True


# ----------------------------------------------------------------------------- equality

@pytest.mark.parametrize("actual,expected,equal", [
    ("AD_HOC_USER", "AD_HOC_USER", True),
    ("ad_hoc_user", "AD_HOC_USER", False),          # case-sensitive
    ("AD_HOC_USER ", "AD_HOC_USER", False),          # exact
    (Decimal("1.0"), 1, True),                       # numbers compare as Decimal
    (1, Decimal("1.000"), True),
    (Decimal("0.1000000000000000000000000001"), Decimal("0.1"), False),  # every digit counts
    (Decimal("12345678901234567890.123456789"), Decimal("12345678901234567890.123456789"), True),
    (Decimal("-0"), 0, True),
    (True, True, True),
    (True, 1, False),                                # bools never equal numbers
    (1, True, False),
    (False, 0, False),
    (Decimal("0"), False, False),
    ("10", 10, False),                               # strings never equal numbers
    (10, "10", False),
    ("true", True, False),
    (datetime(2026, 9, 1, 0, 0, tzinfo=UTC), "2026-09-01T00:00:00Z", True),
    (datetime(2026, 9, 1, 0, 0, tzinfo=UTC), "2026-09-01T02:00:00+02:00", True),
    (datetime(2026, 9, 1, 0, 0, tzinfo=UTC), "2026-09-01", True),   # a date string is midnight UTC
    (datetime(2026, 9, 1, 0, 0, 1, tzinfo=UTC), "2026-09-01", False),
    (datetime(2026, 9, 1, tzinfo=UTC), "not a date", False),
    (date(2026, 9, 1), "2026-09-01", True),
    (date(2026, 9, 1), "2026-09-02", False),
    (date(2026, 9, 1), "garbage", False),
    ("2026-09-01", "2026-09-01", True),
    ({"a": 1}, "x", False),
    (1.0, 1, False),                                 # floats are not numbers here (cdrflow forbids them)
    (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC), False),  # only ISO strings
])
def test_eq_and_ne(actual, expected, equal):
    assert compare("eq", actual, expected) is equal
    assert compare("ne", actual, expected) is (not equal)


def test_in_and_not_in():
    assert compare("in", "RFID", ("RFID", "APP_USER")) is True
    assert compare("in", "OTHER", ("RFID", "APP_USER")) is False
    assert compare("in", Decimal("10.0"), (10, "x")) is True
    assert compare("in", "10", (10, 9)) is False
    assert compare("in", True, (1, "true")) is False
    assert compare("in", "x", ()) is False
    assert compare("not_in", "OTHER", ("RFID", "APP_USER")) is True
    assert compare("not_in", "RFID", ("RFID", "APP_USER")) is False
    assert compare("not_in", "10", (10,)) is True
    assert compare("not_in", "x", ()) is True


# ----------------------------------------------------------------------------- ordering

@pytest.mark.parametrize("actual,op,expected,result", [
    (Decimal("400"), "ge", 400, True),
    (Decimal("399.999999999999999999999"), "ge", 400, False),
    (Decimal("0.00999999999999999999999"), "lt", Decimal("0.01"), True),
    (Decimal("-0.5"), "lt", 0, True),
    (Decimal("-1E+30"), "lt", Decimal("-1E+29"), True),
    (5, "le", Decimal("5.0"), True),
    (5, "gt", Decimal("5.0"), False),
    ("10", "lt", "9", True),                         # string with string: code point order
    ("B", "lt", "a", True),
    ("é", "gt", "z", True),
    ("10", "gt", 9, False),                          # string with number: never (no lexical "10" < "9")
    ("10", "lt", 9, False),
    (9, "lt", "10", False),
    (9, "gt", "10", False),
    (True, "gt", 0, False),
    (datetime(2026, 8, 31, 21, 59, tzinfo=UTC), "lt", "2026-08-31T22:00:00Z", True),
    (datetime(2026, 8, 31, 22, 0, tzinfo=UTC), "lt", "2026-08-31T22:00:00Z", False),
    (datetime(2026, 8, 31, 22, 0, tzinfo=UTC), "le", "2026-09-01T00:00:00+02:00", True),
    (datetime(2026, 9, 1, 0, 30, tzinfo=CET), "lt", "2026-09-01", True),  # 23:30 UTC the day before
    (datetime(2026, 9, 1, tzinfo=UTC), "ge", "2026-09-01T00:00:00", True),  # naive ISO string = UTC
    (datetime(2026, 9, 1, tzinfo=UTC), "gt", "yesterday", False),
    (date(2026, 9, 1), "lt", "2026-09-02", True),
    (date(2026, 9, 1), "gt", "2026-09-02", False),
    (date(2026, 9, 1), "ge", "2026-09-01", True),
    ("2026-09-01", "lt", "2026-09-02", True),
    ({}, "lt", 1, False),
])
def test_ordering(actual, op, expected, result):
    assert compare(op, actual, expected) is result


# ----------------------------------------------------------------------------- strings

def test_matches_searches_python_regex():
    assert compare("matches", "DE-VLT-C12345678-9", r"^[A-Z]{2}-") is True
    assert compare("matches", "xxDE-VLT", r"DE-VLT") is True            # search, not match
    assert compare("matches", "de-vlt-c12345678", r"(?i)^DE-VLT") is True
    assert compare("matches", "DE-VLT", r"^VLT") is False
    assert compare("matches", 12345, r"\d+") is False                   # only strings
    assert compare("matches", MISSING, r".*") is False


def test_startswith():
    assert compare("startswith", "DE-VLT-S0001", "DE-VLT-S") is True
    assert compare("startswith", "DE-VLT-C0001", "DE-VLT-S") is False
    assert compare("startswith", "de-vlt-s0001", "DE-VLT-S") is False
    assert compare("startswith", "anything", "") is True
    assert compare("startswith", 123, "1") is False


def test_unknown_operator_raises():
    with pytest.raises(ValueError, match="unknown operator"):
        compare("contains", "x", "x")


def test_parse_instant():
    assert parse_instant("2026-09-01T00:00:00Z") == datetime(2026, 9, 1, tzinfo=UTC)
    assert parse_instant("2026-09-01T02:00:00+02:00") == datetime(2026, 9, 1, tzinfo=UTC)
    assert parse_instant("2026-09-01") == datetime(2026, 9, 1, tzinfo=UTC)
    assert parse_instant("2026-09-01T00:00:00z").tzinfo == UTC
    assert parse_instant("not a date") is None
    assert parse_instant("AD_HOC_USER") is None


# ----------------------------------------------------------------------------- paths

def test_resolve_paths():
    ctx = {"cdr": {"a": {"b": [{"c": 1}, {"c": None}]}, "n": None}, "facts": {}}
    assert resolve(ctx, compile_path("cdr.a.b.0.c")) == 1
    assert resolve(ctx, compile_path("cdr.a.b.1.c")) is MISSING      # null counts as missing
    assert resolve(ctx, compile_path("cdr.a.b.2.c")) is MISSING      # index out of range
    assert resolve(ctx, compile_path("cdr.a.b.c")) is MISSING        # key into a list
    assert resolve(ctx, compile_path("cdr.a.b.0.c.d")) is MISSING    # key into a number
    assert resolve(ctx, compile_path("cdr.n")) is MISSING
    assert resolve(ctx, compile_path("facts.psp.captured")) is MISSING
    assert compile_path("cdr.charging_periods.0.tariff_id") == ("cdr", "charging_periods", 0, "tariff_id")


# ----------------------------------------------------------------------------- the compiled form

_VALUES = st.one_of(
    st.just(MISSING), st.none(), st.booleans(), st.integers(-3, 12),
    st.decimals(allow_nan=False, places=3, min_value=-20, max_value=20),
    st.sampled_from(["", "10", "9", "AD_HOC_USER", "ad_hoc_user", "2026-09-01", "2026-09-01T00:00:00Z",
                     "DE-VLT-S1", "é"]),
    st.datetimes(min_value=datetime(2026, 8, 30), max_value=datetime(2026, 9, 3),
                 timezones=st.sampled_from([UTC, CET])),
    st.dates(min_value=date(2026, 8, 30), max_value=date(2026, 9, 3)),
)
_CONSTANTS = st.one_of(
    st.booleans(), st.integers(-3, 12), st.decimals(allow_nan=False, places=2, min_value=-20, max_value=20),
    st.sampled_from(["", "10", "9", "AD_HOC_USER", "2026-09-01", "2026-09-01T00:00:00Z", "2026-09-01T02:00:00+02:00",
                     "DE-VLT", "é"]),
)


@settings(max_examples=1500, deadline=None)
@given(value=_VALUES, op=st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "startswith"]), expected=_CONSTANTS)
def test_compiled_comparison_is_compare(value, op, expected):
    """The compiled fast paths (``eq`` with a plain string, ``matches``) do exactly what compare does."""
    if op == "startswith" and not isinstance(expected, str):
        expected = str(expected)
    ctx = {"cdr": {} if value is MISSING else {"v": value}, "facts": {}}
    predicate = compile_condition(Cmp("cdr.v", op, expected))
    assert predicate(ctx) is compare(op, value, expected)


def test_compiled_matches_is_compare():
    for value in ["DE-VLT-1", "xDE-VLT", 1, None, MISSING]:
        ctx = {"cdr": {} if value is MISSING else {"v": value}, "facts": {}}
        assert compile_condition(Cmp("cdr.v", "matches", "^DE"))(ctx) is compare("matches", value, "^DE")


# ----------------------------------------------------------------------------- rule order

RULES = """\
    kind: classification
    rules:
      - id: low
        priority: 10
        when: {path: cdr.kind, exists: true}
        stream: subscription
      - id: high
        priority: 100
        when: {path: cdr.kind, eq: A}
        stream: adhoc
      - id: tie-first
        priority: 50
        when: {path: cdr.kind, in: [A, B]}
        exception: {reason: FIRST, description: first of two with the same priority}
      - id: tie-second
        priority: 50
        when: {path: cdr.kind, in: [B, C]}
        stream: msp
      - id: nested
        priority: 60
        when:
          all:
            - {path: cdr.kind, eq: D}
            - any:
                - {path: facts.flag, eq: true}
                - not: {path: facts.count, lt: 3}
        stream: msp
    fallback: {reason: UNCLASSIFIED, description: none}
    """


def test_order_is_priority_then_bundle_order():
    rules, _ = ruleset(RULES)
    assert [r.id for r in ordered(rules)] == ["high", "nested", "tie-first", "tie-second", "low"]


@pytest.mark.parametrize("cdr,facts,rule_id", [
    ({"kind": "A"}, {}, "high"),
    ({"kind": "B"}, {}, "tie-first"),         # tie: the earlier rule in the file wins
    ({"kind": "C"}, {}, "tie-second"),
    ({"kind": "D"}, {"flag": True}, "nested"),
    ({"kind": "D"}, {"count": 3}, "nested"),
    ({"kind": "D"}, {}, "nested"),            # not (missing < 3) holds
    ({"kind": "D"}, {"count": 2}, "low"),
    ({"kind": "D"}, {"flag": 1, "count": 2}, "low"),   # 1 is not true
    ({"kind": None}, {}, "fallback"),
    ({}, {}, "fallback"),
])
def test_first_match_wins(cdr, facts, rule_id):
    rules, fallback = ruleset(RULES)
    match = Classifier(rules, fallback).classify(cdr, facts)
    assert match.rule_ref()["id"] == rule_id


def test_matches_carry_stream_or_exception():
    rules, fallback = ruleset(RULES)
    classifier = Classifier(rules, fallback)
    assert classifier.classify({"kind": "A"}, {}).stream == "adhoc"
    assert classifier.classify({"kind": "A"}, {}).exception is None
    first = classifier.classify({"kind": "B"}, {})
    assert first.stream is None and first.exception == {"reason": "FIRST", "description": "first of two with the same priority"}
    fallback_match = classifier.classify({}, {})
    assert fallback_match.stream is None
    assert fallback_match.exception == {"reason": "UNCLASSIFIED", "description": "none"}
    assert fallback_match == match_for(fallback)
    assert classifier.backend == "python"
