from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from engine.config.yamlload import load_yaml
from engine.mapping import compile_mapping, expression_paths

BERLIN = ZoneInfo("Europe/Berlin")

DOC = """\
kind: mapping
stream: msp
fields:
  invoice.line_item.id: {path: cdr.session_id, default: {path: cdr.id}}
  charge.quantity: {path: cdr.total_energy, round: 3}
  billing_period: {path: cdr.start_date_time, period: month}
  quarter: {path: cdr.start_date_time, period: quarter}
  local_day: {path: cdr.start_date_time, format: "%d.%m.%Y %H:%M"}
  reference: {concat: [{path: cdr.country_code}, {const: "*"}, {path: cdr.id}]}
  amount: {path: cdr.total_cost.excl_vat, round: 2}
  absent: {path: cdr.nope}
  constant: {const: kWh}
"""

CDR = {
    "id": "CDR-1", "country_code": "DE", "total_energy": Decimal("15.3425"),
    "start_date_time": datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc),
    "total_cost": {"excl_vat": Decimal("4.005")},
}


def mapping():
    data, problems = load_yaml(DOC, "m.yaml")
    assert problems == []
    return compile_mapping(data, "m.yaml")


def test_maps_nested_targets_with_defaults_rounding_and_periods():
    out = mapping().apply({"cdr": CDR, "facts": {}}, BERLIN)
    assert out["invoice"]["line_item"]["id"] == "CDR-1"  # session_id missing -> default
    assert out["charge"]["quantity"] == Decimal("15.343")  # half up
    # 23:30 UTC on 31 Oct is 00:30 on 1 Nov in Berlin: the billing period is local.
    assert out["billing_period"] == "2026-11"
    assert out["quarter"] == "2026-Q4"
    assert out["local_day"] == "01.11.2026 00:30"
    assert out["reference"] == "DE*CDR-1"
    assert out["amount"] == Decimal("4.01")
    assert out["absent"] is None
    assert out["constant"] == "kWh"


def test_expression_paths_lists_every_source():
    data, _ = load_yaml(DOC, "m.yaml")
    assert expression_paths(data["fields"]["invoice.line_item.id"]) == ["cdr.session_id", "cdr.id"]


# ---- the compiled target tree and the direct path getters (engine/mapping.py) -----------------

def _field_by_field(m, context, tz):
    """What Mapping.apply always did: assign each target in turn (the reference for the tree)."""
    out = {}
    for target, expr in m.fields:
        node = out
        for key in target[:-1]:
            node = node.setdefault(key, {})
        node[target[-1]] = expr(context, tz)
    return out


NESTED = """\
kind: mapping
stream: msp
fields:
  a.x: {path: cdr.id}
  b: {const: 1}
  a.y.z: {path: facts.location.name}
  a.y.w: {path: facts.location}
  c.d: {path: cdr.cdr_location.country}
  a.v: {path: cdr.charging_periods.0.tariff_id}
  e: {path: cdr.missing.deeper.still}
"""


def test_tree_output_equals_field_by_field_assignment_in_values_and_key_order():
    data, problems = load_yaml(NESTED, "m.yaml")
    assert problems == []
    m = compile_mapping(data, "m.yaml")
    contexts = [
        {"cdr": {"id": "X", "cdr_location": {"country": "DEU"}, "charging_periods": [{"tariff_id": "T"}]},
         "facts": {"location": {"name": "N"}}},
        {"cdr": {"id": None, "cdr_location": None, "charging_periods": []}, "facts": {"location": None}},
        {"cdr": "not an object", "facts": {}},
        {},
    ]
    for context in contexts:
        got, want = m.apply(context, BERLIN), _field_by_field(m, context, BERLIN)
        assert got == want
        assert list(got) == list(want) == ["a", "b", "c", "e"]
        assert list(got["a"]) == list(want["a"]) == ["x", "y", "v"]


