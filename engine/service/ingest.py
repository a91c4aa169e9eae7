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

``decide_items`` and ``record_items`` are the two halves, shared with the HTTP API
(``engine.http.cdrs``): a batch is decided with its reference lookups in one session (PSP
transactions and customers read once per batch, ``DbSource.sharing``) and recorded with
multi-row INSERTs (``engine.store.cdrs.record_decisions``) in one transaction.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol, Sequence

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from engine.decision import Decision
from engine.store.canonical import canonical_json, canonical_json_of_parsed
from engine.service.waiting import WaitingPolicy, park
from engine.store.cdrs import NEW, OUTCOMES, REJECTED, IngestOutcome, record_decision, record_decisions, state_of
from engine.store.models import Cdr

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
class Pending:
    """One decided input, ready to record."""

    raw: str
    decision: Decision
    normalised: dict[str, Any] | None


_Pending = Pending  # the old name


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
        return canonical_json_of_parsed(data)
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


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Recorded:
    """What ``record_items`` did with one input."""

    outcome: IngestOutcome
    decision: Decision       # the Decision handed to the store (a STORE_FAILED one if it came to that)
    state: str | None = None  # the stored CDR's state after the transaction (``with_states``; None: no CDR row)


def _store_failed(session: Session, pending: Pending, error: Exception, *, with_exception: bool) -> Recorded:
    """Keep an item the database refused as a rejected input with the reason."""
    problem = {"path": "", "code": "STORE_FAILED",
               "message": f"could not be stored: {type(error).__name__}: {_first_line(error)[:500]}"}
    failed = Decision(cdr_id=pending.decision.cdr_id, config_version=pending.decision.config_version,
                      key=None, source=pending.decision.source, errors=[problem] + list(pending.decision.errors),
                      exception={"reason": "INVALID_CDR", "description": problem["message"]} if with_exception
                      else None)
    return Recorded(record_decision(session, pending.raw, failed), failed)


def _record_together(session: Session, batch: Sequence[Pending], policy: Any) -> list[Recorded]:
    outcomes = record_decisions(session, [(p.raw, p.decision, p.normalised) for p in batch])
    return [Recorded(park(session, outcome, policy=policy), p.decision) for outcome, p in zip(outcomes, batch)]


def _record_one_by_one(session: Session, batch: Sequence[Pending], policy: Any, *,
                       failed_exception: bool) -> list[Recorded]:
    recorded = []
    for pending in batch:
        try:
            with session.begin_nested():
                recorded.extend(_record_together(session, [pending], policy))
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            with session.begin_nested():
                recorded.append(_store_failed(session, pending, exc, with_exception=failed_exception))
    return recorded


def _with_states(session: Session, recorded: list[Recorded], policy: Any = None) -> list[Recorded]:
    # A CDR this transaction just stored is in the state its Decision puts it in (state_of) -
    # unless ``park`` parked it ("waiting"); nobody else can have changed an uncommitted row, so
    # it need not be read back. Anything else (possibly parked, resent) is read.
    policy = policy if policy is not None else WaitingPolicy.from_env()
    states = {r.outcome.cdr_pk: state_of(r.outcome.decision) for r in recorded
              if r.outcome.outcome in (NEW, REJECTED) and r.outcome.decision is not None
              and r.outcome.cdr_pk is not None and not policy.parks(r.outcome.decision)}
    pks = {r.outcome.cdr_pk for r in recorded if r.outcome.cdr_pk is not None} - states.keys()
    if pks:
        states.update(session.execute(select(Cdr.id, Cdr.state).where(Cdr.id.in_(pks))).all())
    return [replace(r, state=states.get(r.outcome.cdr_pk)) for r in recorded]


