"""Billable items: the stored Decisions of a period stream in a shape SQL can aggregate.

``sync_billable`` turns every current Decision of a stream that has no item yet into one
``billable_items`` row (party, own period, power type, location category, kWh, minutes, net,
VAT, gross) plus its priced lines in ``billable_lines``. It is idempotent (unique ``cdr_pk``,
``ON CONFLICT DO NOTHING``) and incremental; an item that is not billed yet follows a replayed
Decision (it is rebuilt).

``assign_period`` is the moment a period is closed: in ONE statement, every waiting item whose
own period is the period, or an earlier period that is already closed (a CDR that arrived after
its period closed: *late*), is assigned to it. Items that arrive later wait for the next close.

``period_groups`` / ``period_summary`` aggregate in SQL, one query path per dialect:

* PostgreSQL: ``GROUP BY`` with ``SUM`` over NUMERIC (exact) and ``array_agg`` of the CDR ids;
* SQLite: the same ``GROUP BY``, but money and quantities are stored as exact *text* there and
  ``SUM`` would turn them into binary floats, so the group's values come back with
  ``group_concat`` and are summed as Decimals in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import Numeric, String, and_, case, delete, func, select, update
from sqlalchemy.orm import Session

from engine.money import fmt_exact, round_unit_price, to_decimal
from engine.rates.model import PRODUCTS
from engine.rates.ratecard import power_type_of
from engine.store._sql import insert_ignore, utcnow
from engine.store.billing_models import BillableItem, BillableLine
from engine.store.models import BillingPeriod, Cdr, DecisionRecord
from engine.streams.documents import cdr_ref

ALL_PARTIES = "*"
PERIOD_STREAMS = ("subscription", "msp")
_SIX = Decimal("0.000001")
_SEP = "\x1f"  # unit separator: never part of a CDR id or a decimal
# Plain result types for the aggregates (exact NUMERIC on PostgreSQL, raw text on SQLite).
_NUM = Numeric(asdecimal=True)
_TEXT = String()


# --------------------------------------------------------------------------- building items

def _dec(value: Any, default: str = "0") -> Decimal:
    try:
        return to_decimal(value if value is not None else default)
    except (TypeError, ValueError):
        return Decimal(default)


def _q6(value: Decimal) -> Decimal:
    return value.quantize(_SIX, rounding=ROUND_HALF_UP)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def party_of(stream: str, facts: Mapping[str, Any]) -> str | None:
    """Who is billed: the MSP party (msp), the customer id (subscription), the payer (adhoc)."""
    if stream == "msp":
        return (facts.get("msp") or {}).get("party") or (facts.get("token") or {}).get("issuer")
    if stream == "subscription":
        return (facts.get("customer") or {}).get("id")
    return (facts.get("customer") or {}).get("id") or (facts.get("psp") or {}).get("id")


def item_values(stream: str, cdr_pk: int, decision_id: int, key: tuple[str, str, str],
                cdr: Mapping[str, Any], facts: Mapping[str, Any], pricing: Mapping[str, Any],
                now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``billable_items`` row and its ``billable_lines`` for one stored Decision."""
    lines = pricing.get("lines") or []
    credit = bool(cdr.get("credit"))
    sign = Decimal(-1) if credit else Decimal(1)
    refs = [line.get("reference") or {} for line in lines]
    location = facts.get("location") or {}
    power = next((r.get("power_type") for r in refs if r.get("power_type")), None) or power_type_of(cdr)
    category = next((r.get("category") for r in refs if r.get("category")), None) or location.get("category")
    day = str(facts.get("session_date") or str(cdr.get("start_date_time") or "")[:10])
    totals = pricing.get("total_cost") or {}
    net, gross = _dec(totals.get("excl_vat")), _dec(totals.get("incl_vat"))
    item = {
        "cdr_pk": cdr_pk, "decision_id": decision_id, "stream": stream,
        "party_ref": party_of(stream, facts) or "?", "cdr_ref": cdr_ref(*key), "cdr_id": key[2],
        "session_id": cdr.get("session_id"), "own_period": day[:7],
        "period_key": None, "late": False, "credit": credit, "session_date": day,
        "start_at": _when(cdr.get("start_date_time")), "end_at": _when(cdr.get("end_date_time")),
        "location_id": location.get("id") or (cdr.get("cdr_location") or {}).get("id"),
        "power_type": power, "category": category, "cost_centre": location.get("cost_centre"),
        "energy_kwh": _q6(abs(_dec(cdr.get("total_energy"))) * sign),
        "minutes": _q6(abs(_dec(cdr.get("total_time"))) * 60 * sign),
        "net": net, "vat": _dec(totals.get("vat"), str(gross - net)), "gross": gross,
        "currency": pricing.get("currency") or cdr.get("currency") or "EUR",
        "document_number": None, "created_at": now,
    }
    rows = []
    for no, (line, ref) in enumerate(zip(lines, refs), 1):
        unit_price = line.get("unit_price")
        rows.append({
            "line_no": no, "product": line["product"], "description": (line.get("description") or "")[:255],
            "power_type": ref.get("power_type") or power, "category": ref.get("category") or category,
            "tariff_id": ref.get("tariff_id") or ref.get("plan_id"), "version": ref.get("version"),
            "unit": line.get("unit"), "unit_price": None if unit_price is None else _dec(unit_price),
            "quantity": _q6(_dec(line.get("quantity"), "1")), "net": _dec(line.get("net")),
            "tax_rate": _dec(line.get("tax_rate")), "tax_class": line.get("tax_class"),
            "tax_treatment": line.get("tax_treatment"),
        })
    return item, rows


