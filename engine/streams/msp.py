"""MSP stream: one consolidated invoice per MSP and period, aggregated in SQL.

For each MSP with items in the period:

1. ``billable.period_groups`` aggregates the period's priced lines in SQL (GROUP BY product x
   power type x location category x tariff version x unit price x tax group: summed quantity and
   net, the CDR ids and credit CDR ids of each group) and ``billable.period_summary`` the
   sessions, kWh, minutes and nets by power type x location category;
2. ``engine.rates.msp_period`` makes the document from those groups - the period lines (each net
   = summed quantity x unit price, rounded once), the discount lines and the tax. It is handed one
   line per SQL group carrying the group's summed quantity, plus a zero line for every further CDR
   of the group, so it sees exactly the CDR ids (and credits) it counts sessions and volume
   discounts by, without a single session being re-read as JSON;
3. ``documents.issue`` claims ``msp:<period>:<party>``, numbers it from the MSP- range and
   enqueues it; ``billable.mark_billed`` puts the number on the party's items (one UPDATE) in
   the same transaction. The session list (``SessionRef`` per CDR: id, session id, start/end,
   kWh, amount, OCPI reference, ``late``) for the CSV attachment and the PDF appendix is a
   ``documents.StoredSessions``: it stays in ``billable_items`` and is streamed from there when a
   file is rendered - it is neither loaded nor copied into the claim's JSON by the close (the
   counts come from SQL).

Late CDRs (their own period was already closed when they arrived) are assigned to the period
being closed by ``billable.assign_period`` and are flagged ``late`` in the session list.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.model import FULL, INVOICE, BillingDocument, Payment
from engine.rates import msp_period
from engine.rates.model import DISCOUNT, PriceLine, StreamPrice, build_price
from engine.rates.msp import split_cents
from engine.store.billing_models import BillableItem
from engine.store.exceptions import open_exception
from engine.store.models import DecisionRecord
from engine.streams.billable import (
    LineGroup, centre_nets, count_late, mark_billed, parties_in, period_groups, period_overview,
)
from engine.streams.documents import PLACEHOLDER_NUMBER, PostingBook, StoredSessions, is_claimed, issue, msp_key, \
    msp_party, seller_party
from engine.streams.periods import (
    ALREADY_CLOSED, CLOSED, INCOMPLETE, DocumentFailure, PeriodResult, check_as_of, finish, prepare,
)

STREAM = "msp"
PERIOD_DOCUMENT_FAILED = "PERIOD_DOCUMENT_FAILED"
_ZERO = Decimal(0)


class DocumentProblems(Exception):
    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__("; ".join(f"{p.get('code')}: {p.get('message')}" for p in problems))
        self.problems = problems


def carrier_lines(groups: Iterable[LineGroup]) -> list[PriceLine]:
    """The SQL groups as lines for ``msp_period`` (see the module doc, step 2)."""
    lines: list[PriceLine] = []
    new = object.__new__
    for g in groups:
        credits = set(g.credit_cdr_ids)
        base = {"power_type": g.power_type, "category": g.category, "tariff_id": g.tariff_id, "version": g.version}
        ids = g.cdr_ids or ("?",)
        first = dict(base, cdr_id=ids[0])
        if ids[0] in credits:
            first["credit"] = True
        lines.append(PriceLine(g.product, g.description or g.product, g.quantity, g.unit or "", g.unit_price, g.net,
                               g.tax_rate, g.tax_treatment or "", g.tax_class or "", reference=first))
        if len(ids) == 1:
            continue
        # the zero lines of the group's further CDRs: copies of one frozen line (one per CDR of a
        # big period, so not through the dataclass __init__), each with its own reference
        zero = PriceLine(g.product, g.description or g.product, _ZERO, g.unit or "", g.unit_price, Decimal("0.00"),
                         g.tax_rate, g.tax_treatment or "", g.tax_class or "", reference=base).__dict__
        for cdr_id in ids[1:]:
            ref = dict(base, cdr_id=cdr_id)
            if cdr_id in credits:
                ref["credit"] = True
            line = new(PriceLine)
            fields = line.__dict__
            fields.update(zero)
            fields["reference"] = ref
            lines.append(line)
    return lines


def _split(total: Decimal, weights: dict[str | None, Decimal]) -> dict[str | None, Decimal]:
    """``total`` shared by ``weights`` to the cent (largest remainder); {} when not splittable."""
    if not weights:
        return {}
    if len(weights) == 1:
        return {next(iter(weights)): total}
    if any(w <= 0 for w in weights.values()):
        return {}
    keys = sorted(weights, key=lambda k: k or "")
    shares = split_cents(abs(total), [weights[k] for k in keys])
    return {k: (share if total >= 0 else -share) for k, share in zip(keys, shares)}


CentreNets = Callable[[Sequence[str]], Mapping[str | None, Decimal]]


def _centre_nets_of(items: Iterable[BillableItem]) -> CentreNets:
    centres = {i.cdr_id: (i.cost_centre, i.net) for i in items}

    def of(cdr_ids: Sequence[str]) -> dict[str | None, Decimal]:
        weights: dict[str | None, Decimal] = {}
        for cdr_id in cdr_ids:
            centre, net = centres.get(str(cdr_id), (None, Decimal(0)))
            weights[centre] = weights.get(centre, Decimal(0)) + net
        return weights
    return of


def cost_centre_splits(lines: Iterable[PriceLine], groups: Iterable[LineGroup],
                       items: Iterable[BillableItem] | CentreNets) -> list[dict[str | None, Decimal]]:
    """Per document line, its net by the cost centres of the locations behind it: period lines by
    their SQL sub-groups' quantities, discount lines by the nets of the sessions they discount.

    ``items``: the party's items, or a function giving {cost centre: summed net} of the sessions
    of some CDR ids (``billable.centre_nets``: summed in SQL). It is called only when a line
    needs it - never when all the party's lines come from one cost centre (every split is then
    that centre)."""
    groups = list(groups)
    by_key: dict[tuple, dict[str | None, Decimal]] = {}
    for g in groups:
        shares = by_key.setdefault(g.line_key, {})
        shares[g.cost_centre] = shares.get(g.cost_centre, Decimal(0)) + g.quantity
    known = {g.cost_centre for g in groups}
    nets_of = items if callable(items) else _centre_nets_of(items)

    out = []
    for line in lines:
        ref = line.reference
        cdr_ids = ref.get("cdr_ids") or ()
        weights: dict[str | None, Decimal]
        if line.product == DISCOUNT:
            if len(known) == 1:   # the discounted CDRs are among the party's lines' CDRs: one centre
                weights = {next(iter(known)): Decimal(1)} if cdr_ids else {}
            else:
                weights = dict(nets_of(cdr_ids)) if cdr_ids else {}
        else:
            key = (line.product, ref.get("power_type"), ref.get("category"), ref.get("tariff_id"), ref.get("version"),
                   line.unit or None, line.unit_price, line.tax_rate, line.tax_class or None, line.tax_treatment or None)
            weights = dict(by_key.get(key) or {})
            if not weights:
                if len(known) == 1:
                    centres_of = set(known) if cdr_ids else set()
                else:
                    centres_of = set(nets_of(cdr_ids)) if cdr_ids else set()
                weights = {centres_of.pop(): Decimal(1)} if len(centres_of) == 1 else {}
        out.append(_split(line.net, weights))
    return out


def _latest_decision(session: Session, period_key: str, party: str, *, item_id: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts and pricing of the party's newest session in the period (contract data, treatment);
    ``item_id``: that session's item, when known (``billable.period_overview`` finds it)."""
    query = (select(DecisionRecord.facts, DecisionRecord.pricing)
             .join(BillableItem, BillableItem.decision_id == DecisionRecord.id))
    if item_id is not None:
        query = query.where(BillableItem.id == item_id)
    else:
        query = (query.where(BillableItem.stream == STREAM, BillableItem.period_key == period_key,
                             BillableItem.party_ref == party)
                 .order_by(BillableItem.session_date.desc(), BillableItem.id.desc()).limit(1))
    row = session.execute(query).one()
    return dict(row[0] or {}), dict(row[1] or {})


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a big MSP's document is made: it holds one carrier
    line and reference per CDR (millions of fresh containers, none of them garbage), and each
    automatic collection would traverse all of them again - 70 % of ``carrier_lines``' time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_msp_document(session: Session, bundle: Any, period_key: str, party: str, *, as_of: date,
                       postings: PostingBook | None = None) -> BillingDocument:
    """The (unnumbered) consolidated invoice of one MSP for one period."""
    with _gc_paused():
        return _build_msp_document(session, bundle, period_key, party, as_of=as_of, postings=postings)


