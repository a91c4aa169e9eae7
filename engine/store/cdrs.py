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
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.decision import Decision
from engine.jsonable import to_jsonable
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.canonical import content_hash
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
    cdr_pk = insert_ignore(session, Cdr, {
        "country_code": key[0], "party_id": key[1], "cdr_id": key[2],
        "raw_json": item_raw_text, "normalised_json": to_jsonable(normalised) if normalised is not None else None,
        "content_hash": digest, "ocpi_version": decision.ocpi_version, "source": decision.source,
        "state": state, "received_at": now,
    }, ["country_code", "party_id", "cdr_id"])

    if cdr_pk is None:
        return _record_resend(session, key, item_raw_text, digest, decision, now)

    decision_id = _insert_decision(session, cdr_pk, decision, now)
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


def _insert_decision(session: Session, cdr_pk: int, decision: Decision, now: datetime) -> int:
    """Insert the Decision as the current one of ``cdr_pk``; its id."""
    rule = decision.rule or {}
    exception = decision.exception or {}
    return session.execute(_INSERT_DECISION, {
        "cdr_pk": cdr_pk, "is_current": True, "stream": decision.stream,
        "rule_id": rule.get("id"), "rule_file": rule.get("file"), "rule_line": rule.get("line"),
        "exception_reason": exception.get("reason"), "exception": to_jsonable(decision.exception),
        "facts": to_jsonable(decision.facts), "billing": to_jsonable(decision.billing),
        "pricing": to_jsonable(decision.pricing), "errors": to_jsonable(decision.errors) or None,
        "warnings": to_jsonable(decision.warnings) or None,
        "config_version": decision.config_version, "decided_at": now,
    }).scalar_one()


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
