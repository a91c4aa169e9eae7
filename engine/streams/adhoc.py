"""Ad-hoc stream: one document per session, at once.

For every stored ``adhoc`` Decision without a document: build the ``BillingDocument`` - number
from the AH- range, issue date = the session's end as a local date, the buyer from the facts (the
PSP e-mail, or the registered customer), the form the amount allows (``invoice_form``: §33 UStDV
small-amount invoice up to 250 EUR gross, else a full §14 invoice), paid by the PSP transaction -
and hand it to the provider through the outbox (``documents.issue``). A credit CDR becomes a
credit note that names the original's document number (EN 16931 BG-3); it waits until the
original is issued, and when the original will never be (it is not an ad-hoc CDR that was
billed) it opens a ``CREDIT_WITHOUT_INVOICE`` exception instead of guessing.

Idempotent: the business key ``adhoc:<COUNTRY>*<PARTY>*<CDR id>`` is claimed once, so processing a
Decision twice (two workers, a retry, a re-run) issues one document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine.documents.model import CREDIT_NOTE, INVOICE, BillingDocument, Payment, SessionRef, invoice_form
from engine.money import to_decimal
from engine.rates.model import StreamPrice
from engine.rates.ratecard import power_type_of
from engine.store._sql import utcnow
from engine.store.billing_models import DocumentClaim
from engine.store.exceptions import open_exception
from engine.store.models import Cdr, DecisionRecord
from engine.streams.documents import (
    PLACEHOLDER_NUMBER, Issued, PostingBook, adhoc_key, cdr_ref, customer_party, issue, load_claim,
    seller_party,
)
from engine.timezones import zone

STREAM = "adhoc"
CREDIT_WITHOUT_INVOICE = "CREDIT_WITHOUT_INVOICE"


@dataclass
class AdhocRun:
    issued: list[Issued] = field(default_factory=list)
    already: int = 0
    waiting: list[str] = field(default_factory=list)      # credit CDRs whose original is not issued yet
    exceptions: list[str] = field(default_factory=list)   # credit CDRs whose original will never be

    @property
    def documents(self) -> list[BillingDocument]:
        return [i.document for i in self.issued if i.document is not None]


@dataclass(frozen=True)
class StoredAdhoc:
    cdr_pk: int
    decision_id: int
    key: tuple[str, str, str]
    cdr: Mapping[str, Any]
    facts: Mapping[str, Any]
    pricing: Mapping[str, Any]

    @property
    def credit(self) -> bool:
        return bool(self.cdr.get("credit"))


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _local_dates(cdr: Mapping[str, Any], facts: Mapping[str, Any], default_tz: str) -> tuple[date, date]:
    tz = zone(str((facts.get("location") or {}).get("time_zone") or default_tz))
    start = _when(cdr.get("start_date_time")) or datetime.now(timezone.utc)
    end = _when(cdr.get("end_date_time")) or start
    return start.astimezone(tz).date(), end.astimezone(tz).date()


def _buyer(facts: Mapping[str, Any], cdr: Mapping[str, Any]):
    from engine.documents.model import Party

    customer = facts.get("customer")
    psp = facts.get("psp") or {}
    if customer:
        party = customer_party(customer)
        return party if party.email or not psp.get("email") else Party(**dict(party.to_json(), email=psp["email"]))
    uid = (cdr.get("cdr_token") or {}).get("uid")
    return Party(name="Ad-hoc customer", email=psp.get("email"), id=uid)


def build_adhoc_document(bundle: Any, item: StoredAdhoc, *, preceding: DocumentClaim | None = None,
                         postings: PostingBook | None = None) -> BillingDocument:
    """The (unnumbered) document of one ad-hoc session; ``preceding`` is the original's claim for a
    credit CDR. Pure given its inputs."""
    cdr, facts = item.cdr, item.facts
    default_tz = str(bundle.operator.get("default_time_zone", "UTC"))
    start_day, end_day = _local_dates(cdr, facts, default_tz)
    price = StreamPrice.from_json(item.pricing)
    psp = facts.get("psp") or {}
    charged = item.pricing.get("charged") or {}
    location = facts.get("location") or {}
    postings = postings or PostingBook(bundle)
    centre = location.get("cost_centre")
    credit = item.credit
    paid = None if credit or charged.get("amount") is None else to_decimal(charged["amount"])
    session = SessionRef(
        cdr_id=item.key[2], session_id=cdr.get("session_id"), start=_when(cdr.get("start_date_time")),
        end=_when(cdr.get("end_date_time")) or _when(cdr.get("start_date_time")),
        energy_kwh=to_decimal(cdr.get("total_energy") or "0"), amount=price.totals.excl_vat,
        ocpi_reference=cdr_ref(*item.key), location_id=location.get("id") or (cdr.get("cdr_location") or {}).get("id"),
        power_type=power_type_of(cdr), category=location.get("category"))
    customer = facts.get("customer") or {}
    metadata: dict[str, Any] = {
        "customer_ref": customer.get("id") or (cdr.get("cdr_token") or {}).get("uid"),
        "customer_type": customer.get("type") or "B2C",
        "cdr_ref": cdr_ref(*item.key), "psp_transaction": psp.get("id"),
        "line_postings": postings.postings(STREAM, price.lines, lambda line: centre, lambda line: item.cdr_pk),
    }
    if preceding is not None and preceding.document:
        metadata["preceding_issue_date"] = preceding.document.get("issue_date")
    return BillingDocument(
        number=PLACEHOLDER_NUMBER, doc_type=CREDIT_NOTE if credit else INVOICE, form=invoice_form(price),
        stream=STREAM, issue_date=end_day, period_start=start_day, period_end=end_day,
        seller=seller_party(bundle), buyer=_buyer(facts, cdr), price=price,
        payment=Payment(psp_reference=psp.get("id"), paid_amount=paid), sessions=(session,),
        notes=(), preceding_number=preceding.number if preceding is not None else None,
        period_key=None, metadata=metadata)


def _pending_query(limit: int | None, after: int):
    claims = DocumentClaim.__table__
    query = (select(Cdr.id, DecisionRecord.id, Cdr.country_code, Cdr.party_id, Cdr.cdr_id, Cdr.normalised_json,
                    DecisionRecord.facts, DecisionRecord.pricing)
             .join(DecisionRecord, and_(DecisionRecord.cdr_pk == Cdr.id, DecisionRecord.is_current))
             .outerjoin(claims, and_(claims.c.cdr_pk == Cdr.id, claims.c.stream == STREAM))
             .where(DecisionRecord.stream == STREAM, DecisionRecord.pricing.is_not(None), claims.c.id.is_(None),
                    Cdr.id > after)
             .order_by(Cdr.id))
    return query.limit(limit) if limit else query


def pending_adhoc(session: Session, *, limit: int | None = None, after: int = 0) -> list[StoredAdhoc]:
    """Stored ad-hoc Decisions that have no document yet, oldest first."""
    return [StoredAdhoc(pk, did, (cc, party, cid), cdr or {}, facts or {}, pricing or {})
            for pk, did, cc, party, cid, cdr, facts, pricing in session.execute(_pending_query(limit, after))]


def _original_state(session: Session, key: tuple[str, str, str]) -> str:
    """'pending' if the original is an ad-hoc CDR still waiting for its document, else 'never'."""
    row = session.execute(select(DecisionRecord.stream)
                          .join(Cdr, Cdr.id == DecisionRecord.cdr_pk)
                          .where(Cdr.country_code == key[0], Cdr.party_id == key[1], Cdr.cdr_id == key[2],
                                 DecisionRecord.is_current)).scalar_one_or_none()
    return "pending" if row == STREAM else "never"


def issue_one(session: Session, bundle: Any, item: StoredAdhoc, run: AdhocRun, *, postings: PostingBook | None = None,
              now: datetime | None = None) -> Issued | None:
    """Issue the document of one stored ad-hoc Decision in the caller's transaction."""
    preceding = None
    if item.credit:
        reference = item.cdr.get("credit_reference_id")
        original = (item.key[0], item.key[1], str(reference)) if reference else None
        preceding = load_claim(session, business_key=adhoc_key(*original)) if original else None
        if preceding is None:
            if original is not None and _original_state(session, original) == "pending":
                run.waiting.append(item.key[2])
                return None
            open_exception(session, CREDIT_WITHOUT_INVOICE, dedup_key=f"credit-without-invoice:{item.cdr_pk}",
                           cdr_pk=item.cdr_pk, decision_id=item.decision_id, now=now,
                           detail={"key": list(item.key), "credit_reference_id": reference,
                                   "description": "credit CDR whose original was never invoiced in the "
                                                  "adhoc stream: no credit note issued"})
            run.exceptions.append(item.key[2])
            return None
    doc = build_adhoc_document(bundle, item, preceding=preceding, postings=postings)
    issued = issue(session, doc, business_key=adhoc_key(*item.key), party_ref=doc.metadata.get("customer_ref"),
                   cdr_pk=item.cdr_pk, now=now)
    if issued.new:
        run.issued.append(issued)
    else:
        run.already += 1
    return issued


def issue_adhoc_documents(session_factory: Callable[[], Session], bundle: Any, *, batch_size: int = 200,
                          now: datetime | None = None) -> AdhocRun:
    """Issue the documents of every stored ad-hoc Decision that has none; commit per batch.

    Originals come before their credits (ids ascending; a credit whose original is still
    pending is retried after the first pass, within the same call)."""
    run = AdhocRun()
    postings = PostingBook(bundle)
    after = 0
    while True:
        with session_factory() as session:
            batch = pending_adhoc(session, limit=batch_size, after=after)
            if not batch:
                break
            for item in batch:
                issue_one(session, bundle, item, run, postings=postings, now=now or utcnow())
            session.commit()
            after = batch[-1].cdr_pk
    if run.waiting:  # credits that came before their originals in id order
        waiting, run.waiting = run.waiting, []
        with session_factory() as session:
            for item in pending_adhoc(session):
                if item.key[2] in waiting:
                    issue_one(session, bundle, item, run, postings=postings, now=now or utcnow())
            session.commit()
    return run
