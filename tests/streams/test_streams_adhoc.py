"""Ad-hoc stream: one document per session at once, issued once, §33 vs §14 by amount, credit notes."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import func, select

from billing_helpers import bundle, deliver, ingest_cdrs, ingest_samples, sample, source, variant
from engine.documents.model import CREDIT_NOTE, FULL, INVOICE, SMALL_AMOUNT
from engine.store.billing_models import DocumentClaim
from engine.store.models import BillingDocument, BillingDocumentLine, Cdr, ExceptionRecord, NumberLogEntry, \
    OutboxMessage, Payment, ProviderEvent
from engine.streams.adhoc import CREDIT_WITHOUT_INVOICE, AdhocRun, issue_adhoc_documents, issue_one, pending_adhoc
from engine.streams.documents import claimed_document

MUNICH = "adhoc-de-munich-ac-001.json"
MUNICH_CREDIT = "adhoc-de-munich-ac-001-credit.json"
ADHOC_FILES = sorted(p.name for p in __import__("billing_helpers").SAMPLES.glob("adhoc-*.json"))


def _count(session, model, *where) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_every_adhoc_session_gets_one_document_at_once(session_factory):
    ingest_samples(session_factory, names=ADHOC_FILES)
    run = issue_adhoc_documents(session_factory, bundle())
    assert len(run.issued) == len(ADHOC_FILES) == 23
    numbers = sorted(i.number for i in run.issued)
    assert numbers == [f"AH-2026-{n:06d}" for n in range(1, 24)]
    with session_factory() as session:
        assert _count(session, DocumentClaim) == 23
        assert _count(session, OutboxMessage, OutboxMessage.kind == "provider.issue") == 23
        doc = claimed_document(session, next(i.number for i in run.issued if i.document.sessions[0].cdr_id ==
                                             "VLT-20261011-10026"))
    # issue date = the session's local end date; buyer from the PSP; paid by the PSP transaction
    assert doc.issue_date.isoformat() == "2026-10-11" and doc.period_start.isoformat() == "2026-10-11"
    assert doc.buyer.email == "receipt-gvgfqi@example.net"
    assert doc.payment.psp_reference == "pi_e4bco5p91pyfyax4m6y2t0" and doc.payment.paid_amount == Decimal("14.83")
    assert doc.form == SMALL_AMOUNT and doc.doc_type == INVOICE and doc.gross == Decimal("14.83")
    assert doc.sessions[0].ocpi_reference == "DE*VLT*VLT-20261011-10026"
    assert doc.metadata["line_postings"][0]["posting_group"] == "ADHOC-DOM-ENERGY"
    assert doc.metadata["line_postings"][0]["cost_centre"] == "CC-DE-MUC"


def test_adhoc_invoice_is_issued_once_even_if_processed_twice(session_factory):
    ingest_samples(session_factory, names=[MUNICH])
    with session_factory() as session:   # two workers picked up the same pending Decision
        [item] = pending_adhoc(session)
        [same] = pending_adhoc(session)
        session.rollback()
    with session_factory() as session:
        first = issue_one(session, bundle(), item, AdhocRun())
        session.commit()
    with session_factory() as session:
        second = issue_one(session, bundle(), same, AdhocRun())   # the same Decision, processed again
        session.commit()
    assert first.new and not second.new and first.number == second.number == "AH-2026-000001"
    assert issue_adhoc_documents(session_factory, bundle()).issued == []   # and a whole re-run
    with session_factory() as session:
        assert _count(session, DocumentClaim) == 1
        assert _count(session, OutboxMessage) == 1
        # no number was drawn for the repeats: the range has no gap to explain
        assert _count(session, NumberLogEntry) == 1
    deliver(session_factory)
    deliver(session_factory)
    with session_factory() as session:
        assert _count(session, BillingDocument) == 1
        assert _count(session, Payment) == 1
        assert sorted(session.execute(select(ProviderEvent.type)).scalars()) == ["issued", "paid"]


def test_concurrent_issuers_issue_each_document_once(session_factory):
    ingest_samples(session_factory, names=ADHOC_FILES)
    results: list[AdhocRun] = []
    errors: list[BaseException] = []

    def work():
        try:
            results.append(issue_adhoc_documents(session_factory, bundle(), batch_size=5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(len(r.issued) for r in results) == 23
    with session_factory() as session:
        numbers = list(session.execute(select(DocumentClaim.number)).scalars())
        assert len(numbers) == len(set(numbers)) == 23
        assert _count(session, NumberLogEntry) == 23


def _big_session():
    cdr = variant(MUNICH, "VLT-TEST-BIG-1", authorization_reference="AH-BIGSESSION01")
    energy = Decimal("399.000")   # < 400 kWh: still plausible for the classification rules
    cdr["charging_periods"][0]["dimensions"][0]["volume"] = energy
    cdr["total_energy"] = energy
    cdr["total_cost"] = cdr["total_energy_cost"] = {"excl_vat": Decimal("235.41"), "incl_vat": Decimal("280.14")}
    psp = {"id": "pi_test_big", "authorization_reference": "AH-BIGSESSION01", "session_id": None,
           "status": "captured", "amount": "280.14", "currency": "EUR", "captured_at": "2026-10-11T13:02:23Z",
           "provider": "demo-psp", "email": "big@example.net"}
    return cdr, psp


def test_small_amount_invoice_up_to_250_eur_gross_full_invoice_above(session_factory):
    big, psp = _big_session()
    src = source(psp_transactions=[psp])
    ingest_cdrs(session_factory, [sample(MUNICH), big], src)
    run = issue_adhoc_documents(session_factory, bundle())
    by_cdr = {i.document.sessions[0].cdr_id: i.document for i in run.issued}
    small, full = by_cdr["VLT-20261011-10026"], by_cdr["VLT-TEST-BIG-1"]
    assert (small.form, small.gross) == (SMALL_AMOUNT, Decimal("14.83"))
    assert (full.form, full.gross) == (FULL, Decimal("280.14"))
    assert full.payment.paid_amount == Decimal("280.14") and full.buyer.email == "big@example.net"


def test_the_limit_itself_is_still_a_small_amount_invoice():
    from engine.documents.model import invoice_form
    from engine.rates.model import PriceLine, build_price
    from engine.tax.treatment import TaxTreatment

    tax = TaxTreatment("domestic", Decimal("19"), "DE", "S")

    def price(net: str):
        line = PriceLine("ENERGY", "Energy", Decimal(1), "kWh", Decimal(net), Decimal(net), Decimal("19"),
                         "domestic", "S")
        return build_price("adhoc", [line], tax=tax, currency="EUR")

    assert price("210.08").incl_vat == Decimal("250.00") and invoice_form(price("210.08")) == SMALL_AMOUNT
    assert price("210.09").incl_vat == Decimal("250.01") and invoice_form(price("210.09")) == FULL


def test_credit_cdr_becomes_a_credit_note_naming_the_original(session_factory):
    # The credit's file sorts before the original's, so it is stored first: it waits for it.
    ingest_samples(session_factory, names=[MUNICH_CREDIT, MUNICH])
    run = issue_adhoc_documents(session_factory, bundle())
    docs = {i.document.doc_type: i.document for i in run.issued}
    original, credit = docs[INVOICE], docs[CREDIT_NOTE]
    assert credit.preceding_number == original.number
    assert credit.number > original.number
    assert credit.gross == -original.gross and credit.net == -original.net
    assert credit.payment.paid_amount is None
    deliver(session_factory)
    with session_factory() as session:
        rows = {r.number: r for r in session.execute(select(BillingDocument)).scalars()}
        assert rows[credit.number].doc_type == "credit_note"
        assert rows[credit.number].original_document_id == rows[original.number].id
        assert rows[original.number].status == "paid" and rows[credit.number].status == "issued"
        assert set(session.execute(select(Cdr.state)).scalars()) == {"billed"}
        lines = session.execute(select(BillingDocumentLine).where(
            BillingDocumentLine.document_id == rows[credit.number].id)).scalars().all()
        assert [(ln.net_amount, ln.posting_group, ln.cost_centre) for ln in lines] == \
            [(Decimal("-12.46"), "ADHOC-DOM-ENERGY", "CC-DE-MUC")]


def test_credit_without_an_invoiced_original_opens_an_exception(session_factory):
    ingest_samples(session_factory, names=[MUNICH_CREDIT])
    run = issue_adhoc_documents(session_factory, bundle())
    assert run.issued == [] and run.exceptions == ["VLT-20261011-10026-C"]
    issue_adhoc_documents(session_factory, bundle())
    with session_factory() as session:
        reasons = list(session.execute(select(ExceptionRecord.reason)).scalars())
        assert reasons.count(CREDIT_WITHOUT_INVOICE) == 1
        assert _count(session, DocumentClaim) == 0
