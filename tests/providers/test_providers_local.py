"""The embedded ``local`` provider and the outbox worker that feeds it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from billing_helpers import bundle, deliver, ingest_samples
from engine.providers import ProviderError, get_provider
from engine.providers.base import BillingProvider, ProviderResult, record_event
from engine.providers.local import LocalProvider
from engine.store._sql import utcnow
from engine.store.models import BillingDocument, BillingDocumentLine, NumberLogEntry, OutboxMessage, Payment, \
    ProviderEvent
from engine.store.outbox import enqueue
from engine.streams.adhoc import issue_adhoc_documents
from engine.streams.documents import ISSUE_KIND, PAYMENT_KIND, VOID_KIND, claimed_document
from engine.streams.events import process_events
from engine.streams.worker import run_outbox

MUNICH = "adhoc-de-munich-ac-001.json"


def _count(session_factory, model, *where):
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def issued(session_factory):
    """One ad-hoc document claimed and enqueued (not delivered yet): its number."""
    ingest_samples(session_factory, names=[MUNICH])
    [one] = issue_adhoc_documents(session_factory, bundle()).issued
    return one.number


def test_issue_stores_the_document_with_posting_groups_and_emits_issued_and_paid(session_factory, issued):
    with session_factory() as session:
        doc = claimed_document(session, issued)
        result = LocalProvider().issue(session, doc, idempotency_key="issue:test")
        session.commit()
    assert result.created and result.provider_ref == f"local:{issued}"
    assert [e.split(":")[1] for e in result.events] == ["issued", "paid"]
    with session_factory() as session:
        row = session.execute(select(BillingDocument).where(BillingDocument.number == issued)).scalar_one()
        assert (row.stream, row.doc_type, row.status, row.currency) == ("adhoc", "invoice", "issued", "EUR")
        assert (row.net_amount, row.vat_amount, row.gross_amount) == (Decimal("12.46"), Decimal("2.37"),
                                                                      Decimal("14.83"))
        [line] = session.execute(select(BillingDocumentLine).where(BillingDocumentLine.document_id == row.id)).scalars()
        assert (line.product, line.quantity, line.unit_price, line.net_amount) == \
            ("ENERGY", Decimal("21.117000"), Decimal("0.5900"), Decimal("12.46"))
        assert (line.posting_group, line.cost_centre, line.tax_treatment) == ("ADHOC-DOM-ENERGY", "CC-DE-MUC",
                                                                             "domestic")
        assert line.cdr_pk is not None
        events = session.execute(select(ProviderEvent).order_by(ProviderEvent.id)).scalars().all()
        assert [(e.provider, e.type) for e in events] == [("local", "issued"), ("local", "paid")]
        assert events[1].payload["amount"] == "14.83" and events[1].payload["external_id"].startswith("pi_")


def test_issuing_again_changes_nothing(session_factory, issued):
    provider = LocalProvider()
    for _ in range(2):
        with session_factory() as session:
            result = provider.issue(session, claimed_document(session, issued), idempotency_key="issue:x")
            session.commit()
    assert not result.created and result.events == ()
    assert _count(session_factory, BillingDocument) == 1
    assert _count(session_factory, BillingDocumentLine) == 1
    assert _count(session_factory, ProviderEvent) == 2


def test_events_are_stored_once_per_event_id(session_factory):
    with session_factory() as session:
        assert record_event(session, "lago", "evt-1", "paid", {"number": "X"})
        assert not record_event(session, "lago", "evt-1", "paid", {"number": "X"})   # a webhook retry
        assert record_event(session, "stripe", "evt-1", "paid", {"number": "X"})     # another provider
        with pytest.raises(ValueError):
            record_event(session, "lago", "evt-2", "invoice.created", {})
        session.commit()


def test_the_worker_delivers_and_the_events_settle_the_books(session_factory, issued):
    run = deliver(session_factory)
    assert run.delivered["provider.issue"] == 1 and run.events.by_type == {"issued": 1, "paid": 1}
    assert run.delivered["email"] == 1            # enqueued by the issued event, sent in the next round
    with session_factory() as session:
        row = session.execute(select(BillingDocument).where(BillingDocument.number == issued)).scalar_one()
        assert row.status == "paid"
        payment = session.execute(select(Payment)).scalar_one()
        assert (payment.document_id, payment.amount, payment.kind) == (row.id, Decimal("14.83"), "payment")
        assert session.execute(select(func.count()).select_from(ProviderEvent)
                               .where(ProviderEvent.processed_at.is_(None))).scalar_one() == 0
        statuses = dict(session.execute(select(OutboxMessage.kind, OutboxMessage.status)).all())
        assert statuses == {"provider.issue": "sent", "email": "sent"}
    again = deliver(session_factory)
    assert sum(again.delivered.values()) == 0 and again.events.processed == 0
    assert _count(session_factory, Payment) == 1


def test_void_and_payment_messages(session_factory, issued):
    deliver(session_factory)
    with session_factory() as session:
        enqueue(session, VOID_KIND, {"number": issued, "reason": "test"}, f"void:{issued}")
        session.commit()
    run = deliver(session_factory)
    assert run.dead[VOID_KIND] == 1 and "is paid" in run.errors[0]   # a paid document is credited, not voided
    # an unpaid one can be voided: its number is logged as voided (the gap is explained)
    with session_factory() as session:
        session.execute(update(BillingDocument).values(status="issued"))
        session.commit()
    with session_factory() as session:
        result = LocalProvider().void(session, issued, reason="issued in error", idempotency_key="v2")
        session.commit()
    assert result.events == (f"{issued}:voided",)
    process_events(session_factory)
    with session_factory() as session:
        assert session.execute(select(BillingDocument.status)).scalar_one() == "voided"
        assert session.execute(select(NumberLogEntry.reason).where(NumberLogEntry.action == "voided")
                               ).scalar_one() == "issued in error"


def test_a_partial_payment_then_the_rest(session_factory):
    ingest_samples(session_factory, names=[MUNICH])
    issue_adhoc_documents(session_factory, bundle())
    # pretend the PSP had not captured: no payment on the document itself
    with session_factory() as session:
        from engine.store.billing_models import DocumentClaim

        claim = session.execute(select(DocumentClaim)).scalar_one()
        document = dict(claim.document)
        document["payment"] = {}
        session.execute(update(DocumentClaim).values(document=document))
        session.commit()
        number = claim.number
    deliver(session_factory)
    for external_id, amount in (("bank-1", "10.00"), ("bank-2", "4.83")):
        with session_factory() as session:
            enqueue(session, PAYMENT_KIND, {"number": number, "amount": amount, "currency": "EUR",
                                            "external_id": external_id}, f"payment:{external_id}")
            session.commit()
        deliver(session_factory)
        with session_factory() as session:
            status = session.execute(select(BillingDocument.status)).scalar_one()
        assert status == ("partially_paid" if external_id == "bank-1" else "paid")
    assert _count(session_factory, Payment) == 2


class _Flaky(BillingProvider):
    """Fails the first call, then behaves like the local provider."""

    name = "flaky"

    def __init__(self):
        self.calls = 0
        self.local = LocalProvider()

    def issue(self, session, document, *, idempotency_key, now=None):
        self.calls += 1
        if self.calls == 1:
            raise ProviderError("503 Service Unavailable")
        return self.local.issue(session, document, idempotency_key=idempotency_key, now=now)

    def void(self, *args, **kwargs) -> ProviderResult:  # pragma: no cover
        return self.local.void(*args, **kwargs)

    def record_payment(self, *args, **kwargs) -> ProviderResult:  # pragma: no cover
        return self.local.record_payment(*args, **kwargs)


def test_a_provider_outage_is_retried_with_backoff_and_bills_once(session_factory, issued):
    provider = _Flaky()
    now = utcnow()
    first = run_outbox(session_factory, provider, worker_id="w", now=now, mailer=None, handle_events=False)
    assert first.failed[ISSUE_KIND] == 1 and _count(session_factory, BillingDocument) == 0
    with session_factory() as session:
        message = session.execute(select(OutboxMessage)).scalar_one()
        assert (message.status, message.attempts) == ("failed", 1) and message.next_attempt_at > now
    soon = run_outbox(session_factory, provider, worker_id="w", now=now + timedelta(seconds=1), handle_events=False)
    assert sum(soon.delivered.values()) == 0      # not due yet
    later = run_outbox(session_factory, provider, worker_id="w", now=now + timedelta(minutes=5), handle_events=False)
    assert later.delivered[ISSUE_KIND] == 1 and _count(session_factory, BillingDocument) == 1


def test_get_provider():
    assert isinstance(get_provider("local"), LocalProvider)
    with pytest.raises(ProviderError):
        get_provider("nope")


def test_without_a_mailer_the_emails_wait_in_the_outbox(session_factory, issued, monkeypatch):
    monkeypatch.delenv("CDRFLOW_SMTP_HOST", raising=False)
    run = run_outbox(session_factory, LocalProvider(), worker_id="w")
    assert run.delivered == {"provider.issue": 1} and run.events.emails == 1
    with session_factory() as session:
        assert session.execute(select(OutboxMessage.status).where(OutboxMessage.kind == "email")).scalar_one() \
            == "pending"


def test_run_once_is_one_round_of_cdrflow_work(session_factory, monkeypatch):
    from engine.streams.worker import run_once

    monkeypatch.delenv("CDRFLOW_SMTP_HOST", raising=False)
    ingest_samples(session_factory, names=[MUNICH, "adhoc-de-berlin-ac-002.json"])
    assert run_once(session_factory, bundle=bundle()) == 2        # issued and delivered
    assert run_once(session_factory, bundle=bundle()) == 0
    assert _count(session_factory, BillingDocument) == 2