def _pending(stream: str, limit: int | None):
    items = BillableItem.__table__
    query = (select(Cdr.id, Cdr.country_code, Cdr.party_id, Cdr.cdr_id, Cdr.normalised_json, DecisionRecord.id,
                    DecisionRecord.facts, DecisionRecord.pricing, items.c.id)
             .join(DecisionRecord, and_(DecisionRecord.cdr_pk == Cdr.id, DecisionRecord.is_current))
             .outerjoin(items, items.c.cdr_pk == Cdr.id)
             .where(DecisionRecord.stream == stream, DecisionRecord.pricing.is_not(None),
                    # no item yet, or an unbilled item made from an older (replayed) Decision
                    (items.c.id.is_(None)) | (and_(items.c.decision_id != DecisionRecord.id,
                                                   items.c.period_key.is_(None))))
             .order_by(Cdr.id))
    return query.limit(limit) if limit else query


def sync_billable(session: Session, stream: str, *, now: datetime | None = None, limit: int | None = None) -> int:
    """Create the billable items of ``stream`` for every current Decision without one; the count.
    The caller commits."""
    now = now or utcnow()
    created = 0
    for row in session.execute(_pending(stream, limit)).all():
        cdr_pk, cc, party, cdr_id, cdr, decision_id, facts, pricing, stale = row
        if stale is not None:  # a replayed Decision: rebuild the waiting item
            session.execute(delete(BillableLine).where(BillableLine.item_id == stale))
            session.execute(delete(BillableItem).where(BillableItem.id == stale))
        item, lines = item_values(stream, cdr_pk, decision_id, (cc, party, cdr_id), cdr or {}, facts or {},
                                  pricing or {}, now)
        item_id = insert_ignore(session, BillableItem, item, ["cdr_pk"])
        if item_id is None:
            continue
        if lines:
            session.execute(BillableLine.__table__.insert(), [dict(line, item_id=item_id) for line in lines])
        created += 1
    return created


# --------------------------------------------------------------------------- periods

def period_status(session: Session, stream: str, period_key: str) -> str | None:
    return session.execute(select(BillingPeriod.status).where(
        BillingPeriod.stream == stream, BillingPeriod.period_key == period_key,
        BillingPeriod.party_ref == ALL_PARTIES)).scalar_one_or_none()


def ensure_period(session: Session, stream: str, period_key: str, *, now: datetime | None = None) -> None:
    insert_ignore(session, BillingPeriod, {"stream": stream, "period_key": period_key, "party_ref": ALL_PARTIES,
                                           "status": "open", "opened_at": now or utcnow(), "closed_at": None},
                  ["stream", "period_key", "party_ref"])


