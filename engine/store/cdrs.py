"""Recording CDRs and their Decisions - idempotently, and without ever losing an input.

``record_decision`` is the one write path of ingest. For each input it ends in exactly one of:

* ``new``        the CDR was stored with its Decision (an exception opened if it is one);
* ``duplicate``  the same CDR (same key, same content hash) is already stored: nothing is
                 written and the stored Decision is returned;
* ``conflict``   the key is stored with *different* content. OCPI CDRs never change once sent,
                 so this needs a human: a DUPLICATE_ID_CONFLICT exception keeps the new text;
                 the stored CDR is never overwritten;
* ``rejected``   the input is invalid (intake errors). With a key it is stored as a CDR in
                 state ``rejected``; without one in ``rejected_inputs``. Either way with its
                 reasons and an INVALID_CDR exception.

Concurrency: the key is a unique constraint and rows are inserted with ``ON CONFLICT DO
NOTHING``; the loser of a race sees the winner's row and reports a duplicate (or conflict).
The caller owns the transaction (ingest commits in batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.decision import Decision
from engine.jsonable import to_jsonable
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.canonical import content_hash
from engine.store.db import _json_serializer
from engine.store.exceptions import DUPLICATE_ID_CONFLICT, INVALID_CDR, open_exception
from engine.store.models import Cdr, DecisionRecord, RejectedInput

NEW, DUPLICATE, CONFLICT, REJECTED = "new", "duplicate", "conflict", "rejected"
OUTCOMES = (NEW, DUPLICATE, CONFLICT, REJECTED)

# Column widths of the key (models.Cdr); a longer key cannot be stored as a CDR.
_KEY_WIDTHS = (8, 8, 255)


@dataclass(frozen=True)
class IngestOutcome:
    """What ``record_decision`` did with one input."""

    outcome: str                          # new | duplicate | conflict | rejected
    decision: Decision | None             # the stored current Decision (None for a keyless input)
    cdr_pk: int | None = None
    rejected_input_id: int | None = None
    exception_id: int | None = None       # an exception this call opened
    exception_reason: str | None = None

    @property
    def stream(self) -> str | None:
        return self.decision.stream if self.decision else None


def state_of(decision: Decision) -> str:
    """The CDR state a fresh Decision puts it in."""
    if decision.errors:
        return "rejected"
    if decision.stream:
        return "classified"
    if decision.exception:
        return "exception"
    return "received"


def _usable_key(key: Any) -> tuple[str, str, str] | None:
    if not key or len(key) != 3:
        return None
    if not all(isinstance(part, str) and part and len(part) <= width for part, width in zip(key, _KEY_WIDTHS)):
        return None
    return (key[0], key[1], key[2])


def record_decision(session: Session, item_raw_text: str, decision: Decision, *,
                    normalised: dict[str, Any] | None = None, now: datetime | None = None) -> IngestOutcome:
    """Store one input and its Decision unless it is already stored (see module docstring).

    ``item_raw_text`` is the CDR exactly as received; ``normalised`` the intake's 2.2.1 form
    (stored as JSON when given).
    """
    now = now or utcnow()
    digest = content_hash(item_raw_text)
    key = _usable_key(decision.key)
    if key is None:
        return _record_rejected_input(session, item_raw_text, digest, decision, now)

    state = state_of(decision)
    cdr_values = _cdr_row(key, item_raw_text, digest, decision, normalised, state, now)
    if session.get_bind().dialect.name == "postgresql":
        # the CDR and its Decision in one statement (one round trip): nothing is inserted when
        # the key is stored already (ON CONFLICT DO NOTHING leaves the CTE empty). For one row
        # this is cheaper than the array form of record_decisions (no array parameters to build).
        params = dict(cdr_values)
        params.update({"d_" + k: v for k, v in _decision_row(0, decision, now).items() if k != "cdr_pk"})
        row = session.execute(_INSERT_CDR_AND_DECISION, params).first()
        if row is None:
            return _record_resend(session, key, item_raw_text, digest, decision, now)
        cdr_pk, decision_id = row.cdr_pk, row.id
    else:
        cdr_pk = insert_ignore(session, Cdr, cdr_values, list(_KEY_COLUMNS))
        if cdr_pk is None:
            return _record_resend(session, key, item_raw_text, digest, decision, now)
        decision_id = _insert_decision(session, cdr_pk, decision, now)
    return _recorded_new(session, key, cdr_pk, decision_id, decision, state, now)


def _cdr_row(key: tuple[str, str, str], raw: str, digest: str, decision: Decision,
             normalised: dict[str, Any] | None, state: str, now: datetime) -> dict[str, Any]:
    # JSON values go in as they are: the engine's JSON serialiser (engine.store.db) turns
    # Decimals and datetimes into strings exactly as to_jsonable does, in one pass.
    return {
        "country_code": key[0], "party_id": key[1], "cdr_id": key[2],
        "raw_json": raw, "normalised_json": normalised,
        "content_hash": digest, "ocpi_version": decision.ocpi_version, "source": decision.source,
        "state": state, "received_at": now,
    }


def _recorded_new(session: Session, key: tuple[str, str, str], cdr_pk: int, decision_id: int, decision: Decision,
                  state: str, now: datetime) -> IngestOutcome:
    """The outcome of a CDR just stored with its Decision; opens its exception if it is one."""
    outcome = REJECTED if state == "rejected" else NEW
    if state not in ("rejected", "exception"):
        return IngestOutcome(outcome, decision, cdr_pk=cdr_pk)
    reason = (decision.exception or {}).get("reason") or INVALID_CDR
    exception_id, _ = open_exception(
        session, reason, dedup_key=f"decision:{decision_id}", cdr_pk=cdr_pk, decision_id=decision_id, now=now,
        detail={"key": list(key), "source": decision.source, "exception": decision.exception,
                "errors": decision.errors or None})
    return IngestOutcome(outcome, decision, cdr_pk=cdr_pk, exception_id=exception_id, exception_reason=reason)


def _record_resend(session: Session, key: tuple[str, str, str], raw: str, digest: str, decision: Decision,
                   now: datetime) -> IngestOutcome:
    row = session.execute(_STORED, {"country_code": key[0], "party_id": key[1], "cdr_id": key[2]}).one()
    stored = _decision_from_row(row)
    if row.content_hash == digest:
        return IngestOutcome(DUPLICATE, stored, cdr_pk=row.cdr_pk)
    exception_id, created = open_exception(
        session, DUPLICATE_ID_CONFLICT, dedup_key=f"conflict:{row.cdr_pk}:{digest}", cdr_pk=row.cdr_pk, now=now,
        detail={"key": list(key), "source": decision.source, "content_hash": digest,
                "stored_content_hash": row.content_hash, "stored_source": row.source, "raw": raw,
                "outcome": decision.outcome, "config_version": decision.config_version})
    return IngestOutcome(CONFLICT, stored, cdr_pk=row.cdr_pk, exception_id=exception_id if created else None,
                         exception_reason=DUPLICATE_ID_CONFLICT if created else None)


def _record_rejected_input(session: Session, raw: str, digest: str, decision: Decision,
                           now: datetime) -> IngestOutcome:
    reasons = decision.errors or [{
        "path": "", "code": "NO_CDR_KEY",
        "message": "no usable (country_code, party_id, id) could be determined"
                   + (f": {list(decision.key)!r}" if decision.key else ""),
    }]
    new_id = insert_ignore(session, RejectedInput, {
        "source": decision.source, "raw_text": raw, "content_hash": digest,
        "reasons": to_jsonable(reasons), "received_at": now,
    }, ["content_hash"])
    if new_id is None:
        existing = session.execute(select(RejectedInput.id).where(RejectedInput.content_hash == digest)).scalar_one()
        return IngestOutcome(DUPLICATE, None, rejected_input_id=existing)
    exception_id, _ = open_exception(
        session, INVALID_CDR, dedup_key=f"rejected:{digest}", rejected_input_id=new_id, now=now,
        detail={"source": decision.source, "errors": reasons})
    return IngestOutcome(REJECTED, None, rejected_input_id=new_id, exception_id=exception_id,
                         exception_reason=INVALID_CDR)


_INSERT_DECISION = DecisionRecord.__table__.insert().returning(DecisionRecord.__table__.c.id)
_INSERT_DECISIONS = DecisionRecord.__table__.insert().returning(DecisionRecord.__table__.c.id,
                                                                DecisionRecord.__table__.c.cdr_pk)


def _decision_row(cdr_pk: int, decision: Decision, now: datetime) -> dict[str, Any]:
    rule = decision.rule or {}
    exception = decision.exception or {}
    return {
        "cdr_pk": cdr_pk, "is_current": True, "stream": decision.stream,
        "rule_id": rule.get("id"), "rule_file": rule.get("file"), "rule_line": rule.get("line"),
        "exception_reason": exception.get("reason"), "exception": decision.exception,
        "facts": decision.facts, "billing": decision.billing,
        "pricing": decision.pricing, "errors": decision.errors or None,
        "warnings": decision.warnings or None,
        "config_version": decision.config_version, "decided_at": now,
    }


def _insert_decision(session: Session, cdr_pk: int, decision: Decision, now: datetime) -> int:
    """Insert the Decision as the current one of ``cdr_pk``; its id."""
    return session.execute(_INSERT_DECISION, _decision_row(cdr_pk, decision, now)).scalar_one()


# --- many inputs at once -------------------------------------------------------------------------------

_KEY_COLUMNS = ("country_code", "party_id", "cdr_id")


def _insert_cdrs_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    table = Cdr.__table__
    return (module.insert(table).on_conflict_do_nothing(index_elements=list(_KEY_COLUMNS))
            .returning(table.c.id, table.c.country_code, table.c.party_id, table.c.cdr_id))


_INSERT_CDRS = {name: _insert_cdrs_statement(name) for name in ("postgresql", "sqlite")}



# PostgreSQL: new CDRs and their Decisions in ONE statement, whatever the number of rows: each
# column goes over as one array parameter (``unnest``), so the statement text never changes and
# psycopg prepares it once per connection (a multi-row VALUES list would be a new, long statement
# to build and parse every time), rows are inserted in input order (ids as one by one would
# assign them), and the arrays go in binary format (``%(name)b``: no per-element
# quoting - the text format escapes every quote of every JSON document in Python). JSON columns
# travel as text (what the engine's serialiser writes; None is SQL NULL, as JSONData's
# none_as_null) and are cast to jsonb. ``ON CONFLICT DO NOTHING``: a key stored already (or
# concurrently) inserts nothing and gets no Decision.
_CDR_ARRAYS = (("country_code", "text"), ("party_id", "text"), ("cdr_id", "text"), ("raw_json", "text"),
               ("normalised_json", "jsonb"), ("content_hash", "text"), ("ocpi_version", "text"), ("source", "text"),
               ("state", "text"), ("received_at", "timestamptz"))
_DECISION_ARRAYS = (("is_current", "boolean"), ("stream", "text"), ("rule_id", "text"), ("rule_file", "text"),
                    ("rule_line", "integer"), ("exception_reason", "text"), ("exception", "jsonb"), ("facts", "jsonb"),
                    ("billing", "jsonb"), ("pricing", "jsonb"), ("errors", "jsonb"), ("warnings", "jsonb"),
                    ("config_version", "text"), ("decided_at", "timestamptz"))


def _values(alias: str, columns: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    return ", ".join(f"{alias}.{prefix}{name}::jsonb" if kind == "jsonb" else f"{alias}.{prefix}{name}"
                     for name, kind in columns)


def _arrays(columns: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    return ", ".join(f"%({prefix}{name})b::{'text' if kind == 'jsonb' else kind}[]" for name, kind in columns)


def _names(columns: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    return ", ".join(prefix + name for name, _ in columns)


_INSERT_NEW_PG = (
    f"WITH new_cdr AS (INSERT INTO cdrs ({_names(_CDR_ARRAYS)}) SELECT {_values('c', _CDR_ARRAYS)} "
    f"FROM unnest({_arrays(_CDR_ARRAYS)}) WITH ORDINALITY AS c({_names(_CDR_ARRAYS)}, position) "
    "ORDER BY c.position "
    "ON CONFLICT (country_code, party_id, cdr_id) DO NOTHING RETURNING id, country_code, party_id, cdr_id), "
    f"new_decision AS (INSERT INTO decisions (cdr_pk, {_names(_DECISION_ARRAYS)}) "
    f"SELECT new_cdr.id, {_values('d', _DECISION_ARRAYS, 'd_')} FROM new_cdr JOIN unnest("
    f"%(country_code)b::text[], %(party_id)b::text[], %(cdr_id)b::text[], {_arrays(_DECISION_ARRAYS, 'd_')}) "
    f"WITH ORDINALITY AS d(country_code, party_id, cdr_id, {_names(_DECISION_ARRAYS, 'd_')}, position) "
    "ON d.country_code = new_cdr.country_code AND d.party_id = new_cdr.party_id AND d.cdr_id = new_cdr.cdr_id "
    "ORDER BY d.position RETURNING id, cdr_pk) "
    "SELECT new_cdr.id AS cdr_pk, new_cdr.country_code, new_cdr.party_id, new_cdr.cdr_id, new_decision.id "
    "FROM new_cdr JOIN new_decision ON new_decision.cdr_pk = new_cdr.id"
)


def _insert_new_pg(session: Session, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[tuple[str, str, str],
                                                                                               tuple[int, int]]:
    """Insert ``(cdr row, decision row)`` pairs (distinct keys); {key: (cdr_pk, decision id)} of
    those inserted (a key already stored is not)."""
    params: dict[str, list[Any]] = {}
    for columns, index, prefix in ((_CDR_ARRAYS, 0, ""), (_DECISION_ARRAYS, 1, "d_")):
        for name, kind in columns:
            values = [pair[index][name] for pair in rows]
            if kind == "jsonb":
                values = [None if v is None else _json_serializer(v) for v in values]
            params[prefix + name] = values
    result = session.connection().exec_driver_sql(_INSERT_NEW_PG, params)
    return {(r.country_code, r.party_id, r.cdr_id): (r.cdr_pk, r.id) for r in result}


def record_decisions(session: Session, entries: Sequence[tuple[str, Decision, dict[str, Any] | None]], *,
                     now: datetime | None = None) -> list[IngestOutcome]:
    """``record_decision`` for many inputs (``(raw text, decision, normalised)`` each) in the
    caller's transaction, with the same outcomes as calling it for each in order - but the new
    CDRs and their Decisions are written with one multi-row INSERT each (the statements of a
    batch of 500 went from ~1,000 to a handful).

    How the order is kept: the first input of each key goes into the multi-row INSERT (``ON
    CONFLICT DO NOTHING`` as before: a key already stored, or stored concurrently, is simply not
    inserted); every input that was not inserted - a key stored before, a second input with a
    key seen earlier in the batch, an input without a usable key - is then recorded one by one
    in input order exactly as ``record_decision`` does (duplicate / conflict / rejected input),
    so it sees the rows this batch stored. Rows are inserted in input order and the exceptions
    opened in input order, so ids come out as they would one by one (document numbers issued
    later follow them)."""
    if len(entries) == 1:
        raw, decision, normalised = entries[0]
        return [record_decision(session, raw, decision, normalised=normalised, now=now)]
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERT_CDRS:
        raise NotImplementedError(f"cdrflow supports SQLite and PostgreSQL, not {dialect}")
    outcomes: list[IngestOutcome | None] = [None] * len(entries)
    digests = [content_hash(raw) for raw, _, _ in entries]
    first: dict[tuple[str, str, str], int] = {}
    for index, (_, decision, _) in enumerate(entries):
        key = _usable_key(decision.key)
        if key is not None and key not in first:
            first[key] = index
    stored: dict[tuple[str, str, str], tuple[int, int]] = {}
    if first:
        rows = []
        for key, index in first.items():  # input order: ids are assigned as one by one would
            raw, decision, normalised = entries[index]
            rows.append(_cdr_row(key, raw, digests[index], decision, normalised, state_of(decision), now))
        if dialect == "postgresql":
            stored = _insert_new_pg(session, [(row, _decision_row(0, entries[first[(row["country_code"],
                                     row["party_id"], row["cdr_id"])]][1], now)) for row in rows])
        else:
            cdr_pks = {(r.country_code, r.party_id, r.cdr_id): r.id
                       for r in session.execute(_INSERT_CDRS[dialect], rows)}
            if cdr_pks:
                decision_ids = {r.cdr_pk: r.id for r in session.execute(_INSERT_DECISIONS, [
                    _decision_row(cdr_pks[key], entries[index][1], now) for key, index in first.items()
                    if key in cdr_pks])}
                stored = {key: (cdr_pk, decision_ids[cdr_pk]) for key, cdr_pk in cdr_pks.items()}
    # then everything else in input order, as one by one would (exception ids in the same order)
    for index, (raw, decision, normalised) in enumerate(entries):
        key = _usable_key(decision.key)
        if key is None:
            outcomes[index] = _record_rejected_input(session, raw, digests[index], decision, now)
        elif first.get(key) == index and key in stored:
            cdr_pk, decision_id = stored[key]
            outcomes[index] = _recorded_new(session, key, cdr_pk, decision_id, decision, state_of(decision), now)
        else:
            outcomes[index] = _record_resend(session, key, raw, digests[index], decision, now)
    return outcomes  # type: ignore[return-value]


def replace_decision(session: Session, cdr_pk: int, decision: Decision, *, now: datetime | None = None) -> int:
    """Make ``decision`` the current one for a stored CDR, keeping the old one as history
    (what a replay does). The CDR row is locked so two replays cannot both become current."""
    now = now or utcnow()
    session.execute(for_update(session, select(Cdr.id).where(Cdr.id == cdr_pk))).scalar_one()
    session.execute(update(DecisionRecord).where(DecisionRecord.cdr_pk == cdr_pk, DecisionRecord.is_current)
                    .values(is_current=False))
    decision_id = _insert_decision(session, cdr_pk, decision, now)
    session.execute(update(Cdr).where(Cdr.id == cdr_pk).values(state=state_of(decision)))
    return decision_id


def _insert_cdr_and_decision_statement() -> Any:
    """PostgreSQL, one CDR: ``WITH new_cdr AS (INSERT INTO cdrs ... ON CONFLICT DO NOTHING
    RETURNING id) INSERT INTO decisions SELECT new_cdr.id, ... FROM new_cdr RETURNING id, cdr_pk``."""
    cdrs, decisions = Cdr.__table__, DecisionRecord.__table__
    new_cdr = (postgresql.insert(cdrs)
               .values({name: bindparam(name, type_=cdrs.c[name].type) for name, _ in _CDR_ARRAYS})
               .on_conflict_do_nothing(index_elements=list(_KEY_COLUMNS))
               .returning(cdrs.c.id).cte("new_cdr"))
    values = select(new_cdr.c.id, *[bindparam("d_" + name, type_=decisions.c[name].type)
                                    for name, _ in _DECISION_ARRAYS])
    return (decisions.insert().from_select(["cdr_pk", *[name for name, _ in _DECISION_ARRAYS]], values)
            .returning(decisions.c.id, decisions.c.cdr_pk))


_INSERT_CDR_AND_DECISION = _insert_cdr_and_decision_statement()


# A stored CDR's key columns and its current Decision in one round trip (the duplicate path of
# every re-run); the raw and normalised JSON are not needed for that and are not loaded.
_cdrs, _decisions = Cdr.__table__, DecisionRecord.__table__
_STORED = (
    select(_cdrs.c.id.label("cdr_pk"), _cdrs.c.country_code, _cdrs.c.party_id, _cdrs.c.cdr_id,
           _cdrs.c.content_hash, _cdrs.c.source, _cdrs.c.ocpi_version,
           *[c for c in _decisions.c if c.name not in ("id", "cdr_pk", "is_current", "decided_at")])
    .select_from(_cdrs.outerjoin(_decisions, (_decisions.c.cdr_pk == _cdrs.c.id) & _decisions.c.is_current))
    .where(_cdrs.c.country_code == bindparam("country_code"), _cdrs.c.party_id == bindparam("party_id"),
           _cdrs.c.cdr_id == bindparam("cdr_id"))
)


def _decision_from_row(row: Any) -> Decision | None:
    """Rebuild a Decision from a row holding the CDR's key columns and the decision columns;
    its ``to_json()`` equals the original's."""
    if row.config_version is None:  # no current decision (never the case after record_decision)
        return None
    rule = None
    if row.rule_id is not None:
        rule = {"id": row.rule_id, "file": row.rule_file, "line": row.rule_line}
    return Decision(
        cdr_id=row.cdr_id, config_version=row.config_version,
        key=(row.country_code, row.party_id, row.cdr_id), source=row.source, ocpi_version=row.ocpi_version,
        stream=row.stream, rule=rule, facts=row.facts or {}, billing=row.billing or {},
        pricing=row.pricing, errors=row.errors or [], warnings=row.warnings or [],
        exception=row.exception,
    )


def get_cdr(session: Session, key: tuple[str, str, str]) -> Cdr | None:
    return session.execute(select(Cdr).where(Cdr.country_code == key[0], Cdr.party_id == key[1],
                                             Cdr.cdr_id == key[2])).scalar_one_or_none()


def current_decision(session: Session, key: tuple[str, str, str]) -> Decision | None:
    """The current Decision for the CDR with ``key`` (None if it is not stored)."""
    row = session.execute(_STORED, {"country_code": key[0], "party_id": key[1], "cdr_id": key[2]}).one_or_none()
    return _decision_from_row(row) if row is not None else None
