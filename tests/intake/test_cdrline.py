"""engine/intake/cdrline.py: a line read as a CDR is accepted exactly as its parsed JSON is.

Every leaf of a full CDR is replaced, as JSON text, by each of many tokens (numbers spelled every
way, strings for numbers, escapes, unicode, offsets, nulls, containers), every key deleted,
doubled, moved and joined by an unknown one; each line is read and accepted with and without
the CdrLine path and the outcomes compared.
"""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.intake import accept, cdrline, read_items
from engine.intake.reader import _line_value

from .test_typedcopy import _paths, full_cdr, typed

SENTINEL = "@@value@@"
NUMBERS = ["1", "1.0", "-0", "-0.0", "0", "1e2", "1E+2", "1.5E+3", "1E+400", "1e-400", "-1", "-2.50", "21",
           "12345678901234567890123", '"1.10"', "NaN"]
STRINGS = ['""', '"de"', '"DE"', '"d1"', '"deu"', '"DEU"', '"EUR"', '"eur"', '"abc"', '"AB1"', '"\\u00e9"', '"\u00e9"',
           '"a\\nb"', '"ab\\n"', '"\\u0041B"', '"x\\/y"', '"\\ud83d\\ude00"', '"\\ud800"', '"a\\"b"',
           '"\\u007f"', '"\x7f"', '"~ "', '"\u00df"', '"MONDAY"', '"ENERGY"', '"FLAT"', '"08:00"', '"24:00"',
           '"2015-06-01"', '"2015-13-01"', '"51.047599"', '"-3.7299440"', '"51.0475"', '"' + "A" * 40 + '"',
           '"' + "x" * 5001 + '"']
DATETIMES = ['"2015-06-29T20:39:09Z"', '"2015-06-29T20:39:09+00:00"', '"2015-06-29T20:39:09-00:00"',
             '"2015-06-29T20:39:09+02:00"', '"2015-06-29T20:39:09"', '"2015-06-29T20:39:09.5Z"',
             '"2015-06-29T20:39:09.500000Z"', '"0999-01-01T00:00:00Z"', '"3000-01-01T00:00:00Z"',
             '"2015-06-29 20:39:09Z"', '"2015-06-29t20:39:09z"', '"2015-06-29T24:00:00Z"', '"2015-02-30T00:00:00Z"']
OTHERS = ["true", "false", "null", "[]", "{}", '{"excl_vat":1}']


def tokens_for(value: Any) -> list[str]:
    """The replacements worth trying for ``value``: its own kind's spellings and every other kind once."""
    if isinstance(value, str) and value[:2].isdigit() and "T" in value:
        return DATETIMES + OTHERS + ['"de"', "1"]
    if isinstance(value, str):
        return STRINGS + OTHERS + ["1", DATETIMES[0]]
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return OTHERS + ["1", '"de"']
    return NUMBERS + OTHERS + ['"de"', '""']


def canonical(data: Any, model: Any = cdrline.MODEL) -> Any:
    """``data`` with every object's keys in the CDR model's field order (unknown keys last)."""
    if isinstance(data, dict) and model is not None and hasattr(model, "__struct_fields__"):
        hints = msgspec.structs.fields(model)
        types = {f.name: f.type for f in hints}
        if model is cdrline.MODEL:
            types["tariffs"] = cdrline.TARIFFS  # (raw JSON in the CDR Struct)
            types["cdr_location"] = cdrline.LOCATION
        ordered = {k: canonical(data[k], _inner(types[k])) for k in model.__struct_fields__ if k in data}
        ordered.update((k, v) for k, v in data.items() if k not in ordered)
        return ordered
    if isinstance(data, list):
        return [canonical(item, model) for item in data]
    return data


def _inner(tp: Any) -> Any:
    """The Struct type inside ``list[X]`` / ``Annotated[...]``, if any."""
    while hasattr(tp, "__origin__") or hasattr(tp, "__metadata__"):
        args = getattr(tp, "__args__", ())
        if not args:
            break
        tp = args[0]
    return tp


