"""Reference data pushed over HTTP: PSP transactions (releasing the CDRs waiting for them) and
customers, subscriptions, MSP contracts, locations.

``POST /psp/transactions``   one transaction or a JSON array of them (or ``{"transactions": [...]}``).
                             Each is normalised and validated with the Cerberus schema of
                             ``psp_transactions`` and upserted; then the ad-hoc CDRs waiting for
                             any of them (authorization_reference or session_id) are decided again
                             (``engine.service.waiting.release``). Answers the outcome of every
                             record and the keys of the CDRs released.
``POST /reference/<kind>``   the same for ``customers``, ``subscriptions``, ``msp_contracts``,
                             ``locations`` (one record, an array, or ``{"<key>": [...]}`` with the
                             key of the file format: customers, subscriptions, msps, locations).

Upserts are idempotent (the same record again is ``unchanged`` and writes nothing); a record
that fails validation is ``rejected`` with its reasons per field and the others are stored.
All records of a request are stored in one transaction. Status: 201 something was inserted and
nothing rejected; 200 otherwise when nothing was rejected, and for a mixed batch (read each
``outcome``); 400 every record was rejected, or the body is not JSON (nothing stored).
Authentication is the app's (every route needs a token).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.http.ocpi import CLIENT_ERROR, INVALID_PARAMETERS, error_response, json_response
from engine.http.runtime import current_client, runtime
from engine.store.canonical import parse

log = logging.getLogger("cdrflow.http")

reference_bp = Blueprint("reference", __name__)
bp = reference_bp  # the name engine.http.app's BLUEPRINTS convention looks for by default

PUSHABLE_KINDS = ("customers", "subscriptions", "msp_contracts", "locations")
PSP_KIND = "psp_transactions"
MAX_RETRIES = 3
_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


class _BodyError(Exception):
    def __init__(self, http_status: int, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.message = message


@reference_bp.errorhandler(_BodyError)
def _body_error(exc: _BodyError) -> Response:
    return error_response(exc.http_status, exc.message, INVALID_PARAMETERS if exc.http_status == 400 else CLIENT_ERROR)


def _max_batch() -> int:
    try:
        return int(runtime().settings.max_batch)
    except (AttributeError, KeyError, TypeError, ValueError):
        return 1000


def _records(kind: str) -> list[Any]:
    """The records of the body: one object, an array, or ``{"<key>": [...]}`` (the file format)."""
    from engine.reference import SCHEMAS

    body = request.get_data(cache=False)
    if not body.strip():
        raise _BodyError(400, "the request body is empty: send a record (JSON object) or a JSON array of them")
    try:
        data = parse(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _BodyError(400, f"the request body is not valid JSON: {exc}; nothing was stored") from None
    key = SCHEMAS[kind][0]
    if isinstance(data, dict) and isinstance(data.get(key), list) and (set(data) <= {key, "kind"}):
        if data.get("kind", kind) != kind:
            raise _BodyError(400, f"the body says kind {data.get('kind')!r}; this endpoint takes {kind}")
        data = data[key]
    records = data if isinstance(data, list) else [data]
    if not records:
        raise _BodyError(400, "the request body holds no record (an empty array)")
    if len(records) > _max_batch():
        raise _BodyError(413, f"too many records in one request: the limit is {_max_batch()} (CDRFLOW_MAX_BATCH); "
                              "split the batch; nothing was stored")
    return records


def _source() -> str:
    client = current_client()
    return f"http:{client.name if client else '-'}:{g.get('request_id', '-')}"


def _retryable(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


def _store(kind: str, records: list[Any], *, release: bool) -> tuple[Any, list[tuple[str, str, str]]]:
    """Upsert (and release) in one transaction, retried on deadlocks / lock timeouts."""
    from engine.store.reference import store_records

    rt = runtime()
    for attempt in range(MAX_RETRIES + 1):
        try:
            with rt.session_factory() as session:
                result = store_records(session, kind, records, file="<request>", source=_source())
                released: list[tuple[str, str, str]] = []
                if release:
                    released = _release(session, result.accepted_records())
                session.commit()
                return result, released
        except DBAPIError as exc:
            if exc.connection_invalidated or not _retryable(exc) or attempt == MAX_RETRIES:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
    raise AssertionError("unreachable")


def _release(session: Any, transactions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    from engine.service.waiting import release_all

    if not transactions:
        return []
    # No `priced` view here: it would read through sessions of its own while this one holds the
    # write transaction (SQLite). Credit CDRs do not wait for PSP transactions.
    rt = runtime()
    return release_all(session, rt.pipeline(), transactions, policy=getattr(rt, "waiting_policy", None))


def _answer(kind: str, result: Any, released: list[tuple[str, str, str]] | None) -> Response:
    counts = result.counts()
    results = []
    for outcome in result.outcomes:
        item: dict[str, Any] = {"index": outcome.index, "key": outcome.key, "outcome": outcome.outcome}
        if outcome.reasons:
            item["reasons"] = list(outcome.reasons)
        results.append(item)
    body: dict[str, Any] = {"kind": kind, "results": results, "summary": counts}
    if released is not None:
        body["released"] = [list(k) for k in released]
    if counts["rejected"] == len(result.outcomes):
        status = 400
    elif counts["rejected"] == 0 and counts["inserted"]:
        status = 201
    else:
        status = 200
    return json_response(body, status)


@reference_bp.post("/psp/transactions")
def post_psp_transactions() -> Response:
    records = _records(PSP_KIND)
    result, released = _store(PSP_KIND, records, release=True)
    if released:
        log.info("request %s: %d waiting CDR(s) released by PSP transactions", g.get("request_id"), len(released))
    return _answer(PSP_KIND, result, released)


@reference_bp.post("/reference/<kind>")
def post_reference(kind: str) -> Response:
    if kind == PSP_KIND:
        return error_response(404, "PSP transactions are posted to /psp/transactions", CLIENT_ERROR)
    if kind not in PUSHABLE_KINDS:
        return error_response(404, f"no reference kind {kind!r}; one of {', '.join(PUSHABLE_KINDS)}", CLIENT_ERROR)
    records = _records(kind)
    result, _ = _store(kind, records, release=False)
    return _answer(kind, result, None)


# --- OpenAPI (merged into /openapi.json by engine.http.openapi) -----------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_HEADERS = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
            "X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"}}
_PARAMETERS = [{"$ref": "#/components/parameters/X-Request-ID"},
               {"$ref": "#/components/parameters/X-Correlation-ID"}]


def _responses(with_released: bool) -> dict[str, Any]:
    schema = _ref("ReferenceUpsertResponse")
    return {
        "201": {"description": "stored, something new (nothing rejected)", "headers": _HEADERS,
                "content": _json(schema)},
        "200": {"description": "stored (updated/unchanged), or a mixed batch with rejected records"
                               + ("; `released` lists the CDRs released from waiting" if with_released else ""),
                "headers": _HEADERS, "content": _json(schema)},
        "400": {"description": "every record rejected (a ReferenceUpsertResponse with the reasons), or a body "
                               "that is not JSON (an OcpiEnvelope, nothing stored)", "headers": _HEADERS,
                "content": _json({"oneOf": [schema, _ref("OcpiEnvelope")]})},
        "413": {"$ref": "#/components/responses/TooLarge"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "500": {"$ref": "#/components/responses/ServerError"},
    }


def _body(item: str, key: str) -> dict[str, Any]:
    record = {"type": "object", "description": f"one {item} record (the fields of the reference data format)"}
    return {"required": True, "content": _json({"oneOf": [
        record, {"type": "array", "items": record},
        {"type": "object", "required": [key], "properties": {"kind": {"type": "string"},
                                                             key: {"type": "array", "items": record}}},
    ]})}


OPENAPI_PATHS: dict[str, Any] = {
    "/psp/transactions": {
        "post": {
            "operationId": "postPspTransactions", "tags": ["reference"],
            "summary": "Push PSP transactions (idempotent upsert); releases the ad-hoc CDRs waiting for them",
            "description": "Each transaction (`id`, `authorization_reference`, `session_id`, `status`, `amount`, "
                           "`currency`, ...) is validated and upserted; an ad-hoc CDR parked because no PSP "
                           "transaction was found is decided again when one arrives with its "
                           "`authorization_reference` or `session_id`. Amounts may be JSON numbers or strings.",
            "parameters": _PARAMETERS,
            "requestBody": _body("psp_transactions", "transactions"),
            "responses": _responses(True),
        },
    },
    "/reference/{kind}": {
        "post": {
            "operationId": "postReference", "tags": ["reference"],
            "summary": "Push reference records of one kind (idempotent upsert)",
            "parameters": [{"name": "kind", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": list(PUSHABLE_KINDS)}}] + _PARAMETERS,
            "requestBody": _body("reference", "<key>"),
            "responses": {**_responses(False), "404": {
                "description": "unknown kind", "headers": _HEADERS, "content": _json(_ref("OcpiEnvelope"))}},
        },
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "ReferenceRecordResult": {
        "type": "object", "required": ["index", "key", "outcome"],
        "properties": {
            "index": {"type": "integer", "description": "position in the request (0-based)"},
            "key": {"type": ["string", "null"], "description": "the business key (`party/contract_id` for MSPs)"},
            "outcome": {"type": "string", "enum": ["inserted", "updated", "unchanged", "rejected"]},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "why it was rejected, per field (`amount: more than 2 decimal places`)"},
        },
    },
    "ReferenceUpsertResponse": {
        "type": "object", "required": ["kind", "results", "summary"],
        "properties": {
            "kind": {"type": "string"},
            "results": {"type": "array", "items": _ref("ReferenceRecordResult")},
            "summary": {"type": "object", "properties": {
                name: {"type": "integer"} for name in ("inserted", "updated", "unchanged", "rejected")}},
            "released": {"type": "array", "items": _ref("CdrKey"),
                         "description": "CDRs that were waiting for these PSP transactions and are decided now"},
        },
    },
}
