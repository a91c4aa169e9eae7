"""engine/lint/implication.py: sound implication over conditions.

Besides examples, a property test checks soundness against the real evaluator
(``engine.classify.evaluate.compile_condition``) on every context of a small exhaustive domain:
whenever ``implies(a, b)`` says yes, no context satisfies ``a`` but not ``b``.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.classify.evaluate import compile_condition
from engine.classify.rules import All, Any_, Cmp, Not
from engine.lint.implication import always, implies, never
from engine.paths import MISSING


def c(path: str, op: str, value=True) -> Cmp:
    if isinstance(value, list):
        value = tuple(value)
    return Cmp(path, op, value)


T = "cdr.cdr_token.type"
E = "cdr.total_energy"
ACTIVE = "facts.msp.active"


# -- examples from the brief ---------------------------------------------------------------------

def test_same_condition_implies_itself():
    cond = All((c(ACTIVE, "eq", True), c(T, "eq", "RFID")))
    assert implies(cond, cond)


def test_a_conjunction_with_more_parts_implies_a_smaller_one():
    earlier = All((c(ACTIVE, "eq", True),))
    later = All((c(ACTIVE, "eq", True), c("facts.msp.reseller", "eq", True)))
    assert implies(later, earlier)
    assert not implies(earlier, later)


def test_eq_implies_in_containing_the_value():
    assert implies(c(T, "eq", "RFID"), c(T, "in", ["APP_USER", "RFID"]))
    assert not implies(c(T, "eq", "OTHER"), c(T, "in", ["APP_USER", "RFID"]))


def test_in_implies_a_wider_in_but_not_a_narrower_one():
    assert implies(c(T, "in", ["RFID"]), c(T, "in", ["RFID", "APP_USER"]))
    assert not implies(c(T, "in", ["RFID", "APP_USER"]), c(T, "in", ["RFID"]))


@pytest.mark.parametrize("stronger, weaker", [
    (("gt", 20), ("ge", 10)),
    (("gt", 20), ("gt", 20)),
    (("gt", 20), ("ge", 20)),
    (("ge", 20), ("gt", 10)),
    (("lt", 5), ("le", 5)),
    (("le", 5), ("lt", 6)),
    (("eq", 30), ("gt", 20)),
    (("in", [25, 30]), ("ge", 25)),
    (("gt", Decimal("20.5")), ("gt", 20)),
])
def test_numeric_bounds(stronger, weaker):
    assert implies(c(E, *stronger), c(E, *weaker))


@pytest.mark.parametrize("a, b", [
    (("ge", 10), ("gt", 20)),
    (("ge", 20), ("gt", 20)),
    (("lt", 5), ("gt", 1)),
    (("gt", 20), ("lt", 30)),
    (("gt", "20"), ("gt", 10)),  # a string bound says nothing about numbers
])
def test_numeric_bounds_that_do_not_follow(a, b):
    assert not implies(c(E, *a), c(E, *b))


def test_positive_comparison_implies_exists_on_the_field_and_its_parents():
    assert implies(c(T, "eq", "RFID"), c(T, "exists"))
    assert implies(c(T, "eq", "RFID"), c("cdr.cdr_token", "exists"))
    assert not implies(c("cdr.cdr_token", "exists"), c(T, "exists"))
    assert not implies(c(T, "ne", "RFID"), c(T, "exists"))  # ne holds when missing


def test_ne_is_the_complement_of_eq():
    assert implies(c(T, "eq", "RFID"), c(T, "ne", "OTHER"))
    assert not implies(c(T, "eq", "RFID"), c(T, "ne", "RFID"))
    assert implies(c(T, "missing"), c(T, "ne", "RFID"))
    assert implies(c(T, "not_in", ["RFID", "OTHER"]), c(T, "ne", "RFID"))
    assert implies(Not(c(T, "eq", "RFID")), c(T, "ne", "RFID"))


def test_not_of_an_order_is_not_the_opposite_order():
    # not (lt 5) also holds for a missing field; ge 5 does not
    assert not implies(Not(c(E, "lt", 5)), c(E, "ge", 5))
    assert implies(c(E, "ge", 5), Not(c(E, "lt", 5)))


def test_types_never_mix():
    assert not implies(c(E, "eq", 5), c(E, "eq", "5"))
    assert not implies(c(ACTIVE, "eq", True), c(ACTIVE, "eq", 1))
    assert implies(c(E, "eq", 5), c(E, "eq", Decimal("5.0")))


def test_date_time_strings_are_only_compared_for_identity():
    late = "2026-09-01T00:00:00Z"
    assert implies(c("cdr.start_date_time", "ge", late), c("cdr.start_date_time", "ge", late))
    # same instant, other spelling: true for a datetime field, false for a string: no conclusion
    assert not implies(c("cdr.start_date_time", "eq", late),
                       c("cdr.start_date_time", "eq", "2026-09-01T02:00:00+02:00"))
    assert not implies(c("cdr.start_date_time", "gt", late), c("cdr.start_date_time", "gt", "2026-01-01T00:00:00Z"))


def test_startswith_prefixes():
    assert implies(c("cdr.id", "startswith", "DE-VLT"), c("cdr.id", "startswith", "DE"))
    assert not implies(c("cdr.id", "startswith", "DE"), c("cdr.id", "startswith", "DE-VLT"))
    assert implies(c("cdr.id", "eq", "DE-1"), c("cdr.id", "startswith", "DE"))
    assert implies(c("cdr.id", "eq", "DE-1"), c("cdr.id", "matches", "^DE-[0-9]$"))


def test_disjunctions():
    either = Any_((c(T, "eq", "RFID"), c(T, "eq", "APP_USER")))
    assert implies(c(T, "eq", "RFID"), either)
    assert implies(either, c(T, "in", ["RFID", "APP_USER", "OTHER"]))
    assert not implies(either, c(T, "eq", "RFID"))


def test_a_branch_and_its_complement_hold_always():
    assert always(Any_((c(T, "exists"), c(T, "missing"))))
    assert always(Any_((c(E, "eq", 5), Not(c(E, "eq", 5)))))
    assert always(Any_((c(E, "gt", 5), Not(c(E, "gt", 5)))))
    assert not always(Any_((c(E, "gt", 5), c(E, "le", 5))))  # a missing field satisfies neither
    assert implies(c(T, "eq", "RFID"), Any_((c(E, "exists"), c(E, "missing"))))


def test_contradictions():
    assert never(All((c(E, "eq", 1), c(E, "eq", 2))))
    assert never(All((c(E, "gt", 10), c(E, "lt", 5))))
    assert never(All((c(E, "gt", 5), c(E, "le", 5))))
    assert never(All((c(T, "exists"), c(T, "missing"))))
    assert never(All((c(T, "eq", "RFID"), Not(c(T, "eq", "RFID")))))
    assert not never(All((c(E, "ge", 5), c(E, "le", 5))))
    assert not never(All((c(E, "ne", 1), c(E, "ne", 2))))


def test_a_bad_regex_gives_no_conclusion_rather_than_an_error():
    assert not implies(c("cdr.id", "eq", "x"), c("cdr.id", "matches", "(x"))
    assert implies(c("cdr.id", "matches", "(x"), c("cdr.id", "matches", "(x"))


# -- soundness against the real evaluator -------------------------------------------------------

UTC = timezone.utc
PATHS = ("cdr.a", "cdr.a.b", "cdr.n")
VALUES = (0, 1, 5, 10, Decimal("2.5"), "x", "xy", "y", "10", "2026-01-01T00:00:00Z",
          True, False, datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC))


def _contexts():
    a_options = [MISSING, None] + [{"b": v} for v in VALUES + (MISSING, None)] + list(VALUES)
    n_options = [MISSING, None] + list(VALUES)
    out = []
    for a, n in itertools.product(a_options, n_options):
        cdr = {}
        if a is not MISSING:
            cdr["a"] = {k: v for k, v in a.items() if v is not MISSING} if isinstance(a, dict) else a
        if n is not MISSING:
            cdr["n"] = n
        out.append({"cdr": cdr, "facts": {}})
    return out


CONTEXTS = _contexts()

scalars = st.sampled_from([0, 1, 5, 10, Decimal("2.5"), Decimal("5.0"), "x", "xy", "y", "10", "",
                           "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2025-12-31",
                           True, False])
orderables = st.sampled_from([0, 1, 5, 10, Decimal("2.5"), "x", "xy", "10", "2026-01-01T00:00:00Z",
                              "2025-12-31"])


@st.composite
def comparisons(draw):
    path = draw(st.sampled_from(PATHS))
    op = draw(st.sampled_from(("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists",
                               "missing", "matches", "startswith")))
    if op in ("eq", "ne"):
        value = draw(scalars)
    elif op in ("in", "not_in"):
        value = tuple(draw(st.lists(scalars, min_size=1, max_size=3)))
    elif op in ("lt", "le", "gt", "ge"):
        value = draw(orderables)
    elif op in ("exists", "missing"):
        value = True
    elif op == "matches":
        value = draw(st.sampled_from(["^x", "y$", "x", "^[0-9]+$", "2026"]))
    else:
        value = draw(st.sampled_from(["x", "xy", "", "1", "2026"]))
    return Cmp(path, op, value)


conditions = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: Any_(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=5,
)


def _truth(cond):
    predicate = compile_condition(cond)
    return [predicate(ctx) for ctx in CONTEXTS]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=conditions, b=conditions)
def test_implies_is_sound(a, b):
    if implies(a, b):
        for ctx, (ta, tb) in zip(CONTEXTS, zip(_truth(a), _truth(b))):
            assert not ta or tb, f"{a} does not imply {b}: {ctx}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=comparisons(), y=comparisons())
def test_implies_is_sound_on_single_comparisons(x, y):
    for a, b in ((x, y), (x, Not(y)), (Not(x), Not(y)), (All((x, y)), y), (x, Any_((y, Not(y))))):
        if implies(a, b):
            for ctx, ta, tb in zip(CONTEXTS, _truth(a), _truth(b)):
                assert not ta or tb, f"{a} does not imply {b}: {ctx}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=conditions)
def test_always_and_never_are_sound(cond):
    truth = _truth(cond)
    if always(cond):
        assert all(truth), cond
    if never(cond):
        assert not any(truth), cond
    assert implies(cond, cond)
