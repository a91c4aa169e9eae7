"""Ingest: raw items -> pure pipeline -> Decisions -> the store, in batches.

The pure pipeline decides; this shell only records. Batches of ``batch_size`` items are
committed together (one transaction each), so a crash loses at most the batch in flight, and a
re-run of the same input finds every committed item already stored and changes nothing: ingest
is resumable by being idempotent (see ``engine.store.cdrs.record_decision``).

Concurrency: several ingesters may run over overlapping input. On PostgreSQL two batches that
insert the same keys in different orders can deadlock; the database aborts one, and its batch
is simply recorded again (the other's rows then read as duplicates). SQLite reports "database
is locked" after its busy timeout; handled the same way. A batch that keeps failing for any
other reason is recorded item by item, and an item that cannot be stored at all is kept as a
rejected input (STORE_FAILED) - nothing is dropped, and one bad item does not stop the rest.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from engine.decision import Decision
from engine.store.canonical import canonical_json
from engine.service.waiting import park
from engine.store.cdrs import OUTCOMES, IngestOutcome, record_decision

log = logging.getLogger(__name__)

MAX_RETRIES = 5
# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


class PipelineLike(Protocol):
    def decide_item(self, item: Any) -> Decision: ...


@dataclass
class IngestSummary:
    """What an ingest run did. ``outcomes`` sum to ``received``; ``streams`` counts the CDRs newly
    classified per stream, ``exceptions`` the exception records opened, per reason."""

    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    streams: Counter[str] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    retries: int = 0

    @property
    def new(self) -> int:
        return self.outcomes["new"]

    @property
    def duplicates(self) -> int:
        return self.outcomes["duplicate"]

    @property
    def conflicts(self) -> int:
        return self.outcomes["conflict"]

    @property
    def rejected(self) -> int:
        return self.outcomes["rejected"]

    def add(self, outcome: IngestOutcome) -> None:
        self.outcomes[outcome.outcome] += 1
        if outcome.outcome == "new" and outcome.stream:
            self.streams[outcome.stream] += 1
        if outcome.exception_reason:
            self.exceptions[outcome.exception_reason] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            **{name: self.outcomes[name] for name in OUTCOMES},
            "streams": dict(sorted(self.streams.items())),
            "exceptions": dict(sorted(self.exceptions.items())),
        }


@dataclass(frozen=True)
class _Pending:
    raw: str
    decision: Decision
    normalised: dict[str, Any] | None


def raw_text(item: Any) -> str:
    """The item's text exactly as received, if the reader kept it; else the canonical JSON of
    the parsed value (same content hash either way)."""
    for attr in ("raw", "text", "raw_text"):
        value = getattr(item, attr, None)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, str):
            return value
    data = getattr(item, "data", None)
    if data is not None:
        return canonical_json(data)
    # Unreadable and no text kept: at least keep where it came from (distinct per source).
    return canonical_json({"unreadable_input": getattr(item, "source", None)})


def normalised_cdr(pipeline: Any, item: Any, decision: Decision) -> dict[str, Any] | None:
    """The normalised (2.2.1) CDR to store beside the raw one, or None for invalid input."""
    carried = getattr(decision, "cdr", None)
    if carried is not None:
        return carried
    if decision.errors or decision.key is None or getattr(item, "data", None) is None:
        return None
    normalise = getattr(pipeline, "normalise", None)
    if normalise is not None:
        return normalise(item.data)
    # The Decision does not carry the normalised CDR, so intake runs once more here (pure, cheap).
    from engine import intake

    return intake.accept(item.data, default_party=getattr(pipeline, "default_party", None)).cdr


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):  # a race the ON CONFLICT clauses did not cover: re-read
        return True
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


def _store_failed(session: Session, pending: _Pending, error: Exception) -> IngestOutcome:
    problem = {"path": "", "code": "STORE_FAILED", "message": f"could not be stored: {type(error).__name__}: "
               + str(getattr(error, "orig", error)).splitlines()[0][:500]}
    failed = Decision(cdr_id=pending.decision.cdr_id, config_version=pending.decision.config_version,
                      key=None, source=pending.decision.source, errors=[problem] + list(pending.decision.errors))
    return record_decision(session, pending.raw, failed)


class _Recorder:
    def __init__(self, session_factory: Callable[[], Session], summary: IngestSummary, max_retries: int):
        self.session_factory = session_factory
        self.summary = summary
        self.max_retries = max_retries

    def flush(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        for attempt in range(self.max_retries + 1):
            try:
                outcomes = self._record(batch)
                break
            except DBAPIError as exc:
                if not _retryable(exc) or attempt == self.max_retries:
                    log.warning("batch of %d failed (%s); recording item by item", len(batch), exc.orig)
                    outcomes = self._record_one_by_one(batch)
                    break
                self.summary.retries += 1
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
        self.summary.batches += 1
        for outcome in outcomes:
            self.summary.add(outcome)

    def _record(self, batch: list[_Pending]) -> list[IngestOutcome]:
        with self.session_factory() as session:
            outcomes = [park(session, record_decision(session, p.raw, p.decision, normalised=p.normalised))
                        for p in batch]
            session.commit()
            return outcomes

    def _record_one_by_one(self, batch: list[_Pending]) -> list[IngestOutcome]:
        outcomes = []
        with self.session_factory() as session:
            for pending in batch:
                try:
                    with session.begin_nested():
                        outcomes.append(park(session, record_decision(session, pending.raw, pending.decision,
                                                                      normalised=pending.normalised)))
                except DBAPIError as exc:
                    with session.begin_nested():
                        outcomes.append(_store_failed(session, pending, exc))
            session.commit()
        return outcomes


def ingest(items: Iterable[Any], pipeline: PipelineLike, session_factory: Callable[[], Session],
           batch_size: int = 500, *, max_retries: int = MAX_RETRIES) -> IngestSummary:
    """Decide every item with the pure ``pipeline`` and record it; commit every ``batch_size``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    summary = IngestSummary()
    recorder = _Recorder(session_factory, summary, max_retries)
    batch: list[_Pending] = []
    for item in items:
        decision = pipeline.decide_item(item)
        batch.append(_Pending(raw_text(item), decision, normalised_cdr(pipeline, item, decision)))
        summary.received += 1
        if len(batch) >= batch_size:
            recorder.flush(batch)
            batch = []
    recorder.flush(batch)
    return summary
