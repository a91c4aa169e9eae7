"""Ad-hoc CDRs waiting for their PSP transaction (the two may arrive in either order).

The CPMS sends the CDR when the session ends; the PSP's webhook for the payment may come a
little earlier or a little later. A CDR decided without its transaction (exception reason in
``WaitingPolicy.reasons``, default ``AD_HOC_NO_PSP_TRANSACTION``) is therefore not sent to the
exception queue at once but *parked*:

::

    ingest: record_decision ──► park()
        reason in policy.reasons and deadline in the future ──► WAITING
            cdrs.state = "waiting", a waiting_cdrs row (deadline = end_date_time + policy.wait),
            NO exception (the one record_decision opened in this transaction is withdrawn)
        otherwise ──► unchanged (classified, or exception as decided)

    WAITING ── release(tx): a PSP transaction arrives whose authorization_reference or
               session_id matches ──► the CDR is decided again (its facts now see tx); the new
               Decision replaces the current one (the old one stays as history):
        a stream (adhoc) ──► RELEASED, cdrs.state = "classified"
        another exception (e.g. AD_HOC_PAYMENT_FAILED) ──► RELEASED, exception opened
        still a waiting reason ──► stays WAITING (same reason: nothing written)

    WAITING ── expire(now): deadline <= now ──► EXPIRED, cdrs.state = "exception",
               exception AD_HOC_NO_PSP_TRANSACTION opened ("waited until ...")

    EXPIRED with its exception still open ── release(tx) ──► decided again as above; when it
               no longer is a waiting reason the exception is closed as "replayed" (RELEASED)

``sweep`` releases waiting CDRs whose transaction is stored already (a CDR decided while its
transaction was being stored concurrently; ``cdrflow work`` runs it every round).

Every step is idempotent: a second ``release`` with the same transaction finds nothing waiting,
a second ``expire`` finds nothing due, and a resent CDR is a duplicate that ``park`` ignores.
Rows are locked (PostgreSQL ``FOR UPDATE``; ``expire`` skips rows a release holds) so a release
and an expiry racing for one CDR cannot both win. The caller owns the transaction.

``release`` re-decides with the caller's pure ``Pipeline``; it re-binds a ``DbSource`` to the
caller's session (so it sees the transaction upserted but not yet committed) and layers the
arriving transaction over whatever source the pipeline has, so the facts lookup finds it
whichever source the application uses.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from engine.decision import Decision
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.canonical import parse
from engine.store.cdrs import IngestOutcome, NEW, replace_decision, state_of
from engine.store.exceptions import INVALID_CDR, close_exception, open_exception
from engine.store.models import Cdr, DecisionRecord, ExceptionRecord
from engine.store.reference_models import WaitingCdr

AD_HOC_NO_PSP_TRANSACTION = "AD_HOC_NO_PSP_TRANSACTION"
DEFAULT_REASONS = frozenset({AD_HOC_NO_PSP_TRANSACTION})
DEFAULT_WAIT = timedelta(hours=24)
ENV_REASONS = "CDRFLOW_WAIT_REASONS"        # comma-separated exception reasons that park a CDR
ENV_WAIT_HOURS = "CDRFLOW_WAIT_HOURS"       # hours after the CDR's end time (decimals allowed)

Key = tuple[str, str, str]
OnDecision = Callable[[Session, int, Decision, int], None]


@dataclass(frozen=True)
class WaitingPolicy:
    """Which exception reasons park a CDR, and for how long after its end time."""

    reasons: frozenset[str] = DEFAULT_REASONS
    wait: timedelta = DEFAULT_WAIT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "WaitingPolicy":
        env = os.environ if environ is None else environ
        reasons = DEFAULT_REASONS
        if env.get(ENV_REASONS, "").strip():
            reasons = frozenset(r.strip() for r in env[ENV_REASONS].split(",") if r.strip())
        wait = DEFAULT_WAIT
        if env.get(ENV_WAIT_HOURS, "").strip():
            hours = float(env[ENV_WAIT_HOURS])
            if hours < 0:
                raise ValueError(f"{ENV_WAIT_HOURS} must not be negative")
            wait = timedelta(hours=hours)
        return cls(reasons=reasons, wait=wait)

    def parks(self, decision: Decision | None) -> bool:
        """True when ``decision`` is one to wait on (an exception with a waiting reason)."""
        return (decision is not None and not decision.errors and not decision.stream
                and (decision.exception or {}).get("reason") in self.reasons)

    def deadline(self, cdr: Mapping[str, Any] | None, fallback: datetime) -> datetime:
        """``end_date_time`` (else ``start_date_time``, else ``fallback``) plus ``wait``."""
        for name in ("end_date_time", "start_date_time"):
            moment = _instant((cdr or {}).get(name))
            if moment is not None:
                return moment + self.wait
        return fallback + self.wait


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def _policy(policy: WaitingPolicy | None) -> WaitingPolicy:
    return policy if policy is not None else WaitingPolicy.from_env()


# --- park ------------------------------------------------------------------------------------------


def park(session: Session, outcome: IngestOutcome | Decision, *, cdr_pk: int | None = None,
         now: datetime | None = None, policy: WaitingPolicy | None = None) -> IngestOutcome | Decision:
    """Park a freshly recorded CDR whose Decision waits for its PSP transaction.

    Call it right after ``record_decision`` in the same transaction::

        outcome = park(session, record_decision(session, raw, decision, normalised=normalised))

    Returns the outcome, for a parked CDR with ``exception_id``/``exception_reason`` cleared (the
    exception record_decision opened is withdrawn - it never becomes visible). Anything that is
    not a new CDR with a waiting reason (duplicates, conflicts, rejected, classified) is returned
    untouched, as is a CDR whose deadline has already passed (it stays in the exception queue).
    A bare ``Decision`` may be passed with ``cdr_pk`` (it is then returned as given).
    """
    if isinstance(outcome, IngestOutcome):
        decision, cdr_pk, exception_id = outcome.decision, outcome.cdr_pk, outcome.exception_id
        if outcome.outcome != NEW:
            return outcome
    else:
        decision, exception_id = outcome, None
    if cdr_pk is None or decision is None or not decision.exception:   # the common case: nothing to do
        return outcome
    policy = _policy(policy)
    if not policy.parks(decision):
        return outcome
    now = now or utcnow()
    assert decision is not None
    cdr = decision.cdr
    if cdr is None:
        cdr = session.execute(select(Cdr.normalised_json).where(Cdr.id == cdr_pk)).scalar_one_or_none()
    deadline = policy.deadline(cdr, now)
    if deadline <= now:
        return outcome
    decision_id = session.execute(select(DecisionRecord.id).where(DecisionRecord.cdr_pk == cdr_pk,
                                                                  DecisionRecord.is_current)).scalar_one()
    if exception_id is None:  # a bare Decision: the exception record_decision opened for it, if any
        exception_id = session.execute(select(ExceptionRecord.id).where(
            ExceptionRecord.dedup_key == f"decision:{decision_id}")).scalar_one_or_none()
    if exception_id is not None:
        session.execute(delete(ExceptionRecord).where(ExceptionRecord.id == exception_id,
                                                      ExceptionRecord.status == "open"))
    session.execute(update(Cdr).where(Cdr.id == cdr_pk).values(state="waiting"))
    reason = decision.exception["reason"]  # type: ignore[index]
    values = {
        "cdr_pk": cdr_pk, "decision_id": decision_id, "reason": reason,
        "authorization_reference": _text((cdr or {}).get("authorization_reference")),
        "session_id": _text((cdr or {}).get("session_id")),
        "status": "waiting", "deadline": deadline, "parked_at": now, "resolved_at": None, "exception_id": None,
    }
    if insert_ignore(session, WaitingCdr, values, ["cdr_pk"]) is None:  # parked before: wait again
        session.execute(update(WaitingCdr).where(WaitingCdr.cdr_pk == cdr_pk).values(**values))
    if isinstance(outcome, IngestOutcome):
        return replace(outcome, exception_id=None, exception_reason=None)
    return outcome


def _text(value: Any) -> str | None:
    return str(value)[:255] if value not in (None, "") else None


# --- release ---------------------------------------------------------------------------------------


class _WithTransaction:
    """A FactSource that also knows one PSP transaction (the one that just arrived)."""

    def __init__(self, base: Any, transaction: Mapping[str, Any]):
        self.base = base
        self.transaction = dict(transaction)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def psp_transaction(self, authorization_reference: str | None, session_id: str | None) -> dict[str, Any] | None:
        tx = self.transaction
        if authorization_reference:
            if tx.get("authorization_reference") == authorization_reference:
                return dict(tx)
            found = self.base.psp_transaction(authorization_reference, None) if self.base is not None else None
            if found:
                return found
        if session_id:
            if tx.get("session_id") == session_id:
                return dict(tx)
            return self.base.psp_transaction(None, session_id) if self.base is not None else None
        return None


def _scoped(pipeline: Any, session: Session, transaction: Mapping[str, Any]) -> Any:
    """The pipeline with its source bound to ``session`` and aware of ``transaction``."""
    if not hasattr(pipeline, "source"):
        return pipeline
    source = pipeline.source
    bound = getattr(source, "bound", None)
    if callable(bound):
        source = bound(session)
    scoped = copy.copy(pipeline)
    scoped.source = _WithTransaction(source, transaction)
    return scoped


def release(session: Session, pipeline: Any, transaction: Mapping[str, Any], *, now: datetime | None = None,
            policy: WaitingPolicy | None = None, on_decision: OnDecision | None = None) -> list[Key]:
    """Decide again the CDRs waiting for ``transaction`` (a normalised psp_transactions record);
    the keys of those released (see the module docstring).

    ``on_decision(session, cdr_pk, decision, decision_id)`` is called for each released CDR after
    its Decision is stored - the hook for whatever ingest does with a new Decision (routing to the
    stream, outbox). Expired CDRs whose exception is still open are released too (their exception
    is closed as replayed)."""
    policy = _policy(policy)
    now = now or utcnow()
    auth, sid = transaction.get("authorization_reference"), transaction.get("session_id")
    matches = []
    if auth:
        matches.append(WaitingCdr.authorization_reference == str(auth))
    if sid:
        matches.append(WaitingCdr.session_id == str(sid))
    if not matches:
        return []
    rows = session.execute(for_update(session, (
        select(WaitingCdr, Cdr.country_code, Cdr.party_id, Cdr.cdr_id, Cdr.raw_json, Cdr.source)
        .join(Cdr, Cdr.id == WaitingCdr.cdr_pk)
        .where(or_(*matches),
               WaitingCdr.status.in_(("waiting", "expired")))
        .order_by(WaitingCdr.id)))).all()
    if not rows:
        return []
    scoped = _scoped(pipeline, session, transaction)
    released: list[Key] = []
    for waiting, country, party, cdr_id, raw, source in rows:
        if waiting.status == "expired" and not _still_open(session, waiting.exception_id):
            continue
        decision = _decide_again(scoped, raw, source)
        key = (country, party, cdr_id)
        if policy.parks(decision):
            new_reason = decision.exception["reason"]  # type: ignore[index]
            if waiting.status == "waiting" and new_reason != waiting.reason:
                decision_id = replace_decision(session, waiting.cdr_pk, decision, now=now)
                session.execute(update(Cdr).where(Cdr.id == waiting.cdr_pk).values(state="waiting"))
                waiting.reason, waiting.decision_id = new_reason, decision_id
            continue
        decision_id = replace_decision(session, waiting.cdr_pk, decision, now=now)
        exception_id = _open_for(session, waiting.cdr_pk, decision, decision_id, key, now)
        if waiting.status == "expired" and waiting.exception_id is not None:
            close_exception(session, waiting.exception_id, "replayed", now=now)
        waiting.status, waiting.resolved_at = "released", now
        if exception_id is not None:
            waiting.exception_id = exception_id
        session.flush()
        if on_decision is not None:
            on_decision(session, waiting.cdr_pk, decision, decision_id)
        released.append(key)
    session.flush()
    return released


def release_all(session: Session, pipeline: Any, transactions: Iterable[Mapping[str, Any]], **kwargs: Any) -> list[Key]:
    """``release`` for each transaction; the keys released (each once, in order)."""
    keys: list[Key] = []
    for tx in transactions:
        keys += [k for k in release(session, pipeline, tx, **kwargs) if k not in keys]
    return keys


def sweep(session: Session, pipeline: Any, *, now: datetime | None = None, policy: WaitingPolicy | None = None,
          limit: int | None = None) -> list[Key]:
    """Release the waiting CDRs whose PSP transaction is already stored; their keys.

    Closes the one gap ``release`` leaves: a CDR decided (without its transaction) while the
    transaction was being stored and released in a concurrent request, and parked after that
    release looked - neither saw the other. ``cdrflow work`` runs it every round; it also
    catches transactions stored without a release (``cdrflow load --no-release``)."""
    from engine.store.reference import SPECS, record_from_row
    from engine.store.reference_models import PspTransaction

    psp = PspTransaction.__table__
    matching = ((psp.c.authorization_reference == WaitingCdr.authorization_reference)
                | (psp.c.session_id == WaitingCdr.session_id))
    ids = select(psp.c.id).join(WaitingCdr, matching).where(WaitingCdr.status == "waiting")
    stmt = select(psp).where(psp.c.id.in_(ids)).order_by(psp.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    transactions = [record_from_row(SPECS["psp_transactions"], row) for row in session.execute(stmt)]
    return release_all(session, pipeline, transactions, now=now, policy=policy)


def _still_open(session: Session, exception_id: int | None) -> bool:
    if exception_id is None:
        return False
    return session.execute(select(ExceptionRecord.status).where(ExceptionRecord.id == exception_id)
                           ).scalar_one_or_none() == "open"


def _decide_again(pipeline: Any, raw: str, source: str | None) -> Decision:
    from engine.intake import RawItem

    return pipeline.decide_item(RawItem(source or "<stored>", parse(raw)))


def _open_for(session: Session, cdr_pk: int, decision: Decision, decision_id: int, key: Key,
              now: datetime) -> int | None:
    """Open the exception a stored Decision calls for (as record_decision does); its id or None."""
    if state_of(decision) not in ("exception", "rejected"):
        return None
    reason = (decision.exception or {}).get("reason") or INVALID_CDR
    exception_id, _ = open_exception(
        session, reason, dedup_key=f"decision:{decision_id}", cdr_pk=cdr_pk, decision_id=decision_id, now=now,
        detail={"key": list(key), "source": decision.source, "exception": decision.exception,
                "errors": decision.errors or None})
    return exception_id


# --- expire ----------------------------------------------------------------------------------------


def expire(session: Session, now: datetime | None = None, *, limit: int | None = None) -> list[Key]:
    """Open the exception of every CDR still waiting at its deadline; their keys.

    Rows another process is releasing right now are skipped (PostgreSQL ``SKIP LOCKED``), and
    picked up by the next run if still waiting."""
    now = now or utcnow()
    stmt = (select(WaitingCdr, Cdr.country_code, Cdr.party_id, Cdr.cdr_id, Cdr.source)
            .join(Cdr, Cdr.id == WaitingCdr.cdr_pk)
            .where(WaitingCdr.status == "waiting", WaitingCdr.deadline <= now)
            .order_by(WaitingCdr.deadline, WaitingCdr.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(for_update(session, stmt, skip_locked=True)).all()
    expired: list[Key] = []
    for waiting, country, party, cdr_id, source in rows:
        key = (country, party, cdr_id)
        exception = session.execute(select(DecisionRecord.exception).where(
            DecisionRecord.id == waiting.decision_id)).scalar_one_or_none() if waiting.decision_id else None
        waited_until = waiting.deadline.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        exception_id, _ = open_exception(
            session, waiting.reason, dedup_key=f"decision:{waiting.decision_id}" if waiting.decision_id
            else f"waiting:{waiting.id}", cdr_pk=waiting.cdr_pk, decision_id=waiting.decision_id, now=now,
            detail={"key": list(key), "source": source, "exception": exception,
                    "waited_until": waited_until,
                    "parked_at": waiting.parked_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "description": f"waited until {waited_until} for the PSP transaction "
                                   "(authorization_reference / session_id); none arrived"})
        session.execute(update(Cdr).where(Cdr.id == waiting.cdr_pk).values(state="exception"))
        waiting.status, waiting.resolved_at, waiting.exception_id = "expired", now, exception_id
        expired.append(key)
    session.flush()
    return expired


def waiting_keys(session: Session) -> list[Key]:
    """The keys of the CDRs waiting now (oldest deadline first)."""
    rows = session.execute(select(Cdr.country_code, Cdr.party_id, Cdr.cdr_id)
                           .join(WaitingCdr, WaitingCdr.cdr_pk == Cdr.id)
                           .where(WaitingCdr.status == "waiting").order_by(WaitingCdr.deadline, WaitingCdr.id))
    return [tuple(r) for r in rows]  # type: ignore[misc]
