"""What every stream needs to issue a document: parties, posting intents, notes, and ``issue``.

``issue`` is the one way a stream issues a document, in the caller's transaction:

1. claim the document's business key in ``document_claims`` (``INSERT ... ON CONFLICT DO
   NOTHING``). A key that is already claimed means "issued before" (a repeated run, a retry, the
   loser of a race): nothing else happens, and above all no number is drawn;
2. draw the next number of the stream's range (``engine.store.numbers``), so a number exists
   only if its document does (the counter rolls back with the transaction);
3. store the numbered ``BillingDocument`` (JSON) on the claim and enqueue one outbox message
   ``provider.issue`` whose idempotency key is derived from the business key - never a fresh
   random id, so a retry can never bill twice.

Business keys: ``adhoc:<COUNTRY>*<PARTY>*<CDR id>`` (one per CDR, credit CDRs have their own id),
``subscription:<period>:<customer>:base_fee|consumption``, ``msp:<period>:<MSP party>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.documents.model import BillingDocument, Party, Payment, SessionRef
from engine.money import to_decimal
from engine.rates.model import PriceLine, StreamPrice
from engine.store._sql import insert_ignore, utcnow
from engine.store.billing_models import BillableItem, DocumentClaim
from engine.store.numbers import next_number
from engine.store.outbox import enqueue

ISSUE_KIND = "provider.issue"
VOID_KIND = "provider.void"
PAYMENT_KIND = "provider.payment"
EMAIL_KIND = "email"
PROVIDER_KINDS = (ISSUE_KIND, VOID_KIND, PAYMENT_KIND)
PLACEHOLDER_NUMBER = "(unnumbered)"
SESSION_LIST = "session_list"   # metadata key: the session list is read from billable_items
_ZERO = Decimal(0)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- keys

def cdr_ref(country_code: str, party_id: str, cdr_id: str) -> str:
    """The OCPI reference of a CDR: COUNTRY*PARTY*CDR_ID."""
    return f"{country_code}*{party_id}*{cdr_id}"


def adhoc_key(country_code: str, party_id: str, cdr_id: str) -> str:
    return f"adhoc:{cdr_ref(country_code, party_id, cdr_id)}"


def subscription_key(period_key: str, customer_id: str, part: str) -> str:
    return f"subscription:{period_key}:{customer_id}:{part}"


def msp_key(period_key: str, party: str) -> str:
    return f"msp:{period_key}:{party}"


def issue_message_key(business_key: str) -> str:
    return f"issue:{business_key}"


def email_message_key(number: str) -> str:
    return f"email:{number}"


# --------------------------------------------------------------------------- parties

def _address(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else ({"street": data} if isinstance(data, str) else {})


def seller_party(bundle: Any) -> Party:
    """The CPO (rules/operator.yaml)."""
    op = bundle.operator
    address = _address(op.get("address"))
    return Party(name=str(op.get("name") or "CPO"), street=address.get("street"),
                 postal_code=_text(address.get("postal_code")), city=address.get("city"),
                 country=address.get("country") or op.get("country"), vat_id=op.get("vat_id"),
                 tax_number=_text(op.get("tax_number")), email=op.get("email"))


def customer_party(customer: Mapping[str, Any]) -> Party:
    address = _address(customer.get("address"))
    return Party(name=str(customer.get("name") or customer.get("id")), street=address.get("street"),
                 postal_code=_text(address.get("postal_code")), city=address.get("city"),
                 country=address.get("country") or customer.get("country"), vat_id=customer.get("vat_id"),
                 email=customer.get("email"), buyer_reference=customer.get("buyer_reference"),
                 id=customer.get("id"))


def msp_party(msp: Mapping[str, Any]) -> Party:
    address = _address(msp.get("address"))
    return Party(name=str(msp.get("name") or msp.get("party")), street=address.get("street"),
                 postal_code=_text(address.get("postal_code")), city=address.get("city"),
                 country=address.get("country") or msp.get("country"), vat_id=msp.get("vat_id"),
                 email=msp.get("email"), buyer_reference=msp.get("buyer_reference"), id=msp.get("party"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- posting intents

class PostingBook:
    """mappings/posting_groups.yaml: (stream, tax treatment, product) -> posting group, cost centre."""

    def __init__(self, bundle: Any):
        self.groups: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        for group in getattr(bundle, "posting_groups", ()) or ():
            self.groups.setdefault((group.get("stream"), group.get("tax_treatment"), group.get("product")), group)

    def posting(self, stream: str, line: PriceLine, location_cost_centre: str | None) -> dict[str, Any]:
        group = self.groups.get((stream, line.tax_treatment, line.product))
        if group is None:
            return {"posting_group": None, "cost_centre": location_cost_centre}
        rule = group.get("cost_centre")
        centre = location_cost_centre if rule in (None, "from_location") else rule
        return {"posting_group": group.get("id"), "cost_centre": centre}

    def postings(self, stream: str, lines: Sequence[PriceLine],
                 cost_centre_of: Callable[[PriceLine], str | None],
                 cdr_pk_of: Callable[[PriceLine], int | None] = lambda line: None) -> list[dict[str, Any]]:
        """One posting intent per line (aligned with ``lines``), kept in ``metadata.line_postings``."""
        return [dict(self.posting(stream, line, cost_centre_of(line)), cdr_pk=cdr_pk_of(line)) for line in lines]


def tax_notes(price: StreamPrice) -> tuple[str, ...]:
    """The legal notes of the document's tax groups (reverse-charge wording, exemptions), once
    each. They travel with the tax groups (EN 16931 BT-120), so they are NOT repeated in
    ``BillingDocument.notes`` (the renderers print both)."""
    notes = [g.note for g in price.totals.groups if g.note]
    if price.tax is not None and price.tax.note:
        notes.append(price.tax.note)
    return tuple(dict.fromkeys(notes))


# --------------------------------------------------------------------------- JSON round trip

def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value)[:10])


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def party_from_json(data: Mapping[str, Any] | None) -> Party:
    data = dict(data or {})
    fields = Party.__dataclass_fields__
    return Party(**{k: v for k, v in data.items() if k in fields})


def session_from_json(data: Mapping[str, Any]) -> SessionRef:
    return SessionRef(cdr_id=data["cdr_id"], session_id=data.get("session_id"), start=_datetime(data["start"]),
                      end=_datetime(data["end"]), energy_kwh=to_decimal(data.get("energy_kwh") or "0"),
                      amount=to_decimal(data.get("amount") or "0"), ocpi_reference=data.get("ocpi_reference", ""),
                      location_id=data.get("location_id"), power_type=data.get("power_type"),
                      category=data.get("category"), late=bool(data.get("late")))


def document_from_json(data: Mapping[str, Any], session: Session | None = None) -> BillingDocument:
    """The inverse of ``BillingDocument.to_json()`` (the price's lines are authoritative).

    A period document whose session list stays in ``billable_items`` (``metadata.session_list``,
    see ``StoredSessions``) gets it as a ``StoredSessions`` read through ``session``."""
    payment = dict(data.get("payment") or {})
    period = data.get("period") or {}
    return BillingDocument(
        number=data["number"], doc_type=data["doc_type"], form=data["form"], stream=data["stream"],
        issue_date=_date(data["issue_date"]), period_start=_date(period.get("start")),
        period_end=_date(period.get("end")), seller=party_from_json(data.get("seller")),
        buyer=party_from_json(data.get("buyer")), price=StreamPrice.from_json(data["price"]),
        payment=Payment(terms_days=payment.get("terms_days"), due_date=_date(payment.get("due_date")),
                        iban=payment.get("iban"), psp_reference=payment.get("psp_reference"),
                        paid_amount=_dec(payment.get("paid_amount"))),
        sessions=_sessions_of(data, session),
        notes=tuple(data.get("notes") or ()), preceding_number=data.get("preceding_number"),
        period_key=data.get("period_key"), metadata=dict(data.get("metadata") or {}))


def _sessions_of(data: Mapping[str, Any], session: Session | None) -> Sequence[SessionRef]:
    listed = data.get("sessions")
    ref = (data.get("metadata") or {}).get(SESSION_LIST)
    if listed or not isinstance(ref, Mapping):
        return tuple(session_from_json(s) for s in listed or ())
    if session is None:
        log.warning("document %s: its session list is in billable_items, but no database session was given",
                    data.get("number"))
        return ()
    return StoredSessions(session, stream=ref["stream"], period_key=ref["period_key"], party_ref=ref["party_ref"],
                          count=int(ref.get("count") or 0), document_number=data.get("number"))


# --------------------------------------------------------------------------- stored session lists

_SESSION_COLUMNS = (BillableItem.cdr_id, BillableItem.session_id, BillableItem.start_at, BillableItem.end_at,
                    BillableItem.energy_kwh, BillableItem.net, BillableItem.cdr_ref, BillableItem.location_id,
                    BillableItem.power_type, BillableItem.category, BillableItem.late)
STREAM_BATCH = 5_000


def session_ref_of(row: Any) -> SessionRef:
    """A ``SessionRef`` from a ``billable_items`` row (ORM object or a row of ``_SESSION_COLUMNS``)."""
    energy = row.energy_kwh
    return SessionRef(cdr_id=row.cdr_id, session_id=row.session_id, start=row.start_at, end=row.end_at or row.start_at,
                      energy_kwh=Decimal(format(energy.normalize(), "f")) if energy else _ZERO,
                      amount=row.net, ocpi_reference=row.cdr_ref, location_id=row.location_id,
                      power_type=row.power_type, category=row.category, late=bool(row.late))


class StoredSessions(Sequence[SessionRef]):
    """The session list of a period document, kept where it already is: the party's
    ``billable_items`` of the period (ordered by start, id). Iterating streams the rows through
    ``session`` (a server-side cursor on PostgreSQL, ``yield_per``); nothing is held in memory,
    and the document's JSON on its claim carries only ``metadata.session_list`` (stream, period,
    party, count) instead of every session. ``len()`` is the count recorded when the document
    was made; indexing reads the whole list once.

    Once the document is issued its items carry its number (``mark_billed`` in the same
    transaction), so a list bound to a ``document_number`` reads exactly the document's items."""

    def __init__(self, session: Session, *, stream: str, period_key: str, party_ref: str, count: int,
                 document_number: str | None = None):
        self.session = session
        self.stream, self.period_key, self.party_ref = stream, period_key, party_ref
        self.count = count
        self.document_number = document_number
        self._list: list[SessionRef] | None = None

    def reference(self) -> dict[str, Any]:
        """What ``metadata.session_list`` records."""
        return {"source": "billable_items", "stream": self.stream, "period_key": self.period_key,
                "party_ref": self.party_ref, "count": self.count}

    def query(self) -> Any:
        query = (select(*_SESSION_COLUMNS)
                 .where(BillableItem.stream == self.stream, BillableItem.period_key == self.period_key,
                        BillableItem.party_ref == self.party_ref)
                 .order_by(BillableItem.start_at, BillableItem.id))
        if self.document_number is not None and self.document_number != PLACEHOLDER_NUMBER:
            query = query.where(BillableItem.document_number == self.document_number)
        return query.execution_options(yield_per=STREAM_BATCH)

    def rows(self) -> Iterator[Any]:
        """The rows (``_SESSION_COLUMNS``), streamed. Outside a transaction the read gets one of
        its own, ended after the last row (a closed session is reusable; on SQLite an open read
        transaction would hold the write lock)."""
        session = self.session
        own = not session.in_transaction()
        try:
            yield from session.execute(self.query())
        finally:
            if own:
                session.rollback()

    def __iter__(self) -> Iterator[SessionRef]:
        if self._list is not None:
            return iter(self._list)
        return (session_ref_of(row) for row in self.rows())

    def __len__(self) -> int:
        return self.count if self._list is None else len(self._list)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index: Any) -> Any:
        if self._list is None:
            self._list = list(self)
        return self._list[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredSessions):
            return (self.reference(), self.document_number) == (other.reference(), other.document_number)
        if isinstance(other, Sequence):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"StoredSessions({self.stream}:{self.period_key}:{self.party_ref}, {self.count} sessions"
                f"{', ' + self.document_number if self.document_number else ''})")


