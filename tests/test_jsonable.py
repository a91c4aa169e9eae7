"""engine/jsonable.py: the exact-type fast path renders what the isinstance chain always did."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum

from engine.config.yamlload import load_yaml
from engine.jsonable import dumps, to_jsonable


def reference(value):
    """The original, isinstance-only to_jsonable."""
    if isinstance(value, dict):
        return {str(k): reference(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reference(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "to_json"):
        return value.to_json()
    return value


class Level(IntEnum):
    HIGH = 2


class Priced:
    def to_json(self):
        return {"net": "1.00"}


class Text(str):
    pass


def test_every_kind_of_value_renders_as_before():
    data, _ = load_yaml("a: {b: [1, x]}\n", "f.yaml")  # LocDict / LocList subclasses
    value = {
        "s": "x", "i": 3, "b": True, "n": None, "f": 1.5, "d": Decimal("-0"), "e": Decimal("1E+2"),
        "t": (Decimal("0.10"), "y"), "l": [[Decimal("2.50")], {"k": Decimal("3")}],
        "dt": datetime(2026, 10, 1, 12, 0, 5, 123, tzinfo=timezone(timedelta(hours=2))),
        "naive": datetime(2026, 10, 1, 12), "day": date(2026, 10, 1), 7: "int key", Text("sub"): Text("str"),
        "enum": Level.HIGH, "obj": Priced(), "yaml": data,
    }
    assert to_jsonable(value) == reference(value)
    assert dumps(value) == __import__("json").dumps(reference(value), ensure_ascii=False)


def test_containers_are_copies():
    inner = {"a": 1}
    value = {"inner": inner, "list": [inner]}
    out = to_jsonable(value)
    assert out == value and out["inner"] is not inner and out["list"][0] is not inner


def test_json_object_is_to_jsonable_of_a_dict_as_a_new_dict():
    from engine.jsonable import json_object
    flat = {"cdr_id": "C", "n": 1, "ok": True, "none": None, "f": 1.5}
    nested = {"a": {"b": Decimal("1.0")}, "t": Text("x"), 2: "k", "d": date(2026, 1, 2), "l": [Decimal("2")]}
    for value in (flat, nested, {}):
        got = json_object(value)
        assert got == to_jsonable(value) == reference(value)
        assert got is not value
        assert [type(k) for k in got] == [type(k) for k in reference(value)]


def test_is_flat_json_says_when_json_object_is_a_plain_copy():
    from engine.jsonable import is_flat_json, json_object
    flat = {"cdr_id": "C", "n": 1, "ok": True, "none": None, "f": 1.5}
    assert is_flat_json(flat) and is_flat_json({})
    for value in (flat, {}):
        assert json_object(value) == dict(value) and [type(v) for v in json_object(value).values()] == \
            [type(v) for v in value.values()]
    for odd in ({"a": {"b": 1}}, {"t": Text("x")}, {2: "k"}, {"d": Decimal("1")}, {"l": []}, {"n": 1, Text("k"): 1}):
        assert not is_flat_json(odd)