def assign_period(session: Session, stream: str, period_key: str) -> int:
    """Assign the waiting items of ``period_key`` and the late ones (own period earlier and
    closed) to ``period_key``, in one statement; the number assigned."""
    closed = select(BillingPeriod.period_key).where(BillingPeriod.stream == stream,
                                                    BillingPeriod.party_ref == ALL_PARTIES,
                                                    BillingPeriod.status == "closed")
    result = session.execute(
        update(BillableItem)
        .where(BillableItem.stream == stream, BillableItem.period_key.is_(None),
               (BillableItem.own_period == period_key)
               | ((BillableItem.own_period < period_key) & BillableItem.own_period.in_(closed)))
        .values(period_key=period_key, late=BillableItem.own_period != period_key)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def waiting_earlier(session: Session, stream: str, period_key: str) -> dict[str, int]:
    """Items of earlier periods that are still waiting because their own period is not closed."""
    rows = session.execute(select(BillableItem.own_period, func.count())
                           .where(BillableItem.stream == stream, BillableItem.period_key.is_(None),
                                  BillableItem.own_period < period_key)
                           .group_by(BillableItem.own_period))
    return {period: n for period, n in rows}


def parties_in(session: Session, stream: str, period_key: str) -> list[str]:
    return list(session.execute(select(BillableItem.party_ref).distinct()
                                .where(BillableItem.stream == stream, BillableItem.period_key == period_key)
                                .order_by(BillableItem.party_ref)).scalars())


def mark_billed(session: Session, stream: str, period_key: str, party_ref: str, number: str) -> int:
    result = session.execute(update(BillableItem)
                             .where(BillableItem.stream == stream, BillableItem.period_key == period_key,
                                    BillableItem.party_ref == party_ref)
                             .values(document_number=number).execution_options(synchronize_session=False))
    return result.rowcount or 0


def count_late(session: Session, stream: str, period_key: str) -> int:
    return session.execute(select(func.count()).select_from(BillableItem).where(
        BillableItem.stream == stream, BillableItem.period_key == period_key, BillableItem.late)).scalar_one()


def period_items(session: Session, stream: str, period_key: str, party_ref: str) -> list[BillableItem]:
    return list(session.execute(select(BillableItem)
                                .where(BillableItem.stream == stream, BillableItem.period_key == period_key,
                                       BillableItem.party_ref == party_ref)
                                .order_by(BillableItem.start_at, BillableItem.id)).scalars())


# --------------------------------------------------------------------------- aggregation in SQL

@dataclass(frozen=True)
class LineGroup:
    """One GROUP BY row over billable_lines: the period line of one product x power type x
    category x tariff version x price x tax group, with the CDRs it covers."""

    product: str
    description: str | None
    power_type: str | None
    category: str | None
    tariff_id: str | None
    version: str | None
    unit: str | None
    unit_price: Decimal | None
    tax_rate: Decimal
    tax_class: str | None
    tax_treatment: str | None
    quantity: Decimal
    net: Decimal
    cdr_ids: tuple[str, ...]
    credit_cdr_ids: tuple[str, ...] = ()
    cost_centre: str | None = None      # only when grouped ``by_cost_centre``

    @property
    def line_key(self) -> tuple:
        """What ``engine.rates.msp.aggregate`` merges lines by (cost centre and text aside)."""
        return (self.product, self.power_type, self.category, self.tariff_id, self.version, self.unit,
                self.unit_price, self.tax_rate, self.tax_class, self.tax_treatment)


@dataclass
class CategoryTotals:
    """The period's sessions by power type x location category (GROUP BY over billable_items)."""

    power_type: str | None
    category: str | None
    sessions: int = 0
    energy_kwh: Decimal = Decimal(0)
    minutes: Decimal = Decimal(0)
    net: Decimal = Decimal("0.00")
    late: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"power_type": self.power_type, "category": self.category, "sessions": self.sessions,
                "energy_kwh": fmt_exact(self.energy_kwh), "minutes": fmt_exact(self.minutes),
                "net": str(self.net), "late": self.late}


_GROUP_COLUMNS = ("product", "description", "power_type", "category", "tariff_id", "version", "unit",
                  "unit_price", "tax_rate", "tax_class", "tax_treatment")


def _norm(value: Decimal | None) -> Decimal | None:
    """Back from the column's fixed scale to the priced form (19.0000 -> 19, 0.4500 -> 0.45)."""
    return None if value is None else Decimal(fmt_exact(value))


def _ids(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values or () if v is not None}))


def _split_sum(text: str | None) -> Decimal:
    return sum((Decimal(part) for part in (text or "").split(_SEP) if part), Decimal(0))


def _line_filter(stream: str, period_key: str, party_ref: str):
    return (BillableItem.stream == stream, BillableItem.period_key == period_key, BillableItem.party_ref == party_ref)


