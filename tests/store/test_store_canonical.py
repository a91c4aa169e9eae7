"""A resend is recognised whatever its formatting; a changed value is not."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from engine.store.canonical import (
    _RECENT, canonical_json, canonical_json_of_parsed, content_hash, hash_of_value, parse, sha256,
)


def test_formatting_and_key_order_do_not_matter():
    a = '{"id": "X", "total_energy": 12.50, "cost": {"excl_vat": 4.40, "incl_vat": 5.24}}'
    b = '{\n  "cost": {"incl_vat": 5.24, "excl_vat": 4.4},\n  "total_energy": 12.5,\n  "id": "X"\n}'
    assert content_hash(a) == content_hash(b)


def test_numbers_compare_by_value():
    assert content_hash('{"n": 1}') == content_hash('{"n": 1.0}') == content_hash('{"n": 1e0}')
    assert content_hash('{"n": 0.1}') != content_hash('{"n": 0.10000001}')


def test_a_string_is_not_a_number():
    assert content_hash('{"n": "4.40"}') != content_hash('{"n": 4.40}')


def test_changed_value_changes_the_hash():
    assert content_hash('{"id": "X", "e": 12.5}') != content_hash('{"id": "X", "e": 12.6}')


def test_non_json_is_hashed_as_text():
    assert content_hash("not json {") == content_hash("not json {")
    assert content_hash("not json {") != content_hash("not json [")


def test_parsed_values_hash_like_their_text():
    text = '{"b": [1, 2.50, null, true], "a": "ä"}'
    value = json.loads(text, parse_float=Decimal)
    assert hash_of_value(value) == content_hash(text)
    assert canonical_json(value) == '{"a":"ä","b":[1,2.5,null,true]}'


# --- the msgspec fast path spells exactly what the json path spells ------------------------------

_numbers = st.one_of(st.integers(min_value=-10**30, max_value=10**30),
                     st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
                         lambda d: abs(d.adjusted()) < 60))
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=12), _numbers),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=25)


def _spell(value, draw) -> str:
    """JSON text of ``value`` in one of many spellings: spacing, escapes, number forms."""
    space = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        form = draw(st.sampled_from(["plain", "exp", "trailing"]))
        if form == "exp":
            sign, digits, exponent = value.as_tuple()
            mantissa = ("-" if sign else "") + "".join(map(str, digits))
            return f"{mantissa}e{exponent}"
        text = format(value, "f")
        if form == "trailing" and "." in text:
            text += "00"
        if "." not in text and "e" not in text.lower():
            text += ".0"   # keep it a non-integer literal: the hook's path
        return text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, list):
        return "[" + ("," + space).join(_spell(v, draw) for v in value) + "]"
    return "{" + ("," + space).join(f"{json.dumps(k, ensure_ascii=draw(st.booleans()))}{space}:{space}"
                                    f"{_spell(v, draw)}" for k, v in value.items()) + space + "}"


@settings(max_examples=300, deadline=None)
@given(value=_json, data=st.data())
def test_the_fast_hash_equals_the_json_path(value, data):
    text = _spell(value, data.draw)
    _RECENT.clear()
    expected = sha256(canonical_json(parse(text)))
    assert content_hash(text) == expected
    _RECENT.clear()
    assert canonical_json_of_parsed(parse(text)) == canonical_json(parse(text))


def _json_path_hash(text: str) -> str:
    """content_hash as it was before the fast path."""
    try:
        value = parse(text)
    except (ValueError, RecursionError):
        return sha256(text)
    return sha256(canonical_json(value))


def _outcome(fn, text):
    try:
        return fn(text)
    except Exception as exc:  # noqa: BLE001 - the same exception either way
        return type(exc)


def test_what_msgspec_refuses_is_hashed_as_before():
    for text in ('"\\ud800"', '{"a": "\\udfff", "b": 1.50}', '[1, NaN]', '{"a": Infinity}', '[1,]', "{'a': 1}",
                 "\ufeff{}", "", "[" * 400 + "]" * 400, "[" * 1200 + "]" * 1200,
                 *("[" * n + "]" * n for n in (300, 500, 600, 800, 990, 995, 999)), '"a\x01"', "1" * 5000):
        _RECENT.clear()
        expected = _outcome(_json_path_hash, text)
        _RECENT.clear()
        assert _outcome(content_hash, text) == expected, text[:20]
    parsed = parse('{"a": "\\ud800", "b": 1.50}')
    assert canonical_json_of_parsed(parsed) == canonical_json(parsed)
