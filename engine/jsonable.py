"""One way to turn core values into JSON: Decimals as strings, instants as RFC 3339 UTC with Z.

Amounts leave the system as strings so that no consumer's float parser can touch a cent.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

# Values that are JSON already. Checked by exact type first because this runs a few times per
# CDR over every value of the decision (pricing, facts, billing): one set lookup instead of
# five isinstance() calls per value. Subclasses (a YAML string with its location, an IntEnum)
# take the general path below and come out exactly as before.
_AS_IS = frozenset({str, int, bool, float, type(None)})


def to_jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return _dict(value)
    if kind is Decimal:
        return format(value, "f")
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else to_jsonable(v) for v in value]
    return _general(value)


def _dict(value: dict[Any, Any]) -> dict[str, Any]:
    as_is = _AS_IS
    return {(k if type(k) is str else str(k)): (v if type(v) in as_is else to_jsonable(v))
            for k, v in value.items()}


_STR = frozenset({str})


def json_object(value: dict[Any, Any]) -> dict[str, Any]:
    """``to_jsonable`` of a dict, as a new dict: a plain copy when it is flat JSON already.

    Line references and document sources are flat str -> scalar dicts; checking that over the
    keys and the values in C and copying is cheaper than the per-item comprehension, and gives
    exactly what ``_dict`` gives for such a dict. Anything else takes ``_dict``.
    """
    if _STR.issuperset(map(type, value)) and _AS_IS.issuperset(map(type, value.values())):
        return dict(value)
    return _dict(value)


def is_flat_json(value: dict[Any, Any]) -> bool:
    """Whether ``json_object`` of the dict ``value`` is a plain copy (str keys, JSON scalar values);
    for a caller that copies one dict several times and checks it once."""
    return _STR.issuperset(map(type, value)) and _AS_IS.issuperset(map(type, value.values()))


def _general(value: Any) -> Any:
    """Everything that is not an exact core type, in the original order of precedence."""
    if isinstance(value, dict):
        return _dict(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
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


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, **kwargs)