def period_groups(session: Session, stream: str, period_key: str, party_ref: str, *,
                  by_cost_centre: bool = False) -> list[LineGroup]:
    """The period's lines aggregated in SQL (see the module doc for the two dialect paths);
    ``by_cost_centre`` splits each group further by the locations' cost centre."""
    lines = BillableLine.__table__
    keys = [lines.c[name] for name in _GROUP_COLUMNS]
    if by_cost_centre:
        keys.append(BillableItem.cost_centre)
    base = (select().select_from(lines.join(BillableItem.__table__, BillableItem.id == lines.c.item_id))
            .where(*_line_filter(stream, period_key, party_ref)).group_by(*keys))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        query = base.add_columns(*keys, func.sum(lines.c.quantity, type_=_NUM), func.sum(lines.c.net, type_=_NUM),
                                 func.array_agg(BillableItem.cdr_id.distinct()),
                                 func.array_agg(BillableItem.cdr_id.distinct()).filter(BillableItem.credit))
    else:
        query = base.add_columns(*keys, func.group_concat(lines.c.quantity, _SEP, type_=_TEXT),
                                 func.group_concat(lines.c.net, _SEP, type_=_TEXT),
                                 func.group_concat(BillableItem.cdr_id, _SEP),
                                 func.group_concat(case((BillableItem.credit, BillableItem.cdr_id), else_=None), _SEP))
    out = []
    for row in session.execute(query):
        width = len(_GROUP_COLUMNS) + (1 if by_cost_centre else 0)
        values = dict(zip(_GROUP_COLUMNS, row[:len(_GROUP_COLUMNS)]))
        centre = row[len(_GROUP_COLUMNS)] if by_cost_centre else None
        quantity, net, ids, credits = row[width:]
        if postgres:
            quantity, net = Decimal(quantity), Decimal(net)
        else:  # exact text on SQLite: sum as Decimals here, never as SQL floats
            quantity, net = _split_sum(quantity), _split_sum(net)
            ids = (ids or "").split(_SEP)
            credits = (credits or "").split(_SEP) if credits else ()
        unit_price = values["unit_price"]
        out.append(LineGroup(
            product=values["product"], description=values["description"], power_type=values["power_type"],
            category=values["category"], tariff_id=values["tariff_id"], version=values["version"],
            unit=values["unit"], unit_price=None if unit_price is None else round_unit_price(Decimal(unit_price)),
            tax_rate=_norm(Decimal(values["tax_rate"])), tax_class=values["tax_class"],
            tax_treatment=values["tax_treatment"], quantity=_norm(quantity), net=net.quantize(Decimal("0.01")),
            cdr_ids=_ids(ids), credit_cdr_ids=_ids(credits), cost_centre=centre))
    order = {p: i for i, p in enumerate(PRODUCTS)}
    out.sort(key=lambda g: (g.power_type or "", g.category or "", order.get(g.product, 99), g.version or "",
                            g.unit_price if g.unit_price is not None else Decimal(0), g.tax_rate,
                            g.cost_centre or ""))
    return out


def period_summary(session: Session, stream: str, period_key: str, party_ref: str) -> list[CategoryTotals]:
    """Sessions, kWh, minutes and net by power type x location category, aggregated in SQL."""
    items = BillableItem
    sessions = func.sum(case((items.credit, -1), else_=1))
    late = func.sum(case((items.late, 1), else_=0))
    base = (select(items.power_type, items.category, sessions, late)
            .where(*_line_filter(stream, period_key, party_ref))
            .group_by(items.power_type, items.category).order_by(items.power_type, items.category))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        query = base.add_columns(func.sum(items.energy_kwh, type_=_NUM), func.sum(items.minutes, type_=_NUM),
                                 func.sum(items.net, type_=_NUM))
    else:
        query = base.add_columns(func.group_concat(items.energy_kwh, _SEP, type_=_TEXT),
                                 func.group_concat(items.minutes, _SEP, type_=_TEXT),
                                 func.group_concat(items.net, _SEP, type_=_TEXT))
    out = []
    for power, category, n, n_late, energy, minutes, net in session.execute(query):
        if not postgres:
            energy, minutes, net = _split_sum(energy), _split_sum(minutes), _split_sum(net)
        out.append(CategoryTotals(power, category, int(n or 0), _norm(Decimal(energy)), _norm(Decimal(minutes)),
                                  Decimal(net).quantize(Decimal("0.01")), int(n_late or 0)))
    return out


__all__ = ["ALL_PARTIES", "CategoryTotals", "LineGroup", "assign_period", "count_late", "ensure_period", "mark_billed",
           "parties_in", "period_groups", "period_items", "period_status", "period_summary", "sync_billable",
           "waiting_earlier"]
