"""The billing document as pure data: the contract between the streams that issue documents and
the renderers (PDF, e-invoice XML, CSV), the archive and the billing providers.

A document is a priced ``StreamPrice`` (lines, tax groups, totals, treatment and its legal note)
plus what makes it an invoice: a number from the stream's range, dates, seller and buyer, the
form the law allows (a §33 UStDV small-amount invoice up to 250 EUR gross, else a full §14
invoice), payment terms and, for credit notes, the preceding invoice (EN 16931 BG-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping

from engine.jsonable import to_jsonable
from engine.money import fmt
from engine.rates.model import StreamPrice

SMALL_AMOUNT_LIMIT = Decimal("250.00")  # §33 UStDV, gross

INVOICE, CREDIT_NOTE = "invoice", "credit_note"          # EN 16931 type codes 380 / 381
SMALL_AMOUNT, FULL = "small_amount", "full"


@dataclass(frozen=True)
class Party:
    name: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None          # ISO 3166-1 alpha-2
    vat_id: str | None = None
    tax_number: str | None = None
    email: str | None = None
    buyer_reference: str | None = None  # XRechnung BT-10
    id: str | None = None               # customer id / MSP party

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class SessionRef:
    """One charging session behind a line: the session list of MSP and consumption invoices."""

    cdr_id: str
    session_id: str | None
    start: datetime
    end: datetime
    energy_kwh: Decimal
    amount: Decimal                 # net, as priced for this document's stream
    ocpi_reference: str             # COUNTRY*PARTY*CDR_ID
    location_id: str | None = None
    power_type: str | None = None
    category: str | None = None
    late: bool = False              # arrived after its own period closed

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(dict(self.__dict__, amount=fmt(self.amount)))


@dataclass(frozen=True)
class Payment:
    terms_days: int | None = None
    due_date: date | None = None
    iban: str | None = None
    psp_reference: str | None = None   # ad-hoc: the PSP transaction that paid it
    paid_amount: Decimal | None = None


@dataclass(frozen=True)
class BillingDocument:
    number: str
    doc_type: str                       # invoice | credit_note
    form: str                           # small_amount | full
    stream: str
    issue_date: date
    period_start: date                  # supply period (BG-14); one day for a single session
    period_end: date
    seller: Party
    buyer: Party
    price: StreamPrice
    payment: Payment = field(default_factory=Payment)
    sessions: tuple[SessionRef, ...] = ()
    notes: tuple[str, ...] = ()
    preceding_number: str | None = None  # credit notes: the invoice they correct (BG-3)
    period_key: str | None = None        # "2026-10" for period documents
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.price.currency or "EUR"

    @property
    def net(self) -> Decimal:
        return self.price.totals.excl_vat

    @property
    def vat(self) -> Decimal:
        return self.price.totals.vat_total

    @property
    def gross(self) -> Decimal:
        return self.price.totals.incl_vat

    def to_json(self) -> dict[str, Any]:
        return to_jsonable({
            "number": self.number, "doc_type": self.doc_type, "form": self.form, "stream": self.stream,
            "issue_date": self.issue_date, "period": {"start": self.period_start, "end": self.period_end},
            "period_key": self.period_key, "seller": self.seller.to_json(), "buyer": self.buyer.to_json(),
            "currency": self.currency, "price": self.price.to_json(),
            "payment": {k: v for k, v in self.payment.__dict__.items() if v is not None},
            "sessions": [s.to_json() for s in self.sessions], "notes": list(self.notes),
            "preceding_number": self.preceding_number, "metadata": dict(self.metadata),
        })


def invoice_form(price: StreamPrice, *, limit: Decimal = SMALL_AMOUNT_LIMIT) -> str:
    """§33 UStDV small-amount invoice when the gross is at most 250 EUR and no reverse charge
    applies (a reverse-charge supply always needs the full §14 invoice with the buyer's VAT id)."""
    treatment = price.tax.treatment if price.tax else "domestic"
    if abs(price.totals.incl_vat) <= limit and treatment == "domestic":
        return SMALL_AMOUNT
    return FULL