def _build_msp_document(session: Session, bundle: Any, period_key: str, party: str, *, as_of: date,
                        postings: PostingBook | None = None) -> BillingDocument:
    start, end = check_as_of(period_key, as_of)
    groups = period_groups(session, STREAM, period_key, party, by_cost_centre=True)
    overview = period_overview(session, STREAM, period_key, party)
    sessions, late = overview.sessions, overview.late
    facts, pricing = _latest_decision(session, period_key, party, item_id=overview.newest_item)
    msp = dict(facts.get("msp") or {}, party=party)
    treatment = StreamPrice.from_json(pricing).tax if pricing else None
    currency = pricing.get("currency") or "EUR"
    carried = build_price(STREAM, carrier_lines(groups), tax=treatment, currency=currency)
    price = msp_period(bundle, [carried], msp=msp, period_start=start, period_end=end)
    if price.errors:
        raise DocumentProblems([e.to_dict() for e in price.errors])
    postings = postings or PostingBook(bundle)
    line_postings = postings.postings(STREAM, price.lines, lambda line: None)
    def nets_of(cdr_ids: Sequence[str]) -> Mapping[str | None, Decimal]:
        # the ids are unique and the party's: as many as its sessions means all of them
        if len(cdr_ids) == sessions:
            return overview.centre_nets
        return centre_nets(session, STREAM, period_key, party, cdr_ids)

    splits = cost_centre_splits(price.lines, groups, nets_of)
    for posting, split in zip(line_postings, splits):
        posting["cost_centre"] = next(iter(split)) if len(split) == 1 else None
        if len(split) > 1:
            posting["cost_centre_split"] = {cc: str(amount) for cc, amount in split.items()}
    summary = overview.summary
    terms = msp.get("payment_terms_days")
    terms = int(terms) if terms is not None else 30
    metadata = {
        "msp_ref": party, "customer_ref": party, "contract_id": msp.get("contract_id"), "customer_type": "B2B",
        "summary": [row.to_json() for row in summary], "sessions": sessions, "late_sessions": late,
        "line_postings": line_postings,
        "warnings": [w.to_dict() for w in price.warnings],
    }
    notes = []  # the tax notes (reverse charge, exemptions) come with the tax groups (BT-120)
    if late:
        notes.append(f"{late} session(s) of earlier periods delivered late by the CPMS are included (marked late).")
    return BillingDocument(
        number=PLACEHOLDER_NUMBER, doc_type=INVOICE, form=FULL, stream=STREAM, issue_date=as_of,
        period_start=start, period_end=end, seller=seller_party(bundle), buyer=msp_party(msp), price=price,
        payment=Payment(terms_days=terms, due_date=as_of + timedelta(days=terms), iban=bundle.operator.get("iban")),
        sessions=StoredSessions(session, stream=STREAM, period_key=period_key, party_ref=party, count=sessions),
        notes=tuple(notes), period_key=period_key,
        metadata=metadata)