_encode = msgspec.json.Encoder(decimal_format="number").encode


def line_of(data: Any) -> str:
    return _encode(data).decode()


def fast_cdr() -> dict[str, Any]:
    """The full CDR in the shape the CdrLine path takes (schema key order, whole-second UTC times)."""
    cdr = full_cdr()
    cdr["tariffs"][0]["end_date_time"] = "2016-01-01T00:00:00Z"
    cdr["tariffs"][1]["end_date_time"] = "2016-01-01T00:00:00Z"
    return canonical(cdr)


def _read(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    if not fast:
        monkeypatch.setattr(cdrline, "decode", lambda text, parse: None)
    try:
        return list(read_items(io.BytesIO(text.encode("utf-8", "surrogatepass")), "m.jsonl"))
    finally:
        monkeypatch.undo()


def _outcome(result: Any, raw: Any) -> Any:
    return (typed(result.cdr), result.version, result.problems, result.warnings, result.key, typed(raw))


class Tally:
    def __init__(self) -> None:
        self.lines = self.fast = 0


def compare(text: str, monkeypatch: pytest.MonkeyPatch, tally: Tally) -> None:
    """Reading and accepting ``text`` with the CdrLine path gives what it gives without."""
    fast_items = _read(text, fast=True, monkeypatch=monkeypatch)
    if not any(item.cdr_line is not None for item in fast_items):
        return  # (the reader did what it always did)
    slow_items = _read(text, fast=False, monkeypatch=monkeypatch)
    tally.lines += 1
    for fast, slow in zip(fast_items, slow_items, strict=True):
        line = fast.cdr_line
        got = accept(line if line is not None else fast.data, default_party=("NL", "ABC"))
        want = accept(slow.data, default_party=("NL", "ABC"))
        raw = got.raw.value() if line is not None else got.raw
        assert _outcome(got, raw) == _outcome(want, want.raw), text[:300]
        if line is not None:
            tally.fast += cdrline.typed_cdr(line) is not None
        assert (fast.source, typed(fast.data), fast.problems, fast.raw) == \
            (slow.source, typed(slow.data), slow.problems, slow.raw)


def _parent(data: Any, path: tuple) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


def _with_token(data: Any, path: tuple) -> str:
    data = copy.deepcopy(data)
    _parent(data, path)[path[-1]] = SENTINEL
    return line_of(data)


def test_the_model_is_built_from_the_schema():
    assert cdrline.MODEL is not None
    assert cdrline.MODEL.__struct_fields__[:3] == ("country_code", "party_id", "id")


def test_the_fast_cdr_takes_the_path(monkeypatch):
    tally = Tally()
    compare(line_of(fast_cdr()), monkeypatch, tally)
    assert tally.fast == 1
    text = line_of(fast_cdr())
    (item,) = read_items(io.BytesIO(text.encode()), "x.jsonl")
    assert item.cdr_line is not None and item._data is not item.data  # parsed only when read
    assert typed(item.data) == typed(_line_value(text))


@pytest.mark.parametrize("path", _paths(fast_cdr()), ids=lambda p: ".".join(map(str, p)))
def test_every_field_as_every_token(path, monkeypatch):
    tally = Tally()
    data = fast_cdr()
    template = _with_token(data, path)
    for token in tokens_for(_parent(data, path)[path[-1]]):
        compare(template.replace(f'"{SENTINEL}"', token, 1), monkeypatch, tally)
    parent = _parent(data, path)
    if isinstance(parent, dict):
        compare(_structural(data, path, "delete"), monkeypatch, tally)
        compare(_structural(data, path, "double"), monkeypatch, tally)
        compare(_structural(data, path, "first"), monkeypatch, tally)
        compare(_structural(data, path, "unknown"), monkeypatch, tally)
        assert tally.lines  # (a moved key still decodes as a CDR: the comparison ran)


def _structural(data: Any, path: tuple, how: str) -> str:
    data = copy.deepcopy(data)
    parent, key = _parent(data, path), path[-1]
    value = parent[key]
    if how == "delete":
        del parent[key]
        return line_of(data)
    if how == "first":  # moved to the front of its object
        rest = {k: v for k, v in parent.items() if k != key}
        parent.clear()
        parent[key] = value
        parent.update(rest)
        return line_of(data)
    if how == "unknown":
        parent[key + "_x"] = value
        return line_of(data)
    marker = "@@double@@"
    parent[marker] = value
    text = line_of(data)
    return text.replace(f'"{marker}"', json.dumps(key), 1)  # the same key twice (last value wins)


LINE_EDITS = {
    "spaces-after-commas": lambda t: t.replace(",", ", "), "space-after-first-colon": lambda t: t.replace(":", ": ", 1),
    "carriage-return": lambda t: t + "\r", "leading-space": lambda t: " " + t,
    "lower-case-z": lambda t: t.replace('"Z"', '"z"'), "utc-offset": lambda t: t.replace('00Z"', '00+00:00"'),
    "integer-as-decimal": lambda t: t.replace("21,", "21.0,"), "lower-case-code": lambda t: t.replace('"BE"', '"be"'),
    "two-lines": lambda t: t + "\n" + t, "envelope": lambda t: '{"data":[' + t + "],\"status_code\":1000}",
    "array": lambda t: "[" + t + "]", "escaped-key": lambda t: t.replace('"id"', '"\\u0069d"', 1),
    "two-objects-on-a-line": lambda t: t + t,
}


@pytest.mark.parametrize("edit", list(LINE_EDITS.values()), ids=list(LINE_EDITS))  # (stable ids: xdist)
def test_line_level_oddities(edit, monkeypatch):
    compare(edit(line_of(fast_cdr())), monkeypatch, Tally())


def test_remembered_tariffs_are_never_shared(monkeypatch):
    cdrline._TARIFF_MEMO.clear()
    text = line_of(fast_cdr())
    first, second = (accept(item.cdr_line) for item in read_items(io.BytesIO((text + "\n" + text).encode()), "x.jsonl"))
    assert len(cdrline._TARIFF_MEMO) == 1 and first.cdr is not None and typed(first.cdr) == typed(second.cdr)
    first.cdr["tariffs"][0]["elements"][0]["price_components"][0]["price"] = 99
    first.cdr["tariffs"][0]["elements"].clear()
    assert typed(second.cdr) != typed(first.cdr)
    third = accept(next(iter(read_items(io.BytesIO(text.encode()), "x.jsonl"))).cdr_line)
    assert typed(third.cdr) == typed(second.cdr)


def test_a_changed_tariff_is_a_new_answer():
    data = fast_cdr()
    before = cdrline.typed_cdr(cdrline.decode(line_of(data), _line_value))
    data["tariffs"][0]["elements"][0]["price_components"][0]["price"] = 3
    after = cdrline.typed_cdr(cdrline.decode(line_of(data), _line_value))
    assert before["tariffs"][0]["elements"][0]["price_components"][0]["price"] != \
        after["tariffs"][0]["elements"][0]["price_components"][0]["price"] == 3


def test_a_changed_schema_pattern_turns_the_path_off():
    schema = json.loads(cdrline._SCHEMA_FILE.read_text())
    assert cdrline._model(schema) is not None
    schema["$defs"]["CdrToken"]["properties"]["uid"]["pattern"] = "^[A-Z]*$"
    with pytest.raises(cdrline._Unsupported):
        cdrline._model(schema)
    schema = json.loads(cdrline._SCHEMA_FILE.read_text())
    schema["properties"]["remark"]["format"] = "email"
    with pytest.raises(cdrline._Unsupported):
        cdrline._model(schema)


def test_sample_cdrs_agree(monkeypatch):
    samples = Path(__file__).resolve().parents[2] / "samples" / "cdrs"
    tally = Tally()
    for path in sorted(p for p in samples.rglob("*") if p.is_file()):
        compare(path.read_text(), monkeypatch, tally)  # (JSON Lines files as they are)
        for item in _read(path.read_text(), fast=False, monkeypatch=monkeypatch):
            if isinstance(item.data, dict):
                compare(line_of(item.data), monkeypatch, tally)
                compare(line_of(canonical(item.data)), monkeypatch, tally)
    assert tally.fast


def test_a_failure_on_the_new_path_is_the_usual_routes_to_report(monkeypatch):
    from engine.intake import checks
    (item,) = read_items(io.BytesIO(line_of(fast_cdr()).encode()), "x.jsonl")

    def broken(cdr):
        raise RuntimeError("bug")
    monkeypatch.setattr(checks, "check_cdr", broken)
    monkeypatch.setattr(checks, "quiet_line_cdr", broken)
    got, want = accept(item.cdr_line), accept(item.data)
    assert [p.code for p in got.problems] == [p.code for p in want.problems] == ["intake.internal"]


def test_a_line_that_cannot_be_canonical_is_not_decoded_twice():
    """Spaces after the colons (Python's json.dumps) or another first key: the usual route at
    once, without a Struct decode that the round trip would throw away."""
    text = line_of(fast_cdr())
    assert cdrline.decode(text, json.loads) is not None
    data = json.loads(text)
    assert cdrline.decode(json.dumps(data), json.loads) is None
    reordered = json.dumps(dict(reversed(list(data.items()))), separators=(",", ":"))
    assert cdrline.decode(reordered, json.loads) is None
    for other in (json.dumps(data), reordered):  # (the usual route reads them)
        (item,) = read_items(io.BytesIO(other.encode()), "x.jsonl")
        assert item.cdr_line is None and accept(item.data).cdr is not None


def test_lookup_keys_are_the_parsed_fields_the_prefetch_reads():
    data = fast_cdr()
    data = canonical({**data, "session_id": "s-1", "authorization_reference": "a-1"})
    (item,) = read_items(io.BytesIO(line_of(data).encode()), "x.jsonl")
    token = data["cdr_token"]
    want = {"cdr_token": {k: token[k] for k in ("country_code", "party_id", "uid")},
            **{k: data[k] for k in ("authorization_reference", "session_id") if k in data}}
    assert item.cdr_line.lookup_keys() == want and {"session_id", "authorization_reference"} <= set(want)
    del data["session_id"]
    (item,) = read_items(io.BytesIO(line_of(data).encode()), "x.jsonl")
    assert "session_id" not in item.cdr_line.lookup_keys()


def test_remembered_locations_are_never_shared_and_a_changed_one_is_a_new_answer():
    cdrline._LOCATION_MEMO.clear()
    data = fast_cdr()
    first, second = (cdrline.typed_cdr(cdrline.decode(line_of(data), _line_value)) for _ in range(2))
    assert len(cdrline._LOCATION_MEMO) == 1 and first["cdr_location"] == second["cdr_location"]
    first["cdr_location"]["coordinates"]["latitude"] = "0.000000"
    first["cdr_location"]["id"] = "moved"
    assert second["cdr_location"]["coordinates"]["latitude"] != "0.000000" != second["cdr_location"]["id"]
    data["cdr_location"]["evse_id"] = "BE*BEC*E041503099"
    changed = cdrline.typed_cdr(cdrline.decode(line_of(data), _line_value))
    assert changed["cdr_location"]["evse_id"] == "BE*BEC*E041503099" != second["cdr_location"]["evse_id"]
    assert len(cdrline._LOCATION_MEMO) == 2
    data["cdr_location"]["country"] = "bé"  # (doubtful: the usual route; remembered as such)
    assert cdrline.typed_cdr(cdrline.decode(line_of(data), _line_value)) is None
