"""``GET /openapi.json`` (no token): the hand-written OpenAPI 3.1 description of the API.

The CDR request body is ``schemas/cdr.schema.json`` itself (JSON Schema 2020-12, which OpenAPI
3.1 uses as is), embedded as ``components.schemas.Cdr`` with its ``$defs`` references pointed
into the document. Blueprint modules listed in ``engine.http.app.BLUEPRINTS`` may contribute
``OPENAPI_PATHS`` / ``OPENAPI_SCHEMAS`` dicts; they are merged in. tests/http checks the
document with openapi-spec-validator and that every route of the app is described.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response

from engine.http.auth import public
from engine.http.ocpi import raw_json_response

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
CDR_SCHEMA_FILE = "cdr.schema.json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


def _envelope_response(description: str) -> dict[str, Any]:
    return {"description": description, "headers": _COMMON_HEADERS, "content": _json(_ref("OcpiEnvelope"))}


_COMMON_HEADERS = {
    "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
    "X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"},
}
_ID_PARAMETERS = [{"$ref": "#/components/parameters/X-Request-ID"},
                  {"$ref": "#/components/parameters/X-Correlation-ID"}]
_KEY_PARAMETERS = [
    {"name": "country_code", "in": "path", "required": True, "description": "ISO 3166-1 alpha-2 of the CPO",
     "schema": {"type": "string", "minLength": 2, "maxLength": 2}},
    {"name": "party_id", "in": "path", "required": True, "description": "OCPI party id of the CPO",
     "schema": {"type": "string", "minLength": 3, "maxLength": 3}},
    {"name": "cdr_id", "in": "path", "required": True, "description": "the CDR's `id`",
     "schema": {"type": "string", "maxLength": 255}},
]
_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "500": {"$ref": "#/components/responses/ServerError"},
}

_SCHEMAS: dict[str, Any] = {
    "OcpiEnvelope": {
        "type": "object",
        "description": "OCPI response format (transport_and_format). Errors carry no `data`.",
        "required": ["status_code", "timestamp"],
        "properties": {
            "data": {"description": "the response data, when there is any"},
            "status_code": {"type": "integer", "description": "1000 success; 2000 client error; 2001 invalid or "
                            "missing parameters; 2002 not enough information; 3000 server error",
                            "examples": [1000, 2001]},
            "status_message": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time", "description": "UTC, with Z"},
        },
    },
    "CdrEnvelope": {
        "allOf": [_ref("OcpiEnvelope"),
                  {"type": "object", "required": ["data"], "properties": {"data": _ref("Cdr")}}],
    },
    "Cdr211": {
        "type": "object",
        "description": "An OCPI 2.1.1 CDR (`stop_date_time`, `auth_id`, full `location`, `total_cost` a number). "
                       "Converted to 2.2.1 by the intake before it is validated against `Cdr`.",
        "required": ["id", "start_date_time", "stop_date_time"],
    },
    "CdrInput": {"anyOf": [_ref("Cdr"), _ref("Cdr211")]},
    "Problem": {
        "type": "object",
        "description": "One reason a CDR was rejected: where (JSON path), a stable code, and why.",
        "required": ["path", "code", "message"],
        "properties": {
            "path": {"type": "string", "examples": ["cdr_token.type"]},
            "code": {"type": "string", "examples": ["schema.enum"]},
            "message": {"type": "string"},
        },
    },
    "CdrKey": {
        "type": "array", "description": "[country_code, party_id, id]", "minItems": 3, "maxItems": 3,
        "items": {"type": "string"}, "examples": [["DE", "VLT", "VLT-20261003-10008"]],
    },
    "ExceptionInfo": {
        "type": "object", "description": "Why the CDR is in the exception queue instead of a billing stream.",
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "examples": ["UNKNOWN_MSP", "INVALID_CDR",
                                                                   "DUPLICATE_ID_CONFLICT"]},
                       "description": {"type": "string"}},
        "additionalProperties": True,
    },
    "IngestResult": {
        "type": "object",
        "required": ["index", "key", "outcome", "state", "stream", "exception", "errors", "location"],
        "properties": {
            "index": {"type": "integer", "description": "position in the request (0-based)"},
            "source": {"type": "string", "description": "`http:<client>:<request id>` plus the position"},
            "key": {"oneOf": [_ref("CdrKey"), {"type": "null"}]},
            "outcome": {"type": "string", "enum": ["new", "duplicate", "conflict", "rejected"],
                        "description": "new: stored now; duplicate: stored before with the same content (nothing "
                                       "written, billed once); conflict: the id is stored with other content "
                                       "(exception DUPLICATE_ID_CONFLICT); rejected: invalid, stored with reasons"},
            "state": {"type": ["string", "null"],
                      "enum": ["received", "rejected", "classified", "exception", "billed", "waiting", "late", None],
                      "description": "the stored CDR's state after the request (`waiting`: an ad-hoc CDR waits for "
                                     "its PSP transaction, no exception yet); null when no CDR row was stored"},
            "stream": {"type": ["string", "null"], "enum": ["adhoc", "subscription", "msp", None]},
            "exception": {"oneOf": [_ref("ExceptionInfo"), {"type": "null"}]},
            "errors": {"type": "array", "items": _ref("Problem")},
            "location": {"type": ["string", "null"], "format": "uri",
                         "description": "GET this for the stored Decision"},
        },
    },
    "IngestSummary": {
        "type": "object",
        "required": ["received", "new", "duplicate", "conflict", "rejected", "streams", "exceptions"],
        "properties": {
            "received": {"type": "integer"}, "new": {"type": "integer"}, "duplicate": {"type": "integer"},
            "conflict": {"type": "integer"}, "rejected": {"type": "integer"},
            "streams": {"type": "object", "additionalProperties": {"type": "integer"},
                        "description": "new CDRs per stream"},
            "exceptions": {"type": "object", "additionalProperties": {"type": "integer"},
                           "description": "exception records opened, per reason"},
            "config_version": {"type": "string"},
        },
    },
    "IngestResponse": {
        "type": "object", "required": ["results", "summary"],
        "properties": {"results": {"type": "array", "items": _ref("IngestResult")},
                       "summary": _ref("IngestSummary")},
    },
    "Decision": {
        "type": "object",
        "description": "What the core decided about a CDR and why (public contract, see `cdrflow dry-run`). "
                       "Amounts are strings.",
        "required": ["cdr_id", "key", "stream", "exception", "config_version"],
        "properties": {
            "cdr_id": {"type": ["string", "null"]},
            "key": {"oneOf": [_ref("CdrKey"), {"type": "null"}]},
            "source": {"type": ["string", "null"]},
            "ocpi_version": {"type": ["string", "null"], "enum": ["2.2.1", "2.1.1", None]},
            "stream": {"type": ["string", "null"]},
            "rule": {"type": ["object", "null"], "properties": {
                "id": {"type": "string"}, "file": {"type": "string"}, "line": {"type": ["integer", "null"]}}},
            "facts": {"type": "object"},
            "billing": {"type": "object"},
            "pricing": {"type": ["object", "null"]},
            "errors": {"type": "array", "items": _ref("Problem")},
            "warnings": {"type": "array", "items": {"type": "object"}},
            "exception": {"oneOf": [_ref("ExceptionInfo"), {"type": "null"}]},
            "config_version": {"type": "string"},
        },
    },
    "Health": {
        "type": "object", "required": ["status", "database", "config_version", "timestamp"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "object", "properties": {
                "backend": {"type": "string"}, "reachable": {"type": "boolean"},
                "schema": {"type": ["string", "null"]}, "schema_head": {"type": ["string", "null"]}}},
            "config_version": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "message": {"type": "string"},
        },
    },
}

_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "healthz", "tags": ["operations"], "security": [],
            "summary": "Liveness/readiness: database reachable and migrated, config version",
            "responses": {
                "200": {"description": "healthy", "content": _json(_ref("Health"))},
                "503": {"description": "database unreachable or not migrated", "content": _json(_ref("Health"))},
            },
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi", "tags": ["operations"], "security": [],
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    },
    "/cdrs": {
        "post": {
            "operationId": "postCdrs", "tags": ["cdrs"],
            "summary": "Ingest one CDR or a batch (idempotent)",
            "description": "Body: one CDR (OCPI 2.2.1 or 2.1.1), a JSON array of CDRs, an OCPI response envelope, "
                           "or JSON Lines with `Content-Type: application/x-ndjson`. All CDRs of a request are "
                           "decided by the same pipeline as `cdrflow ingest` and stored in one transaction. "
                           "Status: 201 something new was stored (and nothing failed); 200 all duplicates, or a "
                           "mixed batch (read each result's `outcome`); 400 the only CDR (or every CDR) is "
                           "invalid - stored as rejected, `errors` say why; 409 the only CDR (or every CDR) "
                           "conflicts with a stored one. A body that is not JSON is answered 400 and nothing "
                           "is stored.",
            "parameters": _ID_PARAMETERS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"oneOf": [
                        _ref("CdrInput"),
                        {"type": "array", "items": _ref("CdrInput")},
                        {"type": "object", "required": ["data"], "description": "OCPI response envelope",
                         "properties": {"data": {"type": "array", "items": _ref("CdrInput")}}},
                    ]}},
                    "application/x-ndjson": {"schema": {"type": "string",
                                                        "description": "one CDR JSON object per line"}},
                },
            },
            "responses": {
                "201": {"description": "stored (new CDRs, possibly with duplicates)", "headers": {
                    **_COMMON_HEADERS, "Location": {"$ref": "#/components/headers/DecisionLocation"}},
                        "content": _json(_ref("IngestResponse"))},
                "200": {"description": "all duplicates, or a mixed batch", "headers": _COMMON_HEADERS,
                        "content": _json(_ref("IngestResponse"))},
                "400": {"description": "invalid CDR(s) (an IngestResponse, stored as rejected) or a body that is "
                                       "not JSON (an OcpiEnvelope, nothing stored)", "headers": _COMMON_HEADERS,
                        "content": _json({"oneOf": [_ref("IngestResponse"), _ref("OcpiEnvelope")]})},
                "409": {"description": "same id, different content: the stored CDR is kept, exception opened",
                        "headers": _COMMON_HEADERS, "content": _json(_ref("IngestResponse"))},
                "413": {"$ref": "#/components/responses/TooLarge"},
                **_ERRORS,
            },
        },
    },
    "/cdrs/{country_code}/{party_id}/{cdr_id}": {
        "get": {
            "operationId": "getDecision", "tags": ["cdrs"],
            "summary": "The current Decision of a stored CDR",
            "parameters": _KEY_PARAMETERS + _ID_PARAMETERS,
            "responses": {
                "200": {"description": "the Decision", "headers": _COMMON_HEADERS, "content": _json(_ref("Decision"))},
                "404": _envelope_response("no such CDR"),
                **_ERRORS,
            },
        },
    },
    "/ocpi/2.2.1/cdrs": {
        "post": {
            "operationId": "ocpiPostCdr", "tags": ["ocpi"],
            "summary": "OCPI 2.2.1 CDRs receiver interface (eMSP style): one CDR per request",
            "description": "Answers an OCPI envelope: status_code 1000 when stored (HTTP 201) or already "
                           "received with the same content (HTTP 200), with `Location` pointing at the stored "
                           "CDR; 2001 (HTTP 400) for an invalid CDR, the reasons in `status_message` (stored as "
                           "rejected); 2000 (HTTP 409) for a different CDR under an id already received.",
            "parameters": _ID_PARAMETERS,
            "requestBody": {"required": True, "content": _json(_ref("CdrInput"))},
            "responses": {
                "201": {"description": "CDR stored", "headers": {
                    **_COMMON_HEADERS, "Location": {"$ref": "#/components/headers/OcpiLocation"}},
                        "content": _json(_ref("OcpiEnvelope"))},
                "200": {"description": "the same CDR was received before (idempotent repeat)", "headers": {
                    **_COMMON_HEADERS, "Location": {"$ref": "#/components/headers/OcpiLocation"}},
                        "content": _json(_ref("OcpiEnvelope"))},
                "400": _envelope_response("invalid CDR (2001), or not one JSON object"),
                "409": _envelope_response("a different CDR with this id was received before (2000)"),
                "413": {"$ref": "#/components/responses/TooLarge"},
                **_ERRORS,
            },
        },
    },
    "/ocpi/2.2.1/cdrs/{country_code}/{party_id}/{cdr_id}": {
        "get": {
            "operationId": "ocpiGetCdr", "tags": ["ocpi"],
            "summary": "A stored CDR (the URL from POST's Location), in an OCPI envelope",
            "description": "The CDR as received; one received in OCPI 2.1.1 shape is served converted to 2.2.1.",
            "parameters": _KEY_PARAMETERS + _ID_PARAMETERS,
            "responses": {
                "200": {"description": "the CDR", "headers": _COMMON_HEADERS, "content": _json(_ref("CdrEnvelope"))},
                "404": _envelope_response("no such CDR"),
                **_ERRORS,
            },
        },
    },
    "/documents/{number}.pdf": {
        "get": {
            "operationId": "getDocumentPdf", "tags": ["documents"],
            "summary": "The archived PDF of an issued billing document",
            "parameters": [{"name": "number", "in": "path", "required": True, "description": "document number",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}}]
                          + _ID_PARAMETERS,
            "responses": {
                "200": {"description": "the PDF", "headers": _COMMON_HEADERS,
                        "content": {"application/pdf": {"schema": {"type": "string",
                                                                   "contentMediaType": "application/pdf"}}}},
                "400": _envelope_response("not a document number"),
                "404": _envelope_response("no such document (or no archive yet)"),
                **_ERRORS,
            },
        },
    },
}

_COMPONENTS_REST: dict[str, Any] = {
    "securitySchemes": {
        "ocpiToken": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Authorization: Token <token>` with a token from `cdrflow token create`; the token may "
                           "also be Base64-encoded (OCPI 2.2.1 encoded token), and `Bearer <token>` is accepted.",
        },
    },
    "parameters": {
        "X-Request-ID": {"name": "X-Request-ID", "in": "header", "required": False,
                         "description": "unique id of this request (echoed; generated when absent)",
                         "schema": {"type": "string", "maxLength": 128}},
        "X-Correlation-ID": {"name": "X-Correlation-ID", "in": "header", "required": False,
                             "description": "correlation id (echoed; defaults to the request id)",
                             "schema": {"type": "string", "maxLength": 128}},
    },
    "headers": {
        "X-Request-ID": {"description": "the request's id", "schema": {"type": "string"}},
        "X-Correlation-ID": {"description": "the correlation id", "schema": {"type": "string"}},
        "DecisionLocation": {"description": "URL of the stored CDR's Decision (one-CDR requests)",
                             "schema": {"type": "string", "format": "uri"}},
        "OcpiLocation": {"description": "URL of the stored CDR (GET it with the same token)",
                         "schema": {"type": "string", "format": "uri"}},
    },
    "responses": {
        "Unauthorized": {"description": "missing, malformed, unknown or revoked token",
                         "headers": {**_COMMON_HEADERS, "WWW-Authenticate": {"schema": {"type": "string"}}},
                         "content": _json(_ref("OcpiEnvelope"), {"status_code": 2000,
                                                                 "status_message": "unknown or revoked token",
                                                                 "timestamp": "2026-10-03T06:12:04Z"})},
        "TooLarge": {"description": "body larger than CDRFLOW_MAX_CONTENT_LENGTH, or more CDRs than "
                                    "CDRFLOW_MAX_BATCH; nothing stored",
                     "headers": _COMMON_HEADERS, "content": _json(_ref("OcpiEnvelope"))},
        "ServerError": {"description": "internal error (3000); 503 when the database is unavailable",
                        "headers": _COMMON_HEADERS, "content": _json(_ref("OcpiEnvelope"))},
    },
}


def cdr_schema() -> dict[str, Any]:
    """schemas/cdr.schema.json as an OpenAPI component: ``#/$defs/X`` -> ``#/components/schemas/Cdr/$defs/X``."""
    from engine.intake.schema import SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / CDR_SCHEMA_FILE).read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return _rewrite_refs(schema, "#/$defs/", "#/components/schemas/Cdr/$defs/")


