"""engine/intake/fastjson.py: wherever msgspec decodes a line, the standard library agrees exactly."""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal
from typing import Any

import pytest

from engine.intake import read_items
from engine.intake.fastjson import MAX_OPENERS, NOT_DECODED, decode_line

from .conftest import DATA, SPEC_CDR, V211_CDR, VERSAILLES

_STDLIB = json.JSONDecoder(parse_float=Decimal, parse_constant=lambda text: ("constant", text))


def typed(value: Any) -> Any:
    """The value with every type and key order spelled out (``==`` says 1 == 1.0 == Decimal(1))."""
    if isinstance(value, dict):
        return ("object", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [typed(item) for item in value])
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    return (type(value).__name__, value)


def stdlib(text: str) -> Any:
    try:
        return typed(_STDLIB.decode(text))
    except (ValueError, RecursionError):
        return "error"


def lines() -> list[str]:
    return [json.dumps(json.loads((DATA / name).read_bytes())) for name in (SPEC_CDR, V211_CDR, VERSAILLES)]


@pytest.mark.parametrize("text", [
    '{"a": 1.10, "b": 1e2, "c": 10, "d": -0, "e": 1E+2, "f": 0.0, "g": -0.0, "h": 0e0}',
    '{"b": 1, "a": 2, "b": 3}', '"\\ud83d\\ude00"', '"\\u00e9"', "null", " [1 ,2 ] \r", "1" + "0" * 4299,
    "9223372036854775808", "-9223372036854775809", "1.5e999999999", "123.456e-789", '{"": {}}',
])
def test_values_and_types_are_the_standard_librarys(text):
    value = decode_line(text)
    assert value is not NOT_DECODED
    assert typed(value) == stdlib(text)


@pytest.mark.parametrize("text", [
    '{"a": NaN}', "[Infinity]", "[-Infinity]", '"\\ud800"', '{"a": "\t"}', "1" + "0" * 4300, "01", "1.", ".5",
    "+1", '{"a": 1,}', '{"a": 1} x', "", "[" * 1000 + "]" * 1000, "[" * (MAX_OPENERS + 1) + "]" * (MAX_OPENERS + 1),
])
def test_what_the_standard_library_must_judge_is_left_to_it(text):
    assert decode_line(text) is NOT_DECODED


def test_mutated_cdr_lines_decode_the_same_or_not_at_all():
    rng = random.Random(20261124)
    alphabet = list('{}[],:"\\0123456789.eE+-tfnul \t\r\x00\x01aé') + ["\\u", "\\ud800", "NaN", "1e400", "-0"]
    sources = lines()
    decoded = 0
    for _ in range(4000):
        chars = list(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            roll = rng.random()
            if roll < 0.4:
                chars.insert(at, rng.choice(alphabet))
            elif roll < 0.8:
                del chars[at]
            else:
                chars[at] = rng.choice(alphabet)
        text = "".join(chars)
        value = decode_line(text)
        if value is not NOT_DECODED:
            decoded += 1
            assert typed(value) == stdlib(text), text
    assert decoded > 100  # the comparison did run on lines msgspec accepted


def test_reader_items_are_the_same_with_and_without_the_fast_path(monkeypatch):
    bad = ['{"a": NaN}', '{"a": 1,}', '{"id": "\\ud800"}', "[" * 2000 + "]" * 2000]
    text = "\n".join(lines() + bad).encode()
    fast = list(read_items(io.BytesIO(text), "x.jsonl"))
    monkeypatch.setattr("engine.intake.reader.decode_line", lambda line: NOT_DECODED)
    slow = list(read_items(io.BytesIO(text), "x.jsonl"))
    assert [(i.source, typed(i.data), i.problems, i.raw) for i in fast] == \
        [(i.source, typed(i.data), i.problems, i.raw) for i in slow]
