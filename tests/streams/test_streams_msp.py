"""MSP stream: one consolidated invoice per MSP and period, aggregated in SQL."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_helpers import SAMPLES, bundle, deliver, ingest_cdrs, ingest_samples, variant
from engine.documents.model import FULL
from engine.rates import msp_period
from engine.rates.model import StreamPrice
from engine.store.billing_models import BillableItem
from engine.store.models import BillingDocument, BillingDocumentLine, DecisionRecord
from engine.streams.billable import period_groups, period_summary
from engine.streams.documents import tax_notes
from engine.streams.files import render
from engine.streams.msp import close_msp_period

MSP_FILES = sorted(p.name for p in SAMPLES.glob("msp-*.json"))
OCT, NOV_1 = "2026-10", date(2026, 11, 1)
RC_NOTE = "Steuerschuldnerschaft des Leistungsempfängers"


def _close(session_factory, period=OCT, as_of=NOV_1):
    with session_factory() as session:
        return close_msp_period(session, bundle(), period, as_of=as_of)


def _by_party(result):
    return {doc.metadata["msp_ref"]: doc for doc in result.documents}


def test_one_invoice_per_msp_with_lines_by_power_type_and_category(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    result = _close(session_factory)
    assert result.outcome == "closed"
    docs = _by_party(result)
    assert sorted(docs) == ["AT*STR", "DE*ALT", "DE*FLK", "DE*LDX", "NL*WZP"]
    assert sorted(d.number for d in docs.values()) == [f"MSP-2026-{n:06d}" for n in range(1, 6)]
    ldx = docs["DE*LDX"]
    assert ldx.form == FULL and ldx.issue_date == NOV_1 and ldx.period_key == OCT
    assert (ldx.period_start, ldx.period_end) == (date(2026, 10, 1), date(2026, 10, 31))
    # every line names its power type x location category and the CDRs it covers
    pairs = [(ln.reference["power_type"], ln.reference["category"]) for ln in ldx.price.lines]
    assert pairs == sorted(pairs) and len(set(pairs)) == len(pairs)
    assert {"AC", "DC"} == {p for p, _ in pairs}
    covered = sorted(c for ln in ldx.price.lines for c in ln.reference["cdr_ids"])
    assert covered == sorted(s.cdr_id for s in ldx.sessions)
    # the session list: every CDR with its OCPI reference, the credit CDR included (negative)
    refs = {s.cdr_id: s for s in ldx.sessions}
    assert "VLT-20261001-10005-C" in refs and refs["VLT-20261001-10005-C"].amount < 0
    assert all(s.ocpi_reference == f"DE*VLT*{s.cdr_id}" and s.energy_kwh and s.start for s in ldx.sessions)
    assert not any(s.late for s in ldx.sessions)
    # the SQL summary by power type x category agrees with the session list
    summary = {(r["power_type"], r["category"]): r for r in ldx.metadata["summary"]}
    assert sum(r["sessions"] for r in summary.values()) == len(ldx.sessions) - 2  # a credit cancels its original
    assert sum(Decimal(r["net"]) for r in summary.values()) == sum(s.amount for s in ldx.sessions)


def test_domestic_reseller_gets_reverse_charge_with_the_legal_note(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    ldx = _by_party(_close(session_factory))["DE*LDX"]
    assert ldx.buyer.vat_id == "DE273648192" and ldx.buyer.name == "Ladexpress Mobility GmbH"
    assert ldx.price.tax.treatment == "reverse_charge"
    assert ldx.price.totals.vat_total == Decimal("0.00") and ldx.gross == ldx.net
    assert {g.tax_class for g in ldx.price.totals.groups} == {"AE"}
    assert any(RC_NOTE in note for note in tax_notes(ldx.price))   # BT-120, printed by the renderers
    assert not any(RC_NOTE in note for note in ldx.notes)          # ... and not repeated as a free note
    pypdf = pytest.importorskip("pypdf")
    pdf = render(ldx).get("pdf")
    if pdf is None:
        pytest.skip("no renderer installed")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert text.count(RC_NOTE) == 1 and "DE273648192" in text
    assert {p["posting_group"] for p in ldx.metadata["line_postings"]} == {"MSP-RC-ENERGY"}
    assert ldx.payment.terms_days == 30 and ldx.payment.due_date == date(2026, 12, 1)


def test_non_reseller_is_taxed_and_a_depot_discount_is_its_own_line(session_factory):
    depot = variant("msp-de-flk-hamburg-ac-001.json", "VLT-TEST-FLK-DEPOT", days=1, location="LOC-HAM-DEP")
    ingest_samples(session_factory, names=MSP_FILES)
    ingest_cdrs(session_factory, [depot])
    flk = _by_party(_close(session_factory))["DE*FLK"]
    assert flk.price.tax.treatment == "domestic" and flk.price.totals.vat_total > 0
    lines = {(ln.product, ln.reference.get("category") or ln.reference.get("discount_id")): ln
             for ln in flk.price.lines}
    depot_line = lines[("ENERGY", "depot")]
    assert depot_line.unit_price == Decimal("0.36") and depot_line.net == Decimal("7.24")
    discount = lines[("DISCOUNT", "depot-fleet")]
    assert discount.net == Decimal("-0.72") and discount.reference["cdr_ids"] == ["VLT-TEST-FLK-DEPOT"]
    posting = flk.metadata["line_postings"][flk.price.lines.index(discount)]
    assert posting == {"posting_group": "MSP-DOM-DISCOUNT", "cost_centre": "CC-DE-HAM-DEPOT", "cdr_pk": None}
    deliver(session_factory)
    with session_factory() as session:
        doc_id = session.execute(select(BillingDocument.id).where(BillingDocument.number == flk.number)).scalar_one()
        stored = session.execute(select(BillingDocumentLine).where(BillingDocumentLine.document_id == doc_id)
                                 .order_by(BillingDocumentLine.line_no)).scalars().all()
        assert [ln.net_amount for ln in stored] == [ln.net for ln in flk.price.lines]
        assert stored[flk.price.lines.index(discount)].posting_group == "MSP-DOM-DISCOUNT"


def test_sql_aggregation_gives_the_same_document_as_pricing_every_session(session_factory):
    """The SQL path (GROUP BY, per dialect) against msp_period over the stored per-session prices."""
    ingest_samples(session_factory, names=MSP_FILES)
    result = _close(session_factory)
    with session_factory() as session:
        for party, doc in _by_party(result).items():
            rows = session.execute(select(DecisionRecord.facts, DecisionRecord.pricing)
                                   .join(BillableItem, BillableItem.decision_id == DecisionRecord.id)
                                   .where(BillableItem.period_key == OCT, BillableItem.party_ref == party)).all()
            sessions = [StreamPrice.from_json(pricing) for _, pricing in rows]
            direct = msp_period(bundle(), sessions, msp=dict(rows[0][0]["msp"]), period_start=date(2026, 10, 1),
                                period_end=date(2026, 10, 31))
            assert not direct.errors

            def key(line):
                ref = line.reference
                return (line.product, ref.get("power_type"), ref.get("category"), str(line.unit_price))

            def shape(price):
                return sorted(((key(ln), ln.quantity, ln.net, tuple(ln.reference.get("cdr_ids") or ()),
                                ln.reference.get("sessions")) for ln in price.lines), key=lambda t: t[0])

            assert shape(doc.price) == shape(direct), party
            assert doc.price.totals == direct.totals, party


def test_period_summary_by_power_type_and_category_in_sql(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    _close(session_factory)
    with session_factory() as session:
        summary = {(r.power_type, r.category): r for r in period_summary(session, "msp", OCT, "NL*WZP")}
        items = session.execute(select(BillableItem).where(BillableItem.period_key == OCT,
                                                           BillableItem.party_ref == "NL*WZP")).scalars().all()
        assert sum(r.sessions for r in summary.values()) == len(items)
        assert sum(r.energy_kwh for r in summary.values()) == sum(i.energy_kwh for i in items)
        assert sum(r.net for r in summary.values()) == sum(i.net for i in items)
        groups = period_groups(session, "msp", OCT, "NL*WZP")
        assert {g.product for g in groups} == {"ENERGY", "SESSION_FEE"}
        assert all(isinstance(g.quantity, Decimal) and isinstance(g.net, Decimal) for g in groups)


def test_a_cdr_arriving_after_its_period_closed_goes_into_the_next_period_as_late(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    september = _close(session_factory, "2026-09", date(2026, 10, 1))
    assert [d.metadata["msp_ref"] for d in september.documents] == ["DE*LDX"]
    late = variant("msp-de-ldx-berlin-ac-2026-09.json", "VLT-TEST-LDX-LATE", days=2)
    ingest_cdrs(session_factory, [late])
    october = _close(session_factory)
    assert october.late == 1
    ldx = _by_party(october)["DE*LDX"]
    flagged = [s for s in ldx.sessions if s.late]
    assert [s.cdr_id for s in flagged] == ["VLT-TEST-LDX-LATE"] and flagged[0].start.month == 9
    assert any("late" in note for note in ldx.notes)
    assert "VLT-TEST-LDX-LATE" in {c for ln in ldx.price.lines for c in ln.reference["cdr_ids"]}
    with session_factory() as session:
        item = session.execute(select(BillableItem).where(BillableItem.cdr_id == "VLT-TEST-LDX-LATE")).scalar_one()
        assert (item.own_period, item.period_key, item.late, item.document_number) == \
            ("2026-09", OCT, True, ldx.number)
    # the September invoice is untouched
    assert len(september.documents[0].sessions) == 1