def issue_period_documents(session: Session, bundle: Any, period_key: str, result: PeriodResult, *, as_of: date,
                           now: datetime | None = None) -> None:
    """Issue the invoice of every MSP of the period that has none yet; commit per MSP."""
    postings = PostingBook(bundle)
    for party in parties_in(session, STREAM, period_key):
        key = msp_key(period_key, party)
        if is_claimed(session, key):
            result.already_issued += 1
            continue
        try:
            doc = build_msp_document(session, bundle, period_key, party, as_of=as_of, postings=postings)
        except DocumentProblems as exc:
            session.rollback()
            record_failure(session, result, key, party, exc.problems, now=now)
            continue
        with _gc_paused():
            issued = issue(session, doc, business_key=key, party_ref=party, now=now)
        if issued.new:
            mark_billed(session, STREAM, period_key, party, issued.number)
            result.documents.append(issued.document)
        else:
            result.already_issued += 1
        session.commit()


def record_failure(session: Session, result: PeriodResult, key: str, party: str, problems: list[dict[str, Any]],
                   *, now: datetime | None = None) -> None:
    """A document that cannot be made: an exception for a human, the period stays ``closing``."""
    result.failures.append(DocumentFailure(key, party, problems))
    open_exception(session, PERIOD_DOCUMENT_FAILED, dedup_key=f"period-document:{key}", now=now,
                   detail={"business_key": key, "party": party, "problems": problems})
    session.commit()


def close_msp_period(session: Session, bundle: Any, period_key: str, *, as_of: date, now: datetime | None = None,
                     finish_period: bool = True) -> PeriodResult:
    """Close the MSP period ``period_key`` (YYYY-MM): one invoice per MSP, issued once.

    Commits as it goes (prepare, then per MSP). Idempotent and resumable: a closed period
    reports ``already_closed``; a half-done one issues only what is missing. ``finish_period``
    False leaves the final ``closed`` mark to the caller (``close.close_period`` holds the row
    lock in another session on PostgreSQL)."""
    check_as_of(period_key, as_of)
    result = PeriodResult(STREAM, period_key)
    row = prepare(session, STREAM, period_key, result, now=now)
    if row is not None and row.status == CLOSED:
        result.outcome = ALREADY_CLOSED
        return result
    result.late = count_late(session, STREAM, period_key)
    issue_period_documents(session, bundle, period_key, result, as_of=as_of, now=now)
    if result.failures:
        result.outcome = INCOMPLETE
    elif finish_period:
        finish(session, STREAM, period_key, now=now)
        session.commit()
    return result


__all__ = ["CLOSED", "build_msp_document", "carrier_lines", "close_msp_period", "issue_period_documents"]