def document_json(document: BillingDocument) -> dict[str, Any]:
    """``document.to_json()`` for the claim: a stored session list is referenced, not copied."""
    sessions = document.sessions
    if isinstance(sessions, StoredSessions):
        metadata = dict(document.metadata)
        metadata[SESSION_LIST] = sessions.reference()
        return replace(document, sessions=(), metadata=metadata).to_json()
    return document.to_json()


# --------------------------------------------------------------------------- issuing

def document_vat(doc: BillingDocument) -> Decimal:
    """The document's VAT total (BT-110)."""
    return doc.price.totals.vat_total


@dataclass(frozen=True)
class Issued:
    """What ``issue`` did: ``new`` False means the business key was claimed before (nothing done)."""

    business_key: str
    number: str | None
    document: BillingDocument | None
    new: bool


def claimed_number(session: Session, business_key: str) -> str | None:
    """The number issued for ``business_key`` (None: never issued)."""
    return session.execute(select(DocumentClaim.number).where(DocumentClaim.business_key == business_key)
                           ).scalar_one_or_none()


def is_claimed(session: Session, business_key: str) -> bool:
    return session.execute(select(DocumentClaim.id).where(DocumentClaim.business_key == business_key)
                           ).first() is not None


def issue(session: Session, document: BillingDocument, *, business_key: str, party_ref: str | None,
          cdr_pk: int | None = None, now: datetime | None = None) -> Issued:
    """Claim ``business_key``, number ``document`` from its stream's range and enqueue it for the
    provider - or do nothing if the key was claimed before. The caller commits."""
    now = now or utcnow()
    claim_id = insert_ignore(session, DocumentClaim, {
        "business_key": business_key, "number": None, "stream": document.stream, "doc_type": document.doc_type,
        "form": document.form, "period_key": document.period_key, "party_ref": party_ref, "cdr_pk": cdr_pk,
        "preceding_number": document.preceding_number, "currency": document.currency,
        "net": document.net, "vat": document_vat(document), "gross": document.gross, "document": None, "created_at": now,
    }, ["business_key"])
    if claim_id is None:
        return Issued(business_key, claimed_number(session, business_key), None, False)
    number = next_number(session, document.stream, document.issue_date.year, now=now)
    sessions = document.sessions
    if isinstance(sessions, StoredSessions):   # from now on: the items billed on this number
        sessions = StoredSessions(sessions.session, stream=sessions.stream, period_key=sessions.period_key,
                                  party_ref=sessions.party_ref, count=sessions.count, document_number=number)
    numbered = replace(document, number=number, sessions=sessions,
                       metadata=dict(document.metadata, business_key=business_key))
    session.execute(update(DocumentClaim).where(DocumentClaim.id == claim_id)
                    .values(number=number, document=document_json(numbered)))
    enqueue(session, ISSUE_KIND, {"business_key": business_key, "number": number, "stream": document.stream},
            issue_message_key(business_key), now=now)
    return Issued(business_key, number, numbered, True)


def load_claim(session: Session, *, number: str | None = None, business_key: str | None = None) -> DocumentClaim | None:
    query = select(DocumentClaim)
    query = query.where(DocumentClaim.number == number) if number else \
        query.where(DocumentClaim.business_key == business_key)
    return session.execute(query).scalar_one_or_none()


def claimed_document(session: Session, number: str) -> BillingDocument | None:
    """The BillingDocument issued under ``number`` (as handed to the provider)."""
    claim = load_claim(session, number=number)
    if claim is None or not claim.document:
        return None
    return document_from_json(claim.document, session)


def sum_totals(documents: Iterable[BillingDocument]) -> tuple[Decimal, Decimal, Decimal]:
    net = vat = gross = Decimal("0.00")
    for doc in documents:
        net += doc.net
        vat += document_vat(doc)
        gross += doc.gross
    return net, vat, gross