def test_overlapping_targets_keep_the_field_by_field_behaviour():
    doc = "kind: mapping\nstream: msp\nfields:\n  a: {const: 1}\n  b.c: {const: 2}\n  b.d: {const: 3}\n"
    data, _ = load_yaml(doc, "m.yaml")
    m = compile_mapping(data, "m.yaml")
    assert m._tree is not None
    assert m.apply({}, BERLIN) == {"a": 1, "b": {"c": 2, "d": 3}}
    from engine.mapping import Mapping
    overlapping = Mapping("msp", "m.yaml", ((("a",), lambda c, t: {"keep": 1}), (("a", "b"), lambda c, t: 2)))
    assert overlapping._tree is None
    assert overlapping.apply({}, BERLIN) == {"a": {"keep": 1, "b": 2}}


def test_bare_paths_read_null_and_missing_as_none_like_resolve():
    from engine.mapping import _plain_path
    from engine.paths import MISSING, compile_path, resolve
    contexts = [{"cdr": {"a": {"b": 0, "c": None, "d": False, "e": ""}}}, {"cdr": {"a": None}}, {"cdr": 5}, {}]
    for dotted in ("cdr.a", "cdr.a.b", "cdr.a.c", "cdr.a.d", "cdr.a.e", "cdr.a.nope", "cdr.a.b.c", "cdr.x.0"):
        steps = compile_path(dotted)
        get = _plain_path(steps)
        for context in contexts:
            want = resolve(context, steps)
            assert get(context, BERLIN) == (None if want is MISSING else want), (dotted, context)


def test_periods_are_spelled_like_strftime_in_every_year():
    from engine.mapping import _period
    for year in (1000, 2026, 2999):  # (the years a CDR DateTime can have)
        value = datetime(year, 3, 4, 12, tzinfo=timezone.utc)
        local = value.astimezone(BERLIN)
        assert _period(value, "day", BERLIN) == local.strftime("%Y-%m-%d")
        assert _period(value, "month", BERLIN) == local.strftime("%Y-%m")
        assert _period(value, "quarter", BERLIN) == f"{local.year}-Q1"
        assert _period(value, "year", BERLIN) == str(local.year)


def test_generated_apply_equals_the_tree_walk_for_the_shipped_mappings_and_odd_contexts():
    from pathlib import Path

    from engine.mapping import _build

    class Sub(dict):
        pass

    when = datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc)
    cdr = {"id": "C", "session_id": None, "country_code": "DE", "party_id": "VLT", "total_energy": Decimal("1.23456"),
           "total_time": "2", "start_date_time": when, "cdr_location": {"connector_power_type": "DC"},
           "cdr_token": None}
    contexts = [{"cdr": cdr, "facts": {"msp": {"party": "AT*STR"}, "location": None}, "pricing": {"source": None}},
                {"cdr": Sub(cdr), "facts": Sub(location=Sub(category="x")), "pricing": "text"},
                {"cdr": None, "facts": 3}, {}, Sub(), "not a context"]
    for path in sorted((Path(__file__).parents[1] / "mappings").glob("*.yaml")):
        data, _ = load_yaml(path.read_text(encoding="utf-8"), path.name)
        if data.get("kind") != "mapping":
            continue
        m = compile_mapping(data, path.name)
        for context in contexts:
            got, want = m.apply(context, BERLIN), _build(m._tree, context, BERLIN)
            assert got == want and repr(got) == repr(want), (path.name, context)


def test_generated_apply_hands_out_new_dicts_and_the_constant_itself():
    doc = "kind: mapping\nstream: msp\nfields:\n  a.b: {const: kWh}\n  a.c: {path: cdr.id}\n  n: {const: null}\n"
    data, _ = load_yaml(doc, "m.yaml")
    m = compile_mapping(data, "m.yaml")
    first, second = m.apply({"cdr": {"id": 1}}, BERLIN), m.apply({"cdr": {"id": 2}}, BERLIN)
    assert first == {"a": {"b": "kWh", "c": 1}, "n": None} and second["a"]["c"] == 2
    assert first["a"] is not second["a"]


