"""A fast first try at parsing one JSON Lines line; the standard library stays the judge.

``json`` with ``parse_float=Decimal`` takes ~18 us for a 2.3 KB CDR line, msgspec ~9 us, and a
JSON Lines line is parsed for every CDR of a batch. But what the reader promises about bad input
is the standard library's: its error messages with line and column, NaN/Infinity read as
constants (rejected later with the field named), lone surrogates kept, the 4,300-digit integer
limit, RecursionError on deep junk. So msgspec is trusted only when it succeeds; on any failure
:func:`decode_line` returns :data:`NOT_DECODED` and the reader parses the line as before.

Where msgspec succeeds it gives what the standard library gives: an integer literal is an int,
every other number the Decimal of its exact text (``1.10`` stays ``Decimal('1.10')``), a
duplicate key keeps its first position and its last value; NaN, Infinity, control characters,
lone surrogates and over-long integers are errors in msgspec, so they take the slow path
(tests/intake/test_fastjson.py compares the two on thousands of mutated CDR lines).

The one limit that differs is nesting: msgspec runs a few Python frames shallower than
``json.JSONDecoder.decode`` and would accept a couple more levels before RecursionError. A line
with more than :data:`MAX_OPENERS` brackets (a CDR has about 60) is therefore left to the
standard library, whose RecursionError the reader reports as ``json.too_deep``. Counting costs
~1.8 us a line (~55,000 of the ~1.5 million instructions a CDR takes in ``decide_item``); no
cheaper exact bound was found, since the recursion limits of both parsers move with the stack.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

MAX_OPENERS = 256

NOT_DECODED = object()  # (a line can be ``null``: None cannot say "not decoded")

_decode = msgspec.json.Decoder(float_hook=Decimal).decode


def decode_line(text: str) -> Any:
    """The JSON value of ``text``, or :data:`NOT_DECODED` when the standard library must decide."""
    if text.count("[") + text.count("{") > MAX_OPENERS:
        return NOT_DECODED
    try:
        return _decode(text)
    except Exception:  # noqa: BLE001 - any failure at all: the slow path says what it is
        return NOT_DECODED
