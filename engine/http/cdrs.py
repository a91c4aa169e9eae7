"""CDR ingestion over HTTP: the batch endpoint, the OCPI 2.2.1 receiver, and reading back.

The same code path as ``cdrflow ingest``: ``engine.intake.read_items`` parses the body (numbers
as Decimal), the pure ``Pipeline`` decides each CDR, ``engine.service.ingest.record_items``
records it - all items of one request in one transaction. Re-sending is safe: a CDR already
stored with the same content is a ``duplicate`` (nothing written, the stored Decision answered,
billed once); the same id with different content is a ``conflict`` (the stored CDR is kept, a
DUPLICATE_ID_CONFLICT exception opened); an invalid CDR is ``rejected`` and stored as such with
its reasons (exception INVALID_CDR). A body that is not JSON at all is answered 400 and nothing
is stored: the sender has to fix it and send again.

``POST /cdrs``                 one CDR, a JSON array, an OCPI envelope, or JSON Lines
                               (``Content-Type: application/x-ndjson``); per-item results.
``POST /ocpi/2.2.1/cdrs``      OCPI eMSP receiver: one CDR, OCPI envelope, ``Location``.
``GET /cdrs/{cc}/{party}/{id}``            the stored current Decision.
``GET /ocpi/2.2.1/cdrs/{cc}/{party}/{id}`` the stored CDR in an OCPI envelope.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, Response, g, request, url_for
from sqlalchemy.orm import Session

from engine import intake
from engine.decision import Decision
from engine.http.ocpi import (
    CLIENT_ERROR, INVALID_PARAMETERS, SUCCESS, error_response, json_response, ocpi_response,
)
from engine.store.priced import StorePricing
from engine.http.runtime import current_client, runtime
from engine.service.ingest import IngestSummary, Recorded, decide_items, record_items
from engine.store.canonical import parse
from engine.store.cdrs import CONFLICT, DUPLICATE, NEW, REJECTED, IngestOutcome, current_decision, get_cdr
from engine.store.exceptions import DUPLICATE_ID_CONFLICT

log = logging.getLogger("cdrflow.http")

bp = Blueprint("cdrs", __name__)

OCPI_VERSION = "2.2.1"
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines", "application/json-lines"})
MAX_RETRIES = 3
_MAX_ERRORS_IN_MESSAGE = 10
ONE_CDR_PER_REQUEST = ("expected one CDR object per request (OCPI receiver interface); "
                       "send batches to POST /cdrs")


class BodyError(Exception):
    """The request body cannot be taken at all (nothing is stored)."""

    def __init__(self, http_status: int, message: str, status_code: int = INVALID_PARAMETERS):
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code
        self.message = message


@bp.errorhandler(BodyError)
def _body_error(exc: BodyError) -> Response:
    return error_response(exc.http_status, exc.message, exc.status_code)


# --- reading the body -------------------------------------------------------------------------------


def _source_prefix(channel: str) -> str:
    client = current_client()
    return f"{channel}:{client.name if client else '-'}:{g.get('request_id', '-')}"


def read_body(channel: str, max_items: int, *, lines: bool = False, single: bool = False) -> list[intake.RawItem]:
    """The items of the request body, or BodyError. ``source`` of each is ``<channel>:<client>:<request id>``
    plus the reader's position suffix (``[3]`` in an array, ``:12`` for a JSON Lines line)."""
    body = request.get_data(cache=False)  # 413 (RequestEntityTooLarge) past MAX_CONTENT_LENGTH
    if not body.strip():
        raise BodyError(400, "the request body is empty: send a CDR as JSON")
    base = _source_prefix(channel)
    name = base + (".ndjson" if lines else "")
    items: list[intake.RawItem] = []
    for item in intake.read_items(io.BytesIO(body), name):
        if item.problems:
            problem = item.problems[0]
            where = item.source[len(name):] if item.source.startswith(name) else ""
            raise BodyError(400, f"the request body is not valid JSON{' at ' + where if where else ''}: "
                                 f"{problem.message}; nothing was stored")
        items.append(item)
        if single and len(items) > 1:
            raise BodyError(400, ONE_CDR_PER_REQUEST)
        if len(items) > max_items:
            raise BodyError(413, f"too many CDRs in one request: the limit is {max_items} (CDRFLOW_MAX_BATCH); "
                                 "split the batch; nothing was stored")
    if not items:
        raise BodyError(400, "the request body holds no CDR (an empty array or envelope)")
    for item in items:
        if item.source.startswith(name):
            item.source = base + item.source[len(name):]
    return items


