"""One way to turn core values into JSON: Decimals as strings, instants as RFC 3339 UTC with Z.

Amounts leave the system as strings so that no consumer's float parser can touch a cent.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
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
