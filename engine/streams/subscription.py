"""Subscription stream: per customer and cycle, a base-fee invoice and a consumption invoice.

The cycle is the calendar month ``period_key``. For every customer with a subscription that
overlaps it (from the FactSource: contract management) or with sessions in it:

* the recurring base fee, pro rata to the day for a start, an end or a plan change inside the
  cycle (``engine.rates.billing_cycle`` does the math: cumulative rounding, never above the fee);
* a separate consumption invoice listing every session of the cycle (the stored subscription
  Decisions assigned to the period, late ones included and flagged) at the plan's rates, VAT once
  per rate over the whole document.

Numbers come from the SUB- range; the business keys are ``subscription:<period>:<customer>:
base_fee`` and ``...:consumption``, so a repeated or resumed close issues nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.model import FULL, INVOICE, BillingDocument, Payment, SessionRef, invoice_form
from engine.rates import billing_cycle
from engine.rates.model import PriceLine, StreamPrice
from engine.store.billing_models import BillableItem
from engine.store.models import DecisionRecord
from engine.streams.billable import count_late, mark_billed, parties_in, period_items
from engine.streams.documents import (
    PLACEHOLDER_NUMBER, PostingBook, customer_party, is_claimed, issue, seller_party, subscription_key,
)
from engine.streams.msp import record_failure
from engine.streams.periods import (
    ALREADY_CLOSED, CLOSED, INCOMPLETE, PeriodResult, check_as_of, finish, prepare,
)

STREAM = "subscription"
BASE_FEE, CONSUMPTION = "base_fee", "consumption"
DEFAULT_TERMS_DAYS = 14


# --------------------------------------------------------------------------- reference data

def _overlaps(sub: Mapping[str, Any], start: date, end: date) -> bool:
    valid_from = sub.get("valid_from")
    valid_to = sub.get("valid_to")
    begins = date.fromisoformat(str(valid_from)[:10]) if valid_from else date.min
    ends = date.fromisoformat(str(valid_to)[:10]) if valid_to else date.max
    return begins <= end and ends >= start


class Directory:
    """The customers and their subscription records, as the reference source knows them.

    The FactSource protocol only looks up by token / customer; a cycle close must also find the
    customers who owe a base fee without a single session. Listing comes from, in order: the
    source's ``all_subscriptions()`` (+ ``customer(id)``) when it offers them, the embedded YAML
    source's ``customers``, or the reference tables in the store (``cdrflow load``, read with
    ``engine.store.reference.export_records``) when the source is the database one. Without any
    of them only customers with sessions in the period are billed (noted on the result)."""

    def __init__(self, customers: Mapping[str, Mapping[str, Any]], subscriptions: Mapping[str, list[dict[str, Any]]],
                 *, complete: bool):
        self.customers = dict(customers)
        self.subscriptions = {k: list(v) for k, v in subscriptions.items()}
        self.complete = complete

    @classmethod
    def of(cls, session: Session, source: Any) -> "Directory":
        if source is not None and hasattr(source, "all_subscriptions"):
            subs: dict[str, list[dict[str, Any]]] = {}
            for sub in source.all_subscriptions():
                subs.setdefault(str(sub["customer_id"]), []).append(dict(sub))
            customers = {cid: source.customer(cid) for cid in subs} if hasattr(source, "customer") else {}
            return cls({k: v for k, v in customers.items() if v}, subs, complete=True)
        listed = getattr(source, "customers", None)
        if isinstance(listed, Mapping):
            return cls(listed, {cid: [dict(s) for s in source.subscriptions_of(cid)] for cid in listed}, complete=True)
        if source is not None and type(source).__name__ == "DbSource":
            from engine.store.reference import export_records

            customers = {c["id"]: c for c in export_records(session, "customers")}
            subs = {}
            for sub in export_records(session, "subscriptions"):
                subs.setdefault(str(sub["customer_id"]), []).append(dict(sub))
            return cls(customers, subs, complete=True)
        return cls({}, {}, complete=False)

    def overlapping(self, start: date, end: date) -> set[str]:
        return {cid for cid, subs in self.subscriptions.items() if any(_overlaps(s, start, end) for s in subs)}

    def customer(self, customer_id: str, items_facts: list[Mapping[str, Any]]) -> dict[str, Any]:
        record = self.customers.get(customer_id)
        if record is None:
            record = next(((f.get("customer") or None) for f in items_facts if f.get("customer")), None)
        record = dict(record or {"id": customer_id, "name": customer_id})
        record.pop("tokens", None)
        return record

    def subscriptions_of(self, customer_id: str, items_facts: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if customer_id in self.subscriptions or self.complete:
            return list(self.subscriptions.get(customer_id, []))
        seen: dict[str, dict[str, Any]] = {}
        for facts in items_facts:
            sub = facts.get("subscription")
            if sub and sub.get("id"):
                seen[sub["id"]] = dict(sub)
        return list(seen.values())


# --------------------------------------------------------------------------- documents

def _session_ref(item: BillableItem) -> SessionRef:
    return SessionRef(cdr_id=item.cdr_id, session_id=item.session_id, start=item.start_at,
                      end=item.end_at or item.start_at,
                      energy_kwh=Decimal(format(item.energy_kwh.normalize(), "f")) if item.energy_kwh else Decimal(0),
                      amount=item.net, ocpi_reference=item.cdr_ref, location_id=item.location_id,
                      power_type=item.power_type, category=item.category, late=item.late)


def _document(bundle: Any, price: StreamPrice, *, customer: Mapping[str, Any], period_key: str, start: date,
              end: date, as_of: date, part: str, sessions: tuple[SessionRef, ...], postings: list[dict[str, Any]],
              extra: Mapping[str, Any]) -> BillingDocument:
    business = str(customer.get("type") or "B2C").upper() == "B2B" or bool(customer.get("vat_id"))
    terms = int(bundle.operator.get("payment_terms_days") or DEFAULT_TERMS_DAYS)
    notes = []  # the tax notes come with the tax groups (BT-120)
    late = sum(1 for s in sessions if s.late)
    if late:
        notes.append(f"{late} session(s) of earlier periods delivered late by the CPMS are included (marked late).")
    return BillingDocument(
        number=PLACEHOLDER_NUMBER, doc_type=INVOICE, form=FULL if business else invoice_form(price), stream=STREAM,
        issue_date=as_of, period_start=start, period_end=end, seller=seller_party(bundle),
        buyer=customer_party(customer), price=price,
        payment=Payment(terms_days=terms, due_date=as_of + timedelta(days=terms), iban=bundle.operator.get("iban")),
        sessions=sessions, notes=tuple(notes), period_key=period_key,
        metadata=dict(extra, customer_ref=customer.get("id"), customer_type="B2B" if business else "B2C",
                      part=part, line_postings=postings))


def build_cycle_documents(session: Session, bundle: Any, period_key: str, customer_id: str, *, as_of: date,
                          source: Any = None, directory: Directory | None = None, postings: PostingBook | None = None
                          ) -> tuple[BillingDocument | None, BillingDocument | None, list[dict[str, Any]]]:
    """(base-fee document, consumption document, problems) of one customer for one cycle;
    a document is None when it has no lines or cannot be made (then ``problems`` says why)."""
    start, end = check_as_of(period_key, as_of)
    items = period_items(session, STREAM, period_key, customer_id)
    decisions = {}
    if items:
        rows = session.execute(select(DecisionRecord.id, DecisionRecord.facts, DecisionRecord.pricing)
                               .where(DecisionRecord.id.in_([i.decision_id for i in items])))
        decisions = {did: (facts or {}, pricing or {}) for did, facts, pricing in rows}
    facts_list = [decisions[i.decision_id][0] for i in items if i.decision_id in decisions]
    directory = directory or Directory.of(session, source)
    customer = directory.customer(customer_id, facts_list)
    subscriptions = directory.subscriptions_of(customer_id, facts_list)
    priced = [StreamPrice.from_json(decisions[i.decision_id][1]) for i in items if i.decision_id in decisions]
    cycle = billing_cycle(bundle, subscriptions, start, end, sessions=priced, customer=customer)
    postings = postings or PostingBook(bundle)
    problems: list[dict[str, Any]] = []
    centres = {i.cdr_id: i.cost_centre for i in items}
    pks = {i.cdr_id: i.cdr_pk for i in items}

    def centre_of(line: PriceLine) -> str | None:
        return centres.get(str(line.reference.get("cdr_id")))

    def pk_of(line: PriceLine) -> int | None:
        return pks.get(str(line.reference.get("cdr_id")))

    base = consumption = None
    if cycle.base_fee.errors:
        problems += [e.to_dict() for e in cycle.base_fee.errors]
    elif cycle.base_fee.lines:
        base = _document(bundle, cycle.base_fee, customer=customer, period_key=period_key, start=start, end=end,
                         as_of=as_of, part=BASE_FEE, sessions=(),
                         postings=postings.postings(STREAM, cycle.base_fee.lines, lambda line: None),
                         extra={"segments": [s.to_json() for s in cycle.segments]})
    if cycle.consumption.errors:
        problems += [e.to_dict() for e in cycle.consumption.errors]
    elif cycle.consumption.lines:
        consumption = _document(bundle, cycle.consumption, customer=customer, period_key=period_key, start=start,
                                end=end, as_of=as_of, part=CONSUMPTION,
                                sessions=tuple(_session_ref(i) for i in items),
                                postings=postings.postings(STREAM, cycle.consumption.lines, centre_of, pk_of),
                                extra={"sessions": len(items), "late_sessions": sum(1 for i in items if i.late)})
    problems += [e.to_dict() for e in cycle.errors if e.to_dict() not in problems]
    return base, consumption, problems


def issue_cycle_documents(session: Session, bundle: Any, period_key: str, result: PeriodResult, *, as_of: date,
                          source: Any = None, now: datetime | None = None) -> None:
    start, end = check_as_of(period_key, as_of)
    postings = PostingBook(bundle)
    directory = Directory.of(session, source)
    customers = set(parties_in(session, STREAM, period_key)) | directory.overlapping(start, end)
    if not directory.complete:
        result.notes.append("the reference source cannot list customers: base fees only for customers with "
                            "sessions in the period")
    for customer_id in sorted(customers):
        keys = {part: subscription_key(period_key, customer_id, part) for part in (BASE_FEE, CONSUMPTION)}
        claimed = [k for k in keys.values() if is_claimed(session, k)]
        if len(claimed) == len(keys):
            result.already_issued += len(claimed)
            continue
        base, consumption, problems = build_cycle_documents(session, bundle, period_key, customer_id, as_of=as_of,
                                                            directory=directory, postings=postings)
        for part, doc in ((BASE_FEE, base), (CONSUMPTION, consumption)):
            if doc is None:
                continue
            issued = issue(session, doc, business_key=keys[part], party_ref=customer_id, now=now)
            if not issued.new:
                result.already_issued += 1
                continue
            result.documents.append(issued.document)
            if part == CONSUMPTION:
                mark_billed(session, STREAM, period_key, customer_id, issued.number)
        session.commit()
        if problems:
            record_failure(session, result, f"subscription:{period_key}:{customer_id}", customer_id, problems, now=now)


def close_subscription_cycle(session: Session, bundle: Any, period_key: str, *, as_of: date, source: Any = None,
                             now: datetime | None = None, finish_period: bool = True) -> PeriodResult:
    """Close the subscription cycle ``period_key`` (YYYY-MM) for every customer, once.

    ``source`` is the FactSource of the reference data: it names the customers whose
    subscriptions overlap the cycle (a base fee is due without any session) and their
    subscription records. Commits as it goes; idempotent and resumable like ``close_msp_period``."""
    check_as_of(period_key, as_of)
    result = PeriodResult(STREAM, period_key)
    row = prepare(session, STREAM, period_key, result, now=now)
    if row is not None and row.status == CLOSED:
        result.outcome = ALREADY_CLOSED
        return result
    result.late = count_late(session, STREAM, period_key)
    issue_cycle_documents(session, bundle, period_key, result, as_of=as_of, source=source, now=now)
    if result.failures:
        result.outcome = INCOMPLETE
    elif finish_period:
        finish(session, STREAM, period_key, now=now)
        session.commit()
    return result