# --- deciding and recording ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    item: intake.RawItem
    raw: str
    decision: Decision
    normalised: dict[str, Any] | None


def decide(items: list[intake.RawItem], session: Session | None = None) -> list[Pending]:
    """Decide every item with the pure Pipeline; credit CDRs find their original in the store
    or earlier in the same request.

    The reference lookups of the whole request share one session - ``session``, the one the
    request then records in (DbSource on PostgreSQL) - and the PSP transactions and customers
    the request's CDRs refer to are read with one query each up front (``DbSource.sharing``)."""
    rt = runtime()
    pipeline = rt.pipeline(StorePricing(rt.session_factory))  # the Pipeline adds what it prices here
    return [Pending(item, p.raw, p.decision, p.normalised)
            for item, p in zip(items, decide_items(pipeline, items, session))]


def record(session_factory: Callable[[], Session], pending: list[Pending], policy: Any = None, *,
           session: Session | None = None) -> list[Recorded]:
    """Record all items in one transaction (``engine.service.ingest.record_items``, as
    ``cdrflow ingest``): retried on deadlocks and lock timeouts (re-raised if they persist: the
    request fails with nothing stored). If the transaction fails for another reason, items are
    recorded one by one (savepoints) and an item the database cannot hold is kept as a rejected
    input (STORE_FAILED) - still one commit."""
    return record_items(session_factory, pending, policy=policy, session=session, max_retries=MAX_RETRIES,
                        give_up=True, failed_exception=True, with_states=True,
                        label=f"request {g.get('request_id')}: ")


# --- answering ---------------------------------------------------------------------------------------


def _effective(outcome: IngestOutcome) -> str:
    """The outcome as the sender should read it: re-sending a rejected CDR is still a rejection."""
    if outcome.outcome == DUPLICATE:
        stored = outcome.decision
        if stored is None or stored.errors:
            return REJECTED
    return outcome.outcome


def _key_of(outcome: IngestOutcome, fresh: Decision) -> tuple[str, str, str] | None:
    decision = outcome.decision or fresh
    return tuple(decision.key) if decision.key else None  # type: ignore[return-value]


def decision_url(key: tuple[str, str, str]) -> str:
    return url_for("cdrs.get_decision", country_code=key[0], party_id=key[1], cdr_id=key[2], _external=True)


def ocpi_cdr_url(key: tuple[str, str, str]) -> str:
    return url_for("cdrs.ocpi_get_cdr", country_code=key[0], party_id=key[1], cdr_id=key[2], _external=True)


def conflict_description(key: tuple[str, str, str] | None) -> str:
    name = "/".join(key) if key else "this id"
    return (f"CDR {name} was received before with different content; a CDR cannot change once sent "
            "(send a credit CDR and a new CDR instead). The stored CDR is kept; this one is in the "
            "exception queue (DUPLICATE_ID_CONFLICT) for review")


def item_result(index: int, p: Pending, recorded: Recorded) -> dict[str, Any]:
    outcome = recorded.outcome
    shown = outcome.decision or recorded.decision
    key = _key_of(outcome, p.decision)
    if outcome.outcome == CONFLICT:
        stream, errors = None, []
        exception: dict[str, Any] | None = {"reason": DUPLICATE_ID_CONFLICT,
                                            "description": conflict_description(key)}
    else:
        stream, errors, exception = shown.stream, shown.errors, shown.exception
    return {
        "index": index,
        "source": p.item.source,
        "key": list(key) if key else None,
        "outcome": outcome.outcome,
        "state": recorded.state,
        "stream": stream,
        "exception": exception,
        "errors": errors,
        "location": decision_url(key) if key and outcome.cdr_pk is not None else None,
    }


def batch_status(effective: list[str]) -> int:
    kinds = set(effective)
    if kinds == {REJECTED}:
        return 400
    if kinds == {CONFLICT}:
        return 409
    if NEW in kinds and kinds <= {NEW, DUPLICATE}:
        return 201
    return 200  # all duplicates, or a mixed batch: read the per-item outcomes


def _ingest(items: list[intake.RawItem]) -> tuple[list[Pending], list[Recorded]]:
    """Decide and record in one session: one pool checkout (and pre-ping) per request."""
    rt = runtime()
    with rt.session_factory() as session:
        pending = decide(items, session)
        return pending, record(rt.session_factory, pending, rt.waiting_policy, session=session)


