"""The exception queue: CDRs (and inputs) that cannot be billed until someone looks at them.

"No session goes uncharged" depends on this table: whatever ingest cannot place - an invalid
CDR, no matching rule, a resend that contradicts the stored CDR - opens a record here with a
stable reason code and structured detail. ``dedup_key`` makes opening the same exception again
a no-op, so re-running an ingest never grows the queue.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.store._sql import insert_ignore, utcnow
from engine.store.models import ExceptionRecord

DUPLICATE_ID_CONFLICT = "DUPLICATE_ID_CONFLICT"
INVALID_CDR = "INVALID_CDR"


def open_exception(session: Session, reason: str, *, dedup_key: str, detail: dict[str, Any] | None = None,
                   cdr_pk: int | None = None, decision_id: int | None = None,
                   rejected_input_id: int | None = None, now: datetime | None = None) -> tuple[int, bool]:
    """Open an exception unless one with ``dedup_key`` exists: (its id, whether it is new)."""
    new_id = insert_ignore(session, ExceptionRecord, {
        "dedup_key": dedup_key, "reason": reason, "detail": detail, "status": "open",
        "cdr_pk": cdr_pk, "decision_id": decision_id, "rejected_input_id": rejected_input_id,
        "created_at": now or utcnow(), "resolved_at": None,
    }, ["dedup_key"])
    if new_id is not None:
        return new_id, True
    existing = session.execute(select(ExceptionRecord.id).where(ExceptionRecord.dedup_key == dedup_key)).scalar_one()
    return existing, False


def close_exception(session: Session, exception_id: int, status: str = "resolved", *,
                    now: datetime | None = None) -> bool:
    """Mark an open exception ``resolved`` or ``replayed``; False if it was not open."""
    if status not in ("resolved", "replayed"):
        raise ValueError(f"an exception is closed as resolved or replayed, not {status!r}")
    result = session.execute(update(ExceptionRecord)
                             .where(ExceptionRecord.id == exception_id, ExceptionRecord.status == "open")
                             .values(status=status, resolved_at=now or utcnow()))
    return result.rowcount == 1


def open_by_reason(session: Session) -> Counter[str]:
    """How many exceptions are open, per reason code."""
    rows = session.execute(select(ExceptionRecord.reason, func.count())
                           .where(ExceptionRecord.status == "open").group_by(ExceptionRecord.reason))
    return Counter({reason: count for reason, count in rows})
