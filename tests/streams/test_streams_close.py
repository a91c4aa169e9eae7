"""Closing a period: idempotent, resumable, and one set of invoices when two closers race."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from billing_helpers import SAMPLES, bundle, ingest_cdrs, ingest_samples, source, variant
from engine.store.billing_models import BillableItem, DocumentClaim
from engine.store.models import BillingPeriod, ExceptionRecord, NumberLogEntry, OutboxMessage
from engine.streams import msp as msp_stream
from engine.streams.close import close_period
from engine.streams.periods import PeriodError

MSP_FILES = sorted(p.name for p in SAMPLES.glob("msp-*.json"))
SUB_FILES = sorted(p.name for p in SAMPLES.glob("subscription-*.json"))
NOV_1 = date(2026, 11, 1)


def _claims(session_factory, stream="msp"):
    with session_factory() as session:
        return sorted(session.execute(select(DocumentClaim.business_key, DocumentClaim.number)
                                      .where(DocumentClaim.stream == stream)).all())


def _status(session_factory, stream, period):
    with session_factory() as session:
        return session.execute(select(BillingPeriod.status).where(BillingPeriod.stream == stream,
                                                                  BillingPeriod.period_key == period)).scalar_one()


def _count(session_factory, model, *where):
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_closing_twice_issues_one_set(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    first = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert first.outcome == "closed" and len(first.documents) == 5 and first.status_before == "open"
    claims = _claims(session_factory)
    second = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert second.outcome == "already_closed" and second.documents == []
    assert _claims(session_factory) == claims
    assert _count(session_factory, OutboxMessage) == 5
    assert _count(session_factory, NumberLogEntry) == 5
    assert _status(session_factory, "msp", "2026-10") == "closed"


def test_subscription_cycle_closed_twice_issues_one_set(session_factory):
    ingest_samples(session_factory, names=SUB_FILES)
    first = close_period(session_factory, bundle(), "subscription", "2026-10", as_of=NOV_1, source=source())
    again = close_period(session_factory, bundle(), "subscription", "2026-10", as_of=NOV_1, source=source())
    assert first.outcome == "closed" and len(first.documents) == 16
    assert again.outcome == "already_closed"
    assert len(_claims(session_factory, "subscription")) == 16


def test_a_crashed_close_resumes_where_it_stopped(session_factory, monkeypatch):
    ingest_samples(session_factory, names=MSP_FILES)
    real = msp_stream.build_msp_document
    built: list[str] = []

    def crash_on_the_third(session, bundle_, period, party, **kwargs):
        if len(built) == 2:
            raise RuntimeError("worker killed")
        built.append(party)
        return real(session, bundle_, period, party, **kwargs)

    monkeypatch.setattr(msp_stream, "build_msp_document", crash_on_the_third)
    with pytest.raises(RuntimeError):
        close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert _status(session_factory, "msp", "2026-10") == "closing"
    assert len(_claims(session_factory)) == 2
    # a CDR that arrives while the period is closing waits for the next period
    ingest_cdrs(session_factory, [variant("msp-de-ldx-munich-dc-001.json", "VLT-TEST-WHILE-CLOSING", days=1)])
    monkeypatch.setattr(msp_stream, "build_msp_document", real)
    resumed = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert resumed.outcome == "closed" and resumed.status_before == "closing"
    assert len(resumed.documents) == 3 and resumed.already_issued == 2
    claims = _claims(session_factory)
    assert len(claims) == 5 and len({n for _, n in claims}) == 5
    assert _count(session_factory, NumberLogEntry) == 5   # no number drawn twice, no gap
    with session_factory() as session:
        waiting = session.execute(select(BillableItem.period_key, BillableItem.own_period)
                                  .where(BillableItem.cdr_id == "VLT-TEST-WHILE-CLOSING")).one_or_none()
    assert waiting is None or waiting.period_key is None   # not in the closed period's invoices
    november = close_period(session_factory, bundle(), "msp", "2026-11", as_of=date(2026, 12, 1))
    late = [s for d in november.documents for s in d.sessions if s.cdr_id == "VLT-TEST-WHILE-CLOSING"]
    assert len(late) == 1 and late[0].late


def test_two_concurrent_closes_issue_one_set_of_invoices(session_factory, monkeypatch, db_url):
    ingest_samples(session_factory, names=MSP_FILES)
    real = msp_stream.build_msp_document

    def slow(*args, **kwargs):   # keep the winner busy so that the two really overlap
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(msp_stream, "build_msp_document", slow)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def close():
        try:
            barrier.wait()
            results.append(close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    claims = _claims(session_factory)
    assert len(claims) == 5 and len({n for _, n in claims}) == 5
    assert sum(len(r.documents) for r in results) == 5
    assert _count(session_factory, OutboxMessage) == 5 and _count(session_factory, NumberLogEntry) == 5
    assert _status(session_factory, "msp", "2026-10") == "closed"
    if db_url.startswith("postgresql"):
        # row lock + SKIP LOCKED: one closes, the other is told it is being closed
        assert sorted(r.outcome for r in results) == ["being_closed", "closed"]


def test_a_waiting_closer_finds_the_period_closed(session_factory, monkeypatch, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    ingest_samples(session_factory, names=MSP_FILES)
    real = msp_stream.build_msp_document
    started = threading.Event()

    def slow(*args, **kwargs):
        started.set()
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(msp_stream, "build_msp_document", slow)
    results = []
    first = threading.Thread(target=lambda: results.append(
        close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)))
    first.start()
    started.wait(10)
    waited = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1, wait=True)
    first.join()
    assert results[0].outcome == "closed" and waited.outcome == "already_closed"
    assert len(_claims(session_factory)) == 5


def test_as_of_must_be_after_the_period_and_the_period_well_formed(session_factory):
    with pytest.raises(PeriodError, match="2026-11-01 or later"):
        close_period(session_factory, bundle(), "msp", "2026-10", as_of=date(2026, 10, 31))
    with pytest.raises(PeriodError, match="YYYY-MM"):
        close_period(session_factory, bundle(), "msp", "2026-13", as_of=NOV_1)
    with pytest.raises(PeriodError):
        close_period(session_factory, bundle(), "adhoc", "2026-10", as_of=NOV_1)


def test_a_document_that_cannot_be_made_keeps_the_period_closing(session_factory, monkeypatch):
    ingest_samples(session_factory, names=MSP_FILES)
    real = msp_stream.build_msp_document

    def broken_for_ldx(session, bundle_, period, party, **kwargs):
        if party == "DE*LDX":
            raise msp_stream.DocumentProblems([{"code": "MSP_TARIFF_UNKNOWN", "message": "no tariff"}])
        return real(session, bundle_, period, party, **kwargs)

    monkeypatch.setattr(msp_stream, "build_msp_document", broken_for_ldx)
    result = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert result.outcome == "incomplete" and [f.party for f in result.failures] == ["DE*LDX"]
    assert len(result.documents) == 4 and _status(session_factory, "msp", "2026-10") == "closing"
    assert _count(session_factory, ExceptionRecord, ExceptionRecord.reason == "PERIOD_DOCUMENT_FAILED") == 1
    monkeypatch.setattr(msp_stream, "build_msp_document", real)
    fixed = close_period(session_factory, bundle(), "msp", "2026-10", as_of=NOV_1)
    assert fixed.outcome == "closed" and [d.metadata["msp_ref"] for d in fixed.documents] == ["DE*LDX"]
    assert len(_claims(session_factory)) == 5
