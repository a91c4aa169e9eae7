"""Small builders of BillingDocuments for the renderer and archive tests.

Prices are made the one way the engine makes them (``engine.rates.model.build_price``: settle
the lines, compute the totals per tax class and rate), so the documents carry exactly the
numbers a stream would hand to the renderers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from engine.documents.model import (
    CREDIT_NOTE, FULL, INVOICE, SMALL_AMOUNT, BillingDocument, Party, Payment, SessionRef, invoice_form,
)
from engine.money import line_net
from engine.rates.model import PriceLine, StreamPrice, build_price
from engine.tax.treatment import TaxTreatment

D = Decimal

SELLER = Party(name="Voltaro Charging GmbH", street="Chausseestraße 86", postal_code="10115", city="Berlin",
               country="DE", vat_id="DE811907980", tax_number="37/123/45678", email="billing@voltaro.example",
               id="VOLTARO")
MSP_DE = Party(name="Mobilix GmbH", street="Hafenstraße 12", postal_code="20457", city="Hamburg", country="DE",
               vat_id="DE136695976", email="invoices@mobilix.example", buyer_reference="PO-4711", id="DE*MSX")
MSP_NL = Party(name="Laadnet B.V.", street="Keizersgracht 1", postal_code="1015 CJ", city="Amsterdam",
               country="NL", vat_id="NL004495445B01", email="ap@laadnet.example", id="NL*LDN")
CONSUMER = Party(name="Erika Mustermann", street="Heidestraße 17", postal_code="51147", city="Köln", country="DE",
                 email="erika@example.org", id="C-1001")

DOMESTIC_19 = TaxTreatment("domestic", D("19"), "DE", "S")
REVERSE_CHARGE = TaxTreatment("reverse_charge", D("0"), "DE", "AE",
                              "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG).", "DE136695976")
EU_RESELLER = TaxTreatment("eu_reseller", D("0"), "NL", "AE",
                           "Steuerschuldnerschaft des Leistungsempfängers / Reverse charge: Lieferung an einen "
                           "Wiederverkäufer, im Inland nicht steuerbar (§ 3g UStG, Art. 38, 195 MwStSystRL).",
                           "NL004495445B01")


def line(product: str, description: str, quantity: str, unit: str, unit_price: str | None, *,
         tax: TaxTreatment = DOMESTIC_19, net: str | None = None, gross: str | None = None,
         reference: dict[str, Any] | None = None) -> PriceLine:
    """A priced line; the net is quantity x unit price (2 dp) unless given."""
    q = D(quantity)
    p = None if unit_price is None else D(unit_price)
    amount = D(net) if net is not None else line_net(q, p)
    return PriceLine(product, description, q, unit, p, amount, tax.rate, tax.treatment, tax.tax_class,
                     gross=None if gross is None else D(gross), reference=reference or {})


def price(stream: str, lines: list[PriceLine], tax: TaxTreatment, *, gross: bool = False) -> StreamPrice:
    return build_price(stream, lines, prices_include_vat=gross, tax=tax, currency="EUR")


def sessions(count: int, *, start: str = "2026-10-01T08:00:00+00:00", late_every: int = 0,
             prefix: str = "CDR") -> tuple[SessionRef, ...]:
    first = datetime.fromisoformat(start).astimezone(timezone.utc)
    out = []
    for i in range(count):
        begin = first + timedelta(hours=7 * i)
        cdr_id = f"{prefix}-{i + 1:05d}"
        out.append(SessionRef(
            cdr_id=cdr_id, session_id=f"S-{i + 1:05d}", start=begin, end=begin + timedelta(minutes=45),
            energy_kwh=D("21.345") + i, amount=(D("6.83") + i).quantize(D("0.01")),
            ocpi_reference=f"DE*VLT*{cdr_id}", location_id=f"LOC-{i % 3 + 1}",
            power_type="DC" if i % 2 else "AC", category="highway" if i % 3 == 0 else "urban",
            late=bool(late_every) and (i + 1) % late_every == 0))
    return tuple(out)


def msp_reverse_charge_invoice(number: str = "MSP-2026-000001", **changes: Any) -> BillingDocument:
    """A consolidated MSP invoice to a domestic reseller: reverse charge (AE), German B2B -> XRechnung."""
    lines = [
        line("ENERGY", "AC urban", "412.5", "kWh", "0.39", tax=REVERSE_CHARGE,
             reference={"power_type": "AC", "category": "urban", "cdr_ids": ["CDR-00001", "CDR-00003"]}),
        line("ENERGY", "DC highway", "233.125", "kWh", "0.59", tax=REVERSE_CHARGE,
             reference={"power_type": "DC", "category": "highway", "cdr_ids": ["CDR-00002"]}),
        line("SESSION_FEE", "Session fee", "3", "session", "0.50", tax=REVERSE_CHARGE),
        line("DISCOUNT", "Volume discount: 5 %", "1", "item", "-15.00", tax=REVERSE_CHARGE),
    ]
    doc = BillingDocument(
        number=number, doc_type=INVOICE, form=FULL, stream="msp", issue_date=date(2026, 11, 3),
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), seller=SELLER, buyer=MSP_DE,
        price=price("msp", lines, REVERSE_CHARGE),
        payment=Payment(terms_days=30, due_date=date(2026, 12, 3), iban="DE02 1203 0000 0000 2020 51"),
        sessions=sessions(3), period_key="2026-10",
        metadata={"seller_contact": {"name": "Clara Abrechnung", "phone": "+49 30 1234567",
                                     "email": "billing@voltaro.example"}})
    return replace(doc, **changes)


def msp_domestic_invoice(number: str = "MSP-2026-000002", **changes: Any) -> BillingDocument:
    """An MSP that does not resell, abroad: taxed at 19 % (S), English, EN 16931 without XRechnung."""
    lines = [
        line("ENERGY", "AC urban", "100.25", "kWh", "0.42"),
        line("ENERGY", "DC highway", "80", "kWh", "0.61"),
        line("TIME", "Charging time", "95", "min", "0.02"),
        line("IDLE_FEE", "Idle fee", "12", "min", "0.10"),
    ]
    doc = BillingDocument(
        number=number, doc_type=INVOICE, form=FULL, stream="msp", issue_date=date(2026, 11, 3),
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), seller=SELLER, buyer=MSP_NL,
        price=price("msp", lines, DOMESTIC_19), payment=Payment(terms_days=14, iban="DE02120300000000202051"),
        sessions=sessions(2), period_key="2026-10")
    return replace(doc, **changes)


def msp_credit_note(number: str = "MSP-2026-000003", **changes: Any) -> BillingDocument:
    """Correction of MSP-2026-000001's first line: the same line negated (cdrflow's convention)."""
    original = msp_reverse_charge_invoice().price.lines[0]
    credited = replace(original.negated(), quantity=D("-20.5"), net=line_net(D("-20.5"), original.unit_price))
    doc = BillingDocument(
        number=number, doc_type=CREDIT_NOTE, form=FULL, stream="msp", issue_date=date(2026, 11, 20),
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), seller=SELLER, buyer=MSP_DE,
        price=price("msp", [credited], REVERSE_CHARGE), preceding_number="MSP-2026-000001",
        notes=("Korrektur: CDR-00003 wurde doppelt abgerechnet.",), sessions=sessions(1, prefix="CRD"),
        metadata={"preceding_issue_date": "2026-11-03"})
    return replace(doc, **changes)


def adhoc_small_receipt(number: str = "AH-2026-000042", **changes: Any) -> BillingDocument:
    """An ad-hoc session paid by card: §33 small-amount invoice, B2C, no e-invoice."""
    lines = [line("ENERGY", "Energie AC", "18.432", "kWh", "0.49"),
             line("SESSION_FEE", "Startgebühr", "1", "session", "0.84")]
    p = price("adhoc", lines, DOMESTIC_19)
    assert invoice_form(p) == SMALL_AMOUNT
    doc = BillingDocument(
        number=number, doc_type=INVOICE, form=SMALL_AMOUNT, stream="adhoc", issue_date=date(2026, 10, 14),
        period_start=date(2026, 10, 14), period_end=date(2026, 10, 14), seller=SELLER,
        buyer=Party(name="Ad-hoc-Kunde"), price=p,
        payment=Payment(psp_reference="pi_3Q0xYz2026", paid_amount=p.totals.incl_vat))
    return replace(doc, **changes)


def subscription_consumption_invoice(number: str = "SUB-2026-000007", **changes: Any) -> BillingDocument:
    """A B2C consumption invoice priced gross (plan prices incl. VAT), with its sessions."""
    lines = [line("ENERGY", "AC", "180.5", "kWh", None, net="0", gross="70.40"),
             line("ENERGY", "DC", "95", "kWh", None, net="0", gross="56.05")]
    p = price("subscription", lines, DOMESTIC_19, gross=True)
    doc = BillingDocument(
        number=number, doc_type=INVOICE, form=FULL, stream="subscription", issue_date=date(2026, 11, 1),
        period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), seller=SELLER, buyer=CONSUMER,
        price=replace(p, lines=tuple(replace(ln, unit_price_gross=(ln.gross / ln.quantity).quantize(D("0.0001")))
                                     for ln in p.lines)),
        payment=Payment(terms_days=14, iban="DE02120300000000202051"), sessions=sessions(4), period_key="2026-10")
    return replace(doc, **changes)


# --------------------------------------------------------------------------- the database side

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)


def store_document(session, doc: BillingDocument, *, log_number: bool = True) -> int:
    """Write ``doc`` as a billing_documents row with its lines (and, like the number ranges do,
    an 'issued' entry in the number log); the row id."""
    from engine.store.models import BillingDocument as Row
    from engine.store.models import BillingDocumentLine, NumberLogEntry

    original_id = None
    if doc.preceding_number:
        from sqlalchemy import select

        original_id = session.execute(select(Row.id).where(Row.number == doc.preceding_number)).scalar_one_or_none()
    row = Row(number=doc.number, stream=doc.stream, doc_type=doc.doc_type, status="issued",
              customer_ref=doc.buyer.id if doc.stream != "msp" else None,
              msp_ref=doc.buyer.id if doc.stream == "msp" else None, period_key=doc.period_key,
              currency=doc.currency, net_amount=doc.net, vat_amount=doc.price.totals.vat_total,
              gross_amount=doc.gross, original_document_id=original_id, provider_ref=f"local:{doc.number}",
              created_at=NOW, issued_at=NOW)
    row.lines = [BillingDocumentLine(line_no=n, product=ln.product, description=ln.description,
                                     quantity=ln.quantity, unit=ln.unit,
                                     unit_price=ln.unit_price if ln.unit_price is not None else D("0"),
                                     net_amount=ln.net, tax_rate=ln.tax_rate, tax_treatment=ln.tax_treatment)
                 for n, ln in enumerate(doc.price.lines, start=1)]
    session.add(row)
    if log_number:
        prefix, year, value = doc.number.rsplit("-", 2)
        session.add(NumberLogEntry(number=doc.number, action="issued", stream=doc.stream, year=int(year),
                                   value=int(value), reason=None, logged_at=NOW))
    session.flush()
    return row.id