def test_generated_options_equal_the_tree_walk_for_odd_values():
    """default / round / period on a path are inlined by _generate: same values as evaluate."""
    from engine.mapping import _build

    doc = ("kind: mapping\nstream: msp\nfields:\n"
           "  a.d: {path: cdr.x, default: {path: cdr.y}}\n"
           "  a.c: {path: cdr.x, default: {const: fb}}\n"
           "  a.r: {path: cdr.x, round: 2}\n"
           "  a.p: {path: cdr.x, period: day}\n"
           "  a.m: {path: cdr.x, period: month}\n"
           "  a.n: {path: cdr.x, period: month, default: {path: cdr.y}, round: 1}\n"
           "  a.q: {path: cdr.x, period: quarter, round: 0, default: {path: cdr.y}}\n"
           "  a.f: {path: cdr.x, period: month, format: '%Y'}\n"
           "  a.l: {path: cdr.l.0, round: 1, default: {path: cdr.y, period: year}}\n")
    data, _ = load_yaml(doc, "m.yaml")
    m = compile_mapping(data, "m.yaml")
    when = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)
    odd = [None, 0, 1, True, False, Decimal("1.005"), Decimal("-2.5"), Decimal("NaN"), 1.25, "7.5", "", when, [], {},
           datetime(2026, 3, 29, 0, 59, tzinfo=timezone.utc), datetime(1000, 1, 1, tzinfo=timezone.utc),
           datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN, fold=1)]
    for x in odd:
        for y in (None, when, Decimal("3.14159"), "y"):
            for cdr in ({"x": x, "y": y, "l": [x]}, {"y": y}, {"x": x}, {}):
                context = {"cdr": cdr}
                got, want = m.apply(context, BERLIN), _build(m._tree, context, BERLIN)
                assert repr(got) == repr(want), (x, y, cdr)   # (repr: NaN is not == itself)
    x = {"cdr": 3}
    assert repr(m.apply(x, BERLIN)) == repr(_build(m._tree, x, BERLIN))


def test_generated_concat_equals_the_tree_walk_for_odd_values():
    """A concat is inlined by _generate (constants' texts spelled out once, a str passed as is)."""
    from engine.mapping import _build

    class Text(str):
        def __str__(self):
            return "as str"

    doc = ("kind: mapping\nstream: msp\nfields:\n"
           "  a.c: {concat: [{path: cdr.x}, {const: '*'}, {path: cdr.t.y}, {const: 7}, {const: true}]}\n"
           "  a.n: {concat: [{const: null}, {concat: [{path: cdr.x}, {path: cdr.l.0}]}, {path: cdr.x, period: day}]}\n"
           "  a.d: {path: cdr.nope, default: {concat: [{path: cdr.x}, {const: '-'}]}}\n"
           "  a.f: {concat: [{path: cdr.x, format: '%Y'}, {path: facts.x}]}\n")
    data, problems = load_yaml(doc, "m.yaml")
    assert problems == []
    m = compile_mapping(data, "m.yaml")
    assert "_as_text" in m._apply.source and "v" in m._apply.source
    when = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)
    odd = [None, 0, 1, True, False, Decimal("1.005"), Decimal("NaN"), 1.25, "", "x", Text("t"), when,
           datetime(2026, 1, 1), [], {}, ("a",)]
    for x in odd:
        for cdr in ({"x": x, "t": {"y": x}, "l": [x]}, {"x": x, "t": x}, {}, {"t": None}):
            for context in ({"cdr": cdr, "facts": {"x": x}}, {"cdr": cdr, "facts": x}):
                got, want = m.apply(context, BERLIN), _build(m._tree, context, BERLIN)
                assert repr(got) == repr(want), (x, cdr)
    for context in ({}, {"cdr": 3}, "not a context", None):
        assert repr(m.apply(context, BERLIN)) == repr(_build(m._tree, context, BERLIN))


def test_periods_are_spelled_like_strftime_on_every_day_of_a_leap_year():
    from datetime import timedelta

    from engine.mapping import _period
    start = datetime(2027, 12, 31, 23, 30, tzinfo=timezone.utc)
    for days in range(368):
        value = start + timedelta(days=days)
        local = value.astimezone(BERLIN)
        assert _period(value, "day", BERLIN) == local.strftime("%Y-%m-%d")
        assert _period(value, "month", BERLIN) == local.strftime("%Y-%m")
