"""The unique constraints that make repeated steps safe (payments, webhooks, periods, journal)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from engine.store.models import (
    BillingDocument, BillingPeriod, JournalEntry, Payment, ProviderEvent,
)

NOW = datetime(2026, 10, 1, tzinfo=timezone.utc)


def _twice(session, make) -> None:
    session.add(make())
    session.flush()
    session.add(make())
    with pytest.raises(IntegrityError):
        session.flush()


def test_provider_events_are_stored_once(session):
    _twice(session, lambda: ProviderEvent(provider="lago", event_id="evt_1", type="invoice.paid",
                                          payload={"x": 1}, received_at=NOW))


def test_a_payment_is_recorded_once(session):
    _twice(session, lambda: Payment(amount=Decimal("5.24"), currency="EUR", kind="payment",
                                    external_id="pi_123", received_at=NOW))


def test_payment_kind_is_checked(session):
    session.add(Payment(amount=Decimal("1.00"), currency="EUR", kind="gift", external_id="x", received_at=NOW))
    with pytest.raises(IntegrityError):
        session.flush()


def test_one_period_per_stream_key_and_party(session):
    _twice(session, lambda: BillingPeriod(stream="msp", period_key="2026-10", party_ref="DE*LDX",
                                          status="open", opened_at=NOW))


def test_journal_entry_posted_once(session):
    _twice(session, lambda: JournalEntry(idempotency_key="doc:1", entry_date="2026-10-01", posted_at=NOW))


def test_document_numbers_are_unique_and_credit_notes_reference_the_original(session):
    original = BillingDocument(number="AH-2026-000001", stream="adhoc", doc_type="receipt", status="issued",
                               currency="EUR", net_amount=Decimal("4.40"), vat_amount=Decimal("0.84"),
                               gross_amount=Decimal("5.24"), created_at=NOW, content_hash="a" * 64)
    session.add(original)
    session.flush()
    credit = BillingDocument(number="AH-2026-000002", stream="adhoc", doc_type="credit_note", status="issued",
                             currency="EUR", net_amount=Decimal("-4.40"), vat_amount=Decimal("-0.84"),
                             gross_amount=Decimal("-5.24"), created_at=NOW, original_document_id=original.id,
                             previous_hash=original.content_hash)
    session.add(credit)
    session.flush()
    session.add(BillingDocument(number="AH-2026-000001", stream="adhoc", doc_type="receipt", status="draft",
                                currency="EUR", net_amount=Decimal(0), vat_amount=Decimal(0),
                                gross_amount=Decimal(0), created_at=NOW))
    with pytest.raises(IntegrityError):
        session.flush()
