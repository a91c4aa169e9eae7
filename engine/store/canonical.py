"""Content hashes of raw inputs, so a resend is recognised whatever its formatting.

A CPMS that resends a CDR may pretty-print it differently, reorder keys or write ``4.40`` as
``4.4``; that is the same CDR. It may also change a value; that is a different CDR under the
same id (a conflict). The hash is SHA-256 over canonical JSON: keys sorted, no insignificant
whitespace, numbers by value (``4.40`` == ``4.4`` == ``4.400``), strings as they are (``"4.40"``
stays a string and differs from the number). Text that is not JSON is hashed as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from json.encoder import encode_basestring as _encode_str  # what json.dumps(s, ensure_ascii=False) returns

import msgspec

from engine.intake.fastjson import MAX_OPENERS

# The most recent texts made by ``canonical_json`` (from values whose dict keys are all strings).
# Such a text is a fixed point - parsing and re-canonicalising it gives it back - so its content
# hash is simply its SHA-256: ``content_hash`` skips the parse and the second canonicalisation
# for them (ingest stores a CDR it has no original text of as canonical_json of the parsed value,
# then hashes that text). Bounded; a text that fell out is hashed the long way, same result.
_RECENT: OrderedDict[str, None] = OrderedDict()
_RECENT_MAX = 2048


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    number = Decimal(value) if isinstance(value, int) else Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a JSON number")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _number_literal(text: str) -> msgspec.Raw:
    """msgspec hands every JSON number literal that is not a plain integer to this hook, as its
    text: it comes back spelt by value, as ``_number`` spells it, and is written out verbatim."""
    return msgspec.Raw(_number(Decimal(text)).encode())


# The fast spelling: msgspec parses (numbers through the hook above) and writes with keys sorted,
# compact, strings escaped as json's ``encode_basestring`` escapes them (checked against the
# slow path by property tests). msgspec refuses everything json refuses, and more (a lone
# surrogate, NaN, very deep nesting): whatever it refuses is left to the json path, which keeps
# the exact old behaviour for it.
_FAST_PARSE = msgspec.json.Decoder(float_hook=_number_literal)
_FAST_WRITE = msgspec.json.Encoder(order="sorted")
_NUMBERS_AS_WRITTEN = msgspec.json.Encoder(decimal_format="number")


def _fast_canonical(text: str | bytes) -> bytes | None:
    """The canonical JSON (UTF-8) of a JSON text, or None where the json path has to decide
    (also for deeply nested text: msgspec's nesting limit is not json's, see fastjson.py)."""
    openers = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    if text.count(openers[0]) + text.count(openers[1]) > MAX_OPENERS:  # type: ignore[arg-type]
        return None
    try:
        return _FAST_WRITE.encode(_FAST_PARSE.decode(text))
    except Exception:  # noqa: BLE001 - refused or unusual: the json path decides, as it always did
        return None


def canonical_json_of_parsed(value: Any) -> str:
    """``canonical_json`` of a value parsed from JSON text with Decimal numbers - dicts with
    string keys, lists, strings, ints, Decimals, booleans, None: what the intake reader makes -
    about twice as fast: written with msgspec, then canonicalised by ``_fast_canonical``. A value
    msgspec does not write (the reader's marker for ``NaN``) goes the general way. Only for such
    values: msgspec would also write a date or a float NaN, which ``canonical_json`` refuses."""
    try:
        text = _NUMBERS_AS_WRITTEN.encode(value)
    except Exception:  # noqa: BLE001 - a type msgspec does not write: the general way
        return canonical_json(value)
    fast = _fast_canonical(text)
    if fast is None:
        return canonical_json(value)
    canonical = fast.decode("utf-8")
    if len(canonical) > 64:
        _remember(canonical)   # keys all strings (it was parsed from JSON): a fixed point
    return canonical


def canonical_json(value: Any) -> str:
    """One spelling for one JSON value (parsed with Decimal or float numbers alike)."""
    plain = [True]
    text = _canonical(value, plain)
    if plain[0] and len(text) > 64:
        _remember(text)
    return text


def _canonical(value: Any, plain: list[bool]) -> str:
    """``plain[0]`` is cleared when a dict key is not a string (two keys could then spell the
    same, and the text would not be a fixed point)."""
    # Hot path (every ingested CDR goes through here twice): the common types are tested by
    # exact type first; strings are encoded with the json module's C encoder directly (what
    # ``json.dumps(s, ensure_ascii=False)`` returns, without building an encoder per string).
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is dict:
        if all(type(k) is str for k in value):
            return "{" + ",".join([_encode_str(k) + ":" + _canonical(value[k], plain) for k in sorted(value)]) + "}"
        plain[0] = False
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_encode_str(k)}:{_canonical(v, plain)}" for k, v in items) + "}"
    if kind is list:
        return "[" + ",".join([_canonical(v, plain) for v in value]) + "]"
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return _number(value)
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, dict):
        if plain[0] and not all(type(k) is str for k in value):
            plain[0] = False
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_encode_str(k)}:{_canonical(v, plain)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(v, plain) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _remember(text: str) -> None:
    _RECENT[text] = None
    while len(_RECENT) > _RECENT_MAX:
        try:
            _RECENT.popitem(last=False)
        except KeyError:  # emptied by another thread meanwhile
            break


def parse(text: str) -> Any:
    """Parse JSON the way the core does: numbers as Decimal, never float."""
    return json.loads(text, parse_float=Decimal)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(raw_text: str) -> str:
    """SHA-256 of the canonical JSON of ``raw_text``; of the text itself when it is not JSON."""
    if raw_text in _RECENT:  # made by canonical_json: already canonical
        return sha256(raw_text)
    fast = _fast_canonical(raw_text)
    if fast is not None:
        return hashlib.sha256(fast).hexdigest()
    try:
        value = parse(raw_text)
    except (ValueError, RecursionError):
        return sha256(raw_text)
    return sha256(canonical_json(value))


def hash_of_value(value: Any) -> str:
    """The same hash for an already parsed value (equal to ``content_hash(json text of value)``)."""
    return sha256(canonical_json(value))
