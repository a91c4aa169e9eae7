"""OCPI DateTime strings: the lenient wire fixes and the conversion to aware UTC datetimes.

OCPI DateTimes are RFC 3339 in UTC, and the spec lets the sender omit the ``Z``
(``2015-06-29T20:39:09`` is UTC). JSON Schema's ``date-time`` format insists on an offset, so
before validation intake appends the ``Z``; ``+00:00`` (explicitly "not the same as UTC" in the
spec, but meaning the same instant) becomes ``Z`` with a warning; any other offset is kept and
converted to UTC after validation, also with a warning. After validation every DateTime becomes
a ``datetime`` with ``tzinfo=UTC`` so that no later stage ever compares naive times.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

UTC = timezone.utc
MAX_LENGTH = 25  # DateTime is string(25)

_WIRE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)

UTC_OFFSET = "datetime.utc_offset"      # "+00:00" rewritten to "Z"
NOT_UTC = "datetime.not_utc"            # another offset, converted to UTC


def fix_wire(text: str) -> tuple[str, str | None]:
    """Make a spec-valid OCPI DateTime a valid RFC 3339 one; returns (text, warning code or None).

    Strings that do not look like a DateTime at all are returned unchanged for the schema's
    ``format`` check to reject with the field named.
    """
    if len(text) > MAX_LENGTH or text[-1:] == "Z":
        return text, None  # the common case; anything wrong with it is the schema's to say
    match = _WIRE.fullmatch(text)
    if match is None:
        # RFC 3339 allows a lower-case t and z; OCPI's examples and our schema do not
        match = _WIRE.fullmatch(text.upper())
        if match is None:
            return text, None
        text = text.upper()
    offset = match.group(3)
    if offset is None:
        fraction = match.group(2) or ""
        room = MAX_LENGTH - 1 - len(match.group(1))
        if len(fraction) > room:  # "....01.12345" (25 chars) + "Z" would exceed string(25)
            fraction = fraction[:room]
        return f"{match.group(1)}{fraction}Z", None
    if offset == "Z":
        return text, None
    if offset in ("+00:00", "-00:00"):
        return text[: -len(offset)] + "Z", UTC_OFFSET
    return text, NOT_UTC


def parse(text: str) -> datetime:
    """An RFC 3339 string (as fixed by :func:`fix_wire`) to an aware UTC datetime; ValueError if not."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is UTC:  # "...Z", every DateTime intake lets through but a few: done
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.utcoffset():
        return value.astimezone(UTC)
    return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)