# --- POST /cdrs -----------------------------------------------------------------------------------------


@bp.post("/cdrs")
def post_cdrs() -> Response:
    rt = runtime()
    items = read_body("http", rt.settings.max_batch, lines=request.mimetype in NDJSON_TYPES)
    pending, recorded = _ingest(items)
    summary = IngestSummary(received=len(items))
    for r in recorded:
        summary.add(r.outcome)
    results = [item_result(i, p, r) for i, (p, r) in enumerate(zip(pending, recorded))]
    status = batch_status([_effective(r.outcome) for r in recorded])
    headers = {}
    if len(results) == 1 and results[0]["location"]:
        headers["Location"] = results[0]["location"]
    body = {"results": results,
            "summary": dict(summary.to_json(), config_version=rt.bundle.version)}
    return json_response(body, status, headers)


# --- POST /ocpi/2.2.1/cdrs --------------------------------------------------------------------------------


def _errors_message(errors: list[dict[str, Any]]) -> str:
    parts = [f"{e.get('path') or '(CDR)'}: {e.get('message')}" for e in errors[:_MAX_ERRORS_IN_MESSAGE]]
    if len(errors) > _MAX_ERRORS_IN_MESSAGE:
        parts.append(f"and {len(errors) - _MAX_ERRORS_IN_MESSAGE} more")
    return "; ".join(parts)


@bp.post(f"/ocpi/{OCPI_VERSION}/cdrs")
def ocpi_post_cdr() -> Response:
    body = request.get_data(cache=True)
    if body.lstrip()[:1] not in (b"{", b""):
        return error_response(400, ONE_CDR_PER_REQUEST, INVALID_PARAMETERS)
    items = read_body("ocpi", 1, single=True)
    pending, recorded = _ingest(items)
    p, outcome = pending[0], recorded[0].outcome
    key = _key_of(outcome, p.decision)
    effective = _effective(outcome)
    if effective == REJECTED:
        shown = outcome.decision or recorded[0].decision
        return ocpi_response(http_status=400, status_code=INVALID_PARAMETERS,
                             status_message="invalid CDR: " + (_errors_message(shown.errors) or "unreadable"))
    location = {"Location": ocpi_cdr_url(key)} if key and outcome.cdr_pk is not None else {}
    if effective == CONFLICT:
        return ocpi_response(http_status=409, status_code=CLIENT_ERROR, status_message=conflict_description(key),
                             headers=location)
    message = "CDR accepted" if outcome.outcome == NEW else "CDR already received (idempotent repeat)"
    return ocpi_response(http_status=201 if outcome.outcome == NEW else 200, status_code=SUCCESS,
                         status_message=message, headers=location)


# --- reading back ------------------------------------------------------------------------------------------


def _key(country_code: str, party_id: str, cdr_id: str) -> tuple[str, str, str]:
    return country_code.upper(), party_id.upper(), cdr_id


def _not_stored(key: tuple[str, str, str]) -> Response:
    return error_response(404, f"no CDR {'/'.join(key)} is stored (country_code/party_id/id)", CLIENT_ERROR)


@bp.get("/cdrs/<country_code>/<party_id>/<path:cdr_id>")
def get_decision(country_code: str, party_id: str, cdr_id: str) -> Response:
    key = _key(country_code, party_id, cdr_id)
    with runtime().session_factory() as session:
        decision = current_decision(session, key)
        session.rollback()
    if decision is None:
        return _not_stored(key)
    return json_response(decision.to_json())


@bp.get(f"/ocpi/{OCPI_VERSION}/cdrs/<country_code>/<party_id>/<path:cdr_id>")
def ocpi_get_cdr(country_code: str, party_id: str, cdr_id: str) -> Response:
    """The CDR as received; one received in OCPI 2.1.1 shape is served converted to 2.2.1."""
    key = _key(country_code, party_id, cdr_id)
    with runtime().session_factory() as session:
        row = get_cdr(session, key)
        raw, version = (row.raw_json, row.ocpi_version) if row is not None else (None, None)
        session.rollback()
    if raw is None:
        return _not_stored(key)
    data = parse(raw)
    if version and version != OCPI_VERSION:
        converted = intake.accept(data, default_party=runtime().pipeline().default_party)
        if converted.cdr is not None:
            data = converted.cdr
    return ocpi_response(data)
