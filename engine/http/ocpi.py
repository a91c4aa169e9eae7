"""The OCPI response format, status codes and timestamps - and JSON responses in general.

Every answer of the API that is not a success payload of its own (``POST /cdrs`` results, a
Decision, ``/healthz``, ``/openapi.json``, a PDF) is an OCPI envelope (transport_and_format,
"Response format")::

    {"data": ..., "status_code": 1000, "status_message": "...", "timestamp": "2026-10-03T06:12:04Z"}

``data`` is left out when there is nothing to say (the spec's advice for responses whose data it
does not define, and for errors). Timestamps are UTC with ``Z``, to the second.

Amounts in an OCPI object (a CDR served back by GET) must stay JSON *numbers* with their exact
digits, so :func:`ocpi_dumps` writes Decimals as number literals; everything the shell reports
about a CDR (Decisions, pricing) goes through ``engine.jsonable`` instead, where amounts are strings.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from flask import Response

# OCPI 2.2.1 status codes (status_codes.asciidoc).
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002

JSON_MIMETYPE = "application/json"
_ABSENT = object()


def timestamp(now: datetime | None = None) -> str:
    """An OCPI DateTime in UTC with Z (``2026-10-03T06:12:04Z``)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return now.isoformat(timespec="seconds") + "Z"


def envelope(status_code: int = SUCCESS, status_message: str | None = None, data: Any = _ABSENT,
             *, now: datetime | None = None) -> dict[str, Any]:
    """The OCPI response object; ``data`` only when given."""
    body: dict[str, Any] = {}
    if data is not _ABSENT:
        body["data"] = data
    body["status_code"] = status_code
    if status_message:
        body["status_message"] = status_message
    body["timestamp"] = timestamp(now)
    return body


def status_for_http(http_status: int) -> int:
    """The OCPI status code that goes with an HTTP error status."""
    if http_status >= 500:
        return SERVER_ERROR
    if http_status == 400:
        return INVALID_PARAMETERS
    return CLIENT_ERROR


def json_response(payload: Any, http_status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response from already-JSON-able data (Decisions via ``to_json()``, envelopes)."""
    from engine.jsonable import to_jsonable

    text = json.dumps(to_jsonable(payload), ensure_ascii=False, separators=(",", ":"))
    return raw_json_response(text, http_status, headers)


def raw_json_response(text: str, http_status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(text + "\n", status=http_status, mimetype=JSON_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(http_status: int, message: str, status_code: int | None = None, *,
                   headers: Mapping[str, str] | None = None, data: Any = _ABSENT) -> Response:
    """An error as an OCPI envelope (never an HTML page)."""
    code = status_code if status_code is not None else status_for_http(http_status)
    return json_response(envelope(code, message, data), http_status, headers)


def ocpi_response(data: Any = _ABSENT, *, http_status: int = 200, status_code: int = SUCCESS,
                  status_message: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
    """An OCPI envelope whose ``data`` is an OCPI object: Decimals stay JSON numbers."""
    return raw_json_response(ocpi_dumps(envelope(status_code, status_message, data)), http_status, headers)


def ocpi_dumps(value: Any) -> str:
    """JSON with Decimals as number literals (``0.59`` stays ``0.59``), datetimes as UTC ``Z``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f")
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return json.dumps(value.isoformat() + "Z")
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{ocpi_dumps(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(ocpi_dumps(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")