def _rewrite_refs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: (new + v[len(old):] if k == "$ref" and isinstance(v, str) and v.startswith(old)
                    else _rewrite_refs(v, old, new)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, old, new) for v in node]
    return node


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cdrflow")
    except Exception:  # noqa: BLE001 - not installed as a distribution (source checkout)
        return "0.1.0"


@lru_cache(maxsize=1)
def _cached_document() -> str:
    return json.dumps(build_document(), ensure_ascii=False, separators=(",", ":"))


def build_document() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    from engine.http.app import blueprint_modules

    paths = copy.deepcopy(_PATHS)
    schemas = copy.deepcopy(_SCHEMAS)
    schemas["Cdr"] = cdr_schema()
    for module in blueprint_modules():
        for path, item in (getattr(module, "OPENAPI_PATHS", None) or {}).items():
            paths.setdefault(path, {}).update(copy.deepcopy(item))
        schemas.update(copy.deepcopy(getattr(module, "OPENAPI_SCHEMAS", None) or {}))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "cdrflow API",
            "version": _version(),
            "summary": "CDR ingestion and billing decisions for a Charge Point Operator",
            "description": "The CPMS posts OCPI CDRs; cdrflow classifies them into the adhoc, subscription or msp "
                           "billing stream (or the exception queue), prices and records them idempotently. Every "
                           "error is JSON: an OCPI response envelope with a clear `status_message`. Every response "
                           "carries `X-Request-ID` and `X-Correlation-ID`.",
        },
        "tags": [
            {"name": "cdrs", "description": "CDR ingestion and Decisions"},
            {"name": "ocpi", "description": "OCPI 2.2.1 CDRs module, receiver interface"},
            {"name": "documents", "description": "issued billing documents"},
            {"name": "operations", "description": "health and this description (no token needed)"},
        ],
        "security": [{"ocpiToken": []}],
        "paths": paths,
        "components": {"schemas": schemas, **copy.deepcopy(_COMPONENTS_REST)},
    }


@bp.get("/openapi.json")
@public
def openapi_json() -> Response:
    return raw_json_response(_cached_document(), 200, {"Cache-Control": "public, max-age=300"})


__all__ = ["bp", "build_document", "cdr_schema"]
