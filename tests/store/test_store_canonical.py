"""A resend is recognised whatever its formatting; a changed value is not."""

from __future__ import annotations

import json
from decimal import Decimal

from engine.store.canonical import canonical_json, content_hash, hash_of_value


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
