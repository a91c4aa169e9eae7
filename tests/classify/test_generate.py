"""The generated classifier (engine/classify/generate.py) decides exactly as the closures do.

``Classifier.classify`` runs the generated function, ``Classifier.classify_by_closures`` the
closures of ``compile_condition`` (the specification). Both are run on:

- random rule sets over paths of one to four steps (list indexes, a root the context does not
  have, prefixes shared between paths and a path that is itself a prefix of another), every
  operator and constant kind, all/any/not nested, against contexts whose values are of every kind
  (MISSING, null, bools, ints, Decimals incl. NaN, date-like and plain strings, datetimes, dates,
  lists, dicts) and whose containers are sometimes not dicts;
- the repository's own rules against generated CDRs and facts.

Same means the same Match object (so the same rule id/file/line, stream and exception), or the
same exception type when a comparison raises (a NaN Decimal ordered against a number).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifykit import REPO, condition_trees, generated_rules, load_kind_modules
from engine.classify.evaluate import Classifier
from engine.classify.rules import All, Cmp, Fallback, Rule
from engine.paths import MISSING

UTC = timezone.utc
CET = timezone(timedelta(hours=1))

PATHS = ["cdr.a", "cdr.b", "cdr.t.x", "cdr.t.y", "cdr.t", "cdr.l.0.id", "cdr.t.x.z", "facts.f", "facts.g.h",
         "facts.g", "pricing.p", "cdr", "facts.g.h.i.j"]

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12),
    st.decimals(allow_nan=False, places=3, min_value=-20, max_value=20),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("10.000"), 10**30]),
    st.sampled_from(["", "10", "9", "A", "a", "AD_HOC_USER", "2026-09-01", "2026-09-01T00:00:00Z",
                     "2026-08-31T22:00:00Z", "DE-VLT-S1", "é", "20260901"]),
    st.datetimes(min_value=datetime(2026, 8, 30), max_value=datetime(2026, 9, 3),
                 timezones=st.sampled_from([UTC, CET])),
    st.dates(min_value=date(2026, 8, 30), max_value=date(2026, 9, 3)),
)
_VALUES = st.one_of(_SCALARS, _SCALARS, st.sampled_from([1.5, [], ["x"], ("y",)]))
_CONSTANTS = st.one_of(
    st.booleans(), st.integers(-3, 12), st.decimals(allow_nan=False, places=2, min_value=-20, max_value=20),
    st.sampled_from(["", "10", "9", "A", "AD_HOC_USER", "2026-09-01", "2026-09-01T00:00:00Z",
                     "2026-09-01T02:00:00+02:00", "2026-13-01", "20260901", "DE-VLT", "é"]),
)


@st.composite
def _comparisons(draw):
    path = draw(st.sampled_from(PATHS))
    op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists", "missing",
                               "matches", "startswith"]))
    if op in ("exists", "missing"):
        return Cmp(path, op, True)
    if op in ("in", "not_in"):
        return Cmp(path, op, tuple(draw(st.lists(_CONSTANTS, min_size=1, max_size=3))))
    if op == "matches":
        return Cmp(path, op, draw(st.sampled_from(["^A", "0$", "\\d", "(?i)a|é", "^$", "2026-09"])))
    if op == "startswith":
        return Cmp(path, op, draw(st.sampled_from(["", "A", "1", "é", "2026-09-01T"])))
    return Cmp(path, op, draw(_CONSTANTS))


_CONDITIONS = condition_trees(_comparisons(), max_leaves=8, min_items=0, max_items=4)


@st.composite
def _rule_sets(draw):
    conditions = draw(st.lists(_CONDITIONS, min_size=1, max_size=6))
    priorities = draw(st.lists(st.integers(0, 3), min_size=len(conditions), max_size=len(conditions)))
    return generated_rules(conditions, priorities)


def _maybe(fields):
    """A dict of some of ``fields``, or (sometimes) a value that is not a dict at all."""
    built = st.fixed_dictionaries({}, optional=fields)
    return st.one_of(built, built, built, _VALUES)


_CONTEXTS = st.tuples(
    st.one_of(_maybe({"a": _VALUES, "b": _VALUES,
                      "t": _maybe({"x": _maybe({"z": _VALUES}), "y": _VALUES}),
                      "l": st.one_of(st.lists(_maybe({"id": _VALUES}), max_size=2), _VALUES)}),
              st.just({})),
    _maybe({"f": _VALUES, "g": _maybe({"h": _maybe({"i": _maybe({"j": _VALUES})})})}),
)


def _outcome(classify, cdr, facts):
    try:
        return classify(cdr, facts)
    except Exception as exc:  # noqa: BLE001 - the type is what must agree
        return type(exc)


@settings(max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rules=_rule_sets(), contexts=st.lists(_CONTEXTS, min_size=1, max_size=20))
def test_generated_classifier_is_the_closures(rules, contexts):
    classifier = Classifier(rules, Fallback("UNCLASSIFIED", "", "rules/generated.yaml", 99))
    for cdr, facts in contexts:
        assert _outcome(classifier.classify, cdr, facts) is _outcome(classifier.classify_by_closures, cdr, facts), \
            (cdr, facts, classifier._generated.source)


def test_a_path_is_read_once_and_only_after_the_rules_before_it():
    rules = [Rule("first", 2, Cmp("cdr.a", "eq", "A"), "adhoc", None, "", "f.yaml", 1, 0),
             Rule("second", 1, All((Cmp("facts.g.h", "eq", "B"), Cmp("cdr.a", "ne", "B"),
                                    Cmp("facts.g.h", "ne", "C"))), "msp", None, "", "f.yaml", 2, 1)]
    classifier = Classifier(rules, Fallback("UNCLASSIFIED", "", "f.yaml", 9))
    source = classifier._generated.source
    assert source.count(".get(") == 3                      # cdr.a, facts.g, facts.g.h
    assert source.index("if ") < source.index("facts if")   # facts read after the first rule
    assert classifier.classify({"a": "A"}, None).rule.id == "first"
    assert classifier.classify({"a": "C"}, {"g": {"h": "B"}}).rule.id == "second"
    assert classifier.classify({"a": "C"}, {"g": {"h": None}}).rule_ref()["id"] == "fallback"


def test_rule_constants_are_never_source_text():
    rule = Rule("r", 1, Cmp("cdr.a", "eq", "x'); import os; ('"), "adhoc", None, "", "f.yaml", 1, 0)
    classifier = Classifier([rule], Fallback("UNCLASSIFIED", "", "f.yaml", 9))
    assert "import" not in classifier._generated.source
    assert classifier.classify({"a": "x'); import os; ('"}, {}).stream == "adhoc"


# ----------------------------------------------------------------------------- the shipped rules

def _shipped():
    load_kind_modules()
    from engine.config import load_bundle
    bundle, problems = load_bundle(REPO)
    assert bundle is not None, problems
    return bundle.classifier


_TOKEN = _maybe({"type": st.sampled_from(["AD_HOC_USER", "RFID", "APP_USER", "OTHER", "rfid"]),
                 "contract_id": st.sampled_from(["DE-VLT-C12345678-9", "DEVLTS123456789", "DE-VLT-S00000001",
                                                 "de-abc-123456789", "NL-TNM-123456789-X", "x", ""]),
                 "uid": st.text(max_size=3)})
_CDRS = _maybe({"country_code": st.sampled_from(["DE", "de", "NL"]), "party_id": st.sampled_from(["VLT", "vlt", "X"]),
                "start_date_time": st.one_of(st.datetimes(min_value=datetime(2026, 8, 31),
                                                          max_value=datetime(2026, 9, 2), timezones=st.just(UTC)),
                                             _VALUES),
                "total_energy": st.one_of(st.decimals(allow_nan=False, min_value=-1, max_value=500, places=3), _VALUES),
                "total_time": _VALUES, "credit": _VALUES, "total_cost": _maybe({"excl_vat": _VALUES}),
                "cdr_token": _TOKEN})
_FACTS = _maybe({"location": _maybe({"cost_centre": _VALUES}),
                 "token": _maybe({"own": _VALUES}),
                 "psp": _maybe({"captured": _VALUES, "status": st.sampled_from(["failed", "captured", "x"])}),
                 "customer": _maybe({"id": _VALUES}),
                 "subscription": _maybe({"active": _VALUES, "status": st.sampled_from(["expired", "cancelled", "x"]),
                                         "plan_id": st.sampled_from(["basis", "comfort", "gold"])}),
                 "msp": _maybe({"active": _VALUES, "tariff_id": _VALUES,
                                "status": st.sampled_from(["suspended", "expired", "active"])})})

_SHIPPED = []


@settings(max_examples=3000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cdr=_CDRS, facts=_FACTS)
def test_shipped_rules_generated_is_the_closures(cdr, facts):
    if not _SHIPPED:
        _SHIPPED.append(_shipped())
    classifier = _SHIPPED[0]
    assert _outcome(classifier.classify, cdr, facts) is _outcome(classifier.classify_by_closures, cdr, facts)


def test_missing_is_the_paths_sentinel():
    rule = Rule("r", 1, Cmp("cdr.a", "missing", True), "adhoc", None, "", "f.yaml", 1, 0)
    classifier = Classifier([rule], Fallback("UNCLASSIFIED", "", "f.yaml", 9))
    for cdr in ({}, {"a": None}, None, [], {"a": MISSING}):
        assert classifier.classify(cdr, {}).stream == "adhoc"
    assert classifier.classify({"a": 0}, {}).stream is None


def test_pattern_answers_are_remembered_per_text_and_bounded():
    from engine.classify import generate

    rule = Rule("r", 1, Cmp("cdr.a", "matches", "(?i)^de"), "adhoc", None, "", "f.yaml", 1, 0)
    classifier = Classifier([rule], Fallback("UNCLASSIFIED", "", "f.yaml", 9))

    class Text(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    for _ in range(2):  # the second round answers from the memo
        assert classifier.classify({"a": "DE-1"}, {}).stream == "adhoc"
        assert classifier.classify({"a": "de-1"}, {}).stream == "adhoc"
        assert classifier.classify({"a": "NL-1"}, {}).stream is None          # another text, another answer
        assert classifier.classify({"a": Text("NL-1")}, {}).stream is None    # a subclass: searched itself
        assert classifier.classify({"a": Text("DE-1")}, {}).stream == "adhoc"
    (memo,) = [v for v in classifier._generated.__globals__.values() if isinstance(v, dict) and "DE-1" in v]
    assert memo == {"DE-1": True, "de-1": True, "NL-1": False}
    for i in range(generate._SEARCHES_LIMIT + 5):
        classifier.classify({"a": f"x{i}"}, {})
    assert len(memo) <= generate._SEARCHES_LIMIT