def record_items(session_factory: Callable[[], Session], batch: Sequence[Pending], *, policy: Any = None,
                 session: Session | None = None, max_retries: int = MAX_RETRIES, give_up: bool = False,
                 failed_exception: bool = False, with_states: bool = False,
                 summary: IngestSummary | None = None, label: str = "") -> list[Recorded]:
    """Record ``batch`` in one transaction and commit - the write path of ``cdrflow ingest`` and
    of the HTTP API alike. New CDRs and their Decisions go in with multi-row INSERTs
    (``engine.store.cdrs.record_decisions``); a new CDR waiting for its PSP transaction is parked
    (``engine.service.waiting.park``).

    Deadlocks, lock timeouts and lost races are retried (``max_retries`` times, backing off); if
    they persist, ``give_up`` re-raises, else the batch is recorded one by one like any other
    failure: an item at a time (savepoints), an item the database cannot hold kept as a rejected
    input (STORE_FAILED; with ``failed_exception`` its Decision carries the INVALID_CDR exception)
    - still one commit. With ``give_up`` a lost connection is re-raised at once too (the API
    answers 503 and the sender retries).

    ``session``: record in this session (the caller's, e.g. the one the CDRs were decided in);
    it is rolled back between attempts. Otherwise a new session per attempt. ``with_states``
    fills ``Recorded.state``; ``summary.retries`` counts the retries."""
    if not batch:
        return []
    for attempt in range(max_retries + 1):
        current = session if session is not None else session_factory()
        try:
            recorded = _record_together(current, batch, policy)
            if with_states:
                recorded = _with_states(current, recorded, policy)
            current.commit()
            return recorded
        except DBAPIError as exc:
            current.rollback()
            if exc.connection_invalidated and give_up:
                raise
            if not _retryable(exc) or attempt == max_retries:
                if _retryable(exc) and give_up:
                    raise
                log.warning("%srecording %d CDR(s) together failed (%s); recording one by one",
                            label, len(batch), _first_line(exc))
                break
            if summary is not None:
                summary.retries += 1
            time.sleep(min(0.05 * 2 ** attempt, 1.0 if give_up else 2.0))
        finally:
            if session is None:
                current.close()
    current = session if session is not None else session_factory()
    try:
        recorded = _record_one_by_one(current, batch, policy, failed_exception=failed_exception)
        if with_states:
            recorded = _with_states(current, recorded, policy)
        current.commit()
        return recorded
    except BaseException:
        current.rollback()
        raise
    finally:
        if session is None:
            current.close()


class _Recorder:
    def __init__(self, session_factory: Callable[[], Session], summary: IngestSummary, max_retries: int):
        self.session_factory = session_factory
        self.summary = summary
        self.max_retries = max_retries

    def flush(self, batch: list[Pending]) -> None:
        if not batch:
            return
        recorded = record_items(self.session_factory, batch, max_retries=self.max_retries, summary=self.summary)
        self.summary.batches += 1
        for r in recorded:
            self.summary.add(r.outcome)


def ingest(items: Iterable[Any], pipeline: PipelineLike, session_factory: Callable[[], Session],
           batch_size: int = 500, *, max_retries: int = MAX_RETRIES) -> IngestSummary:
    """Decide every item with the pure ``pipeline`` and record it; commit every ``batch_size``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    summary = IngestSummary()
    recorder = _Recorder(session_factory, summary, max_retries)
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        summary.received += 1
        if len(batch) >= batch_size:
            recorder.flush(decide_items(pipeline, batch))
            batch = []
    recorder.flush(decide_items(pipeline, batch))
    return summary


def _lookup_keys(item: Any) -> Any:
    """What the batch prefetch reads of an item: its parsed JSON, or for a line read straight
    into Structs (engine/intake/cdrline.py) those fields from the Structs, so that the line is
    not parsed a second time. (``sharing`` reads them only on PostgreSQL: hence the lazy map.)"""
    line = getattr(item, "cdr_line", None)
    return line.lookup_keys() if line is not None else getattr(item, "data", None)


def decide_items(pipeline: PipelineLike, items: Sequence[Any], session: Session | None = None) -> list[Pending]:
    """Decide ``items`` with the pure ``pipeline``. When its source can share one session for a
    batch (``DbSource.sharing``: PostgreSQL), the reference lookups of the batch go through one
    session (``session``, else one of its own) and the PSP transactions and customers the items
    refer to are read with one query each up front."""
    if not items:
        return []
    sharing = getattr(getattr(pipeline, "source", None), "sharing", None)
    scope = (sharing(session, map(_lookup_keys, items), own_parties=getattr(pipeline, "own_parties", None))
             if sharing is not None else nullcontext())
    pending = []
    with scope:
        for item in items:
            decision = pipeline.decide_item(item)
            pending.append(Pending(raw_text(item), decision, normalised_cdr(pipeline, item, decision)))
    return pending
