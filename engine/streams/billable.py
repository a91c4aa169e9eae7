"""Billable items: the stored Decisions of a period stream in a shape SQL can aggregate.

``sync_billable`` turns every current Decision of a stream that has no item yet into one
``billable_items`` row (party, own period, power type, location category, kWh, minutes, net,
VAT, gross) plus its priced lines in ``billable_lines``. It is idempotent (unique ``cdr_pk``,
``ON CONFLICT DO NOTHING``) and incremental; an item that is not billed yet follows a replayed
Decision (it is rebuilt).

An item is built straight into its own period (``period_key`` = own period) when that period is
*open* at that moment: ``billing_periods`` row read ``FOR SHARE SKIP LOCKED`` in the same
transaction, so a close (``FOR UPDATE`` on the row, then ``open -> closing``) either waits for the
sync's commit and sees the item, or has the row locked already - then the row is skipped and the
item is built *waiting* (``period_key`` NULL). Waiting is always safe: it is what every item was
before this shortcut existed. Building the item into its period is what spares the close an
UPDATE of every item it bills.

``assign_period`` is the moment a period is closed: in ONE statement, every waiting item whose
own period is the period, or an earlier period that is already closed (a CDR that arrived after
its period closed: *late*), is assigned to it. Items that arrive later wait for the next close.
An item may be rebuilt from a replayed Decision while its period is open (or it waits); once its
period is closing or closed it is billed as it is.

``period_groups`` / ``period_summary`` aggregate in SQL, one query path per dialect:

* PostgreSQL: ``GROUP BY`` with ``SUM`` over NUMERIC (exact) and ``array_agg`` of the CDR ids;
* SQLite: the same ``GROUP BY``, but money and quantities are stored as exact *text* there and
  ``SUM`` would turn them into binary floats, so the group's values come back with
  ``group_concat`` and are summed as Decimals in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping, NamedTuple

from sqlalchemy import Numeric, String, and_, case, cast, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from engine.money import fmt_exact, round_unit_price, to_decimal
from engine.rates.model import PRODUCTS
from engine.rates.ratecard import power_type_of
from engine.store._sql import for_share, insert_ignore, insert_rows, one_of, utcnow
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


OPEN = "open"


def _frozen_periods(stream: str):
    """The stream's periods being closed or closed: their items are billed as they are."""
    return select(BillingPeriod.period_key).where(BillingPeriod.stream == stream,
                                                  BillingPeriod.party_ref == ALL_PARTIES,
                                                  BillingPeriod.status != OPEN)


def _pending(stream: str, limit: int | None = None):
    """The stream's current Decisions without an up-to-date item (with their CDRs), in CDR order."""
    items = BillableItem.__table__
    query = (select(Cdr.id, Cdr.country_code, Cdr.party_id, Cdr.cdr_id, Cdr.normalised_json, DecisionRecord.id,
                    DecisionRecord.facts, DecisionRecord.pricing, items.c.id, items.c.period_key)
             .join(DecisionRecord, and_(DecisionRecord.cdr_pk == Cdr.id, DecisionRecord.is_current))
             .outerjoin(items, items.c.cdr_pk == Cdr.id)
             .where(DecisionRecord.stream == stream, DecisionRecord.pricing.is_not(None),
                    # no item yet, or an item of an open period made from an older (replayed) Decision
                    (items.c.id.is_(None)) | (and_(items.c.decision_id != DecisionRecord.id,
                                                   or_(items.c.period_key.is_(None),
                                                       items.c.period_key.not_in(_frozen_periods(stream))))))
             .order_by(Cdr.id))
    return query.limit(limit) if limit else query


def pending_cdrs(session: Session, stream: str, *, since: int | None = None) -> list[int]:
    """The CDR keys of ``_pending``, found with the narrow columns only (an anti-join of the
    current Decisions against the items: no CDR or JSON is read when nothing is pending);
    ``since``: only Decisions with a higher id (made after that one)."""
    d, i = DecisionRecord, BillableItem
    up_to_date = (select(i.id).where(i.cdr_pk == d.cdr_pk,
                                     (i.decision_id == d.id) | i.period_key.in_(_frozen_periods(stream)))
                  .exists())
    query = select(d.cdr_pk).where(d.is_current, d.stream == stream, d.pricing.is_not(None), ~up_to_date)
    if since is not None:
        query = query.where(d.id > since)
    return sorted(session.execute(query).scalars())


def open_periods(session: Session, stream: str, periods: Iterable[str]) -> set[str]:
    """Those of ``periods`` that are open and stay open until this transaction ends.

    Each period gets its row (open) if it has none; the open rows are then read ``FOR SHARE
    SKIP LOCKED``: a row a closer holds ``FOR UPDATE`` is skipped (not open, as far as this
    transaction may rely on), never waited for - so a sync cannot deadlock with closes."""
    wanted = sorted({p for p in periods if p})
    if not wanted:
        return set()
    for period in wanted:
        ensure_period(session, stream, period)
    query = select(BillingPeriod.period_key).where(BillingPeriod.stream == stream,
                                                   BillingPeriod.party_ref == ALL_PARTIES,
                                                   BillingPeriod.period_key.in_(wanted), BillingPeriod.status == OPEN)
    return set(session.execute(for_share(session, query, skip_locked=True)).scalars())


def last_decision(session: Session) -> int:
    """The highest Decision id so far (0: none); ``sync_billable(since=...)`` continues from it."""
    return session.execute(select(func.max(DecisionRecord.id))).scalar_one() or 0


SYNC_BATCH = 1_000


class _Built(NamedTuple):
    """An item (and its lines) built from a current Decision, with the item it replaces."""

    item: dict[str, Any]
    lines: list[dict[str, Any]]
    old_id: int | None          # the item built from an older Decision of the CDR, if any
    old_period: str | None      # that item's period (None: it was waiting)


def _insert_items(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """``INSERT ... ON CONFLICT (cdr_pk) DO NOTHING RETURNING id, cdr_pk`` for a batch of items
    in one statement; {cdr_pk: new item id} of those inserted."""
    inserted = insert_rows(session, BillableItem.__table__, rows, conflict=("cdr_pk",), returning=("id", "cdr_pk"))
    return {cdr_pk: item_id for item_id, cdr_pk in inserted}


def _analyze(session: Session) -> None:
    """Fresh planner statistics for the item tables (PostgreSQL), inside the transaction. The
    foreign-key check of every ``billable_lines`` row keeps the plan PostgreSQL made when
    ``billable_items`` looked empty - a sequential scan per inserted line, quadratic over a big
    backlog - until the table's statistics change."""
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        with session.begin_nested():
            session.execute(text("ANALYZE billable_items"))
    except Exception:  # not the owner, or whatever: only a speed matter
        pass


def sync_billable(session: Session, stream: str, *, now: datetime | None = None, limit: int | None = None,
                  batch: int = SYNC_BATCH, commit: bool = False, since: int | None = None) -> int:
    """Create the billable items of ``stream`` for every current Decision without one; the count.

    The pending CDRs are found first (``pending_cdrs``; ``since`` restricts them to Decisions
    made after that id), then handled in batches of ``batch``, each written set-wise (one INSERT
    for the items, one for their lines). ``commit`` True commits every batch (a big backlog then
    never sits in one transaction, and a crash keeps what was done); otherwise the caller
    commits. ``limit`` caps the Decisions handled."""
    now = now or utcnow()
    keys = pending_cdrs(session, stream, since=since)
    if limit is not None:
        keys = keys[:limit]
    created = 0
    analyzed_at = -1
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        rows = session.execute(_pending(stream).where(one_of(session, Cdr.id, chunk))).all()
        built = [_Built(*item_values(stream, cdr_pk, decision_id, (cc, party, cdr_id), cdr or {}, facts or {},
                                     pricing or {}, now), old_id, old_period)
                 for cdr_pk, cc, party, cdr_id, cdr, decision_id, facts, pricing, old_id, old_period in rows]
        opened = open_periods(session, stream, [b.item["own_period"] for b in built] + [b.old_period for b in built])
        # an item whose period began closing since it was found stays as it is
        built = [b for b in built if b.old_period is None or b.old_period in opened]
        stale = [b.old_id for b in built if b.old_id is not None]
        if stale:  # replayed Decisions: rebuild their items (still open or waiting)
            session.execute(delete(BillableLine).where(one_of(session, BillableLine.item_id, stale)))
            session.execute(delete(BillableItem).where(one_of(session, BillableItem.id, stale)))
        for b in built:
            if b.item["own_period"] in opened:
                b.item["period_key"] = b.item["own_period"]
        ids = _insert_items(session, [b.item for b in built])
        lines = [dict(line, item_id=ids[b.item["cdr_pk"]]) for b in built if b.item["cdr_pk"] in ids
                 for line in b.lines]
        total = created + len(ids)
        if lines and total >= batch and (analyzed_at < 0 or total >= 10 * analyzed_at):
            _analyze(session)   # a backlog: before the lines' FK checks use a stale plan
            analyzed_at = total
        if lines:
            insert_rows(session, BillableLine.__table__, lines)
        created = total
        if commit:
            session.commit()
    return created


# --------------------------------------------------------------------------- periods

def period_status(session: Session, stream: str, period_key: str) -> str | None:
    return session.execute(select(BillingPeriod.status).where(
        BillingPeriod.stream == stream, BillingPeriod.period_key == period_key,
        BillingPeriod.party_ref == ALL_PARTIES)).scalar_one_or_none()


def ensure_period(session: Session, stream: str, period_key: str, *, now: datetime | None = None) -> None:
    insert_ignore(session, BillingPeriod, {"stream": stream, "period_key": period_key, "party_ref": ALL_PARTIES,
                                           "status": OPEN, "opened_at": now or utcnow(), "closed_at": None},
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


def count_assigned(session: Session, stream: str, period_key: str) -> int:
    """The items of the period (built into it while it was open, or assigned by its close)."""
    return session.execute(select(func.count()).select_from(BillableItem).where(
        BillableItem.stream == stream, BillableItem.period_key == period_key)).scalar_one()


def waiting_earlier(session: Session, stream: str, period_key: str) -> dict[str, int]:
    """Items of earlier periods that are still waiting because their own period is not closed:
    built into an open earlier period, or waiting (``period_key`` NULL) for one."""
    open_earlier = select(BillingPeriod.period_key).where(BillingPeriod.stream == stream,
                                                          BillingPeriod.party_ref == ALL_PARTIES,
                                                          BillingPeriod.status == OPEN,
                                                          BillingPeriod.period_key < period_key)
    counts: dict[str, int] = {}
    for column, where in ((BillableItem.period_key, BillableItem.period_key.in_(open_earlier)),
                          (BillableItem.own_period, and_(BillableItem.period_key.is_(None),
                                                         BillableItem.own_period < period_key))):
        for period, n in session.execute(select(column, func.count()).where(BillableItem.stream == stream, where)
                                         .group_by(column)):
            counts[period] = counts.get(period, 0) + n
    return dict(sorted(counts.items()))


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


def period_counts(session: Session, stream: str, period_key: str, party_ref: str) -> tuple[int, int]:
    """(sessions, late sessions) of the party in the period: the items, counted in SQL."""
    n, late = session.execute(select(func.count(), func.sum(case((BillableItem.late, 1), else_=0)))
                              .where(*_line_filter(stream, period_key, party_ref))).one()
    return int(n or 0), int(late or 0)


_CENTRE_NETS_OF_IDS = text(
    "SELECT i.cost_centre, sum(i.net) FROM billable_items i "
    "JOIN unnest(CAST(:ids AS text[])) AS d(cdr_id) ON d.cdr_id = i.cdr_id "
    "WHERE i.stream = :stream AND i.period_key = :period_key AND i.party_ref = :party_ref "
    "GROUP BY i.cost_centre").columns(cost_centre=String, net=_NUM)


def centre_nets(session: Session, stream: str, period_key: str, party_ref: str,
                cdr_ids: Iterable[str] | None = None) -> dict[str | None, Decimal]:
    """{cost centre: summed net} of the party's items in the period - all of them, or those of
    ``cdr_ids`` (unique ids) - summed in SQL on PostgreSQL, as Decimals over plain rows on SQLite."""
    where = _line_filter(stream, period_key, party_ref)
    out: dict[str | None, Decimal] = {}
    if session.get_bind().dialect.name != "postgresql":
        wanted = None if cdr_ids is None else {str(c) for c in cdr_ids}
        rows = session.execute(select(BillableItem.cdr_id, BillableItem.cost_centre, BillableItem.net).where(*where))
        for cdr_id, centre, net in rows:
            if wanted is None or cdr_id in wanted:
                out[centre] = out.get(centre, Decimal(0)) + net
        return out
    if cdr_ids is None:
        rows = session.execute(select(BillableItem.cost_centre, func.sum(BillableItem.net, type_=_NUM))
                               .where(*where).group_by(BillableItem.cost_centre))
    else:
        rows = session.execute(_CENTRE_NETS_OF_IDS, {"ids": [str(c) for c in cdr_ids], "stream": stream,
                                                     "period_key": period_key, "party_ref": party_ref})
    for centre, net in rows:
        out[centre] = Decimal(net)
    return out


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


def _hash_aggregated(session: Session, query: Any) -> list[Any]:
    """The rows of a PostgreSQL ``GROUP BY`` with ``array_agg``, planned as a hash aggregate.

    The planner budgets every group of an ``array_agg`` at several KB and guesses the number of
    groups from the columns' statistics (up to one per input row), so it sorts the input by all
    the grouping columns instead (40 % of the query); the real groups are a few dozen per party.
    ``enable_sort`` is off for this one statement only (``set_config(..., true)`` is
    transaction-local - a failed statement's rollback drops it - and it is set back right
    after); a hash aggregate that outgrows ``work_mem`` spills to disk, it does not fail."""
    conn = session.connection()
    previous = conn.execute(text("SELECT current_setting('enable_sort')")).scalar_one()
    conn.execute(text("SELECT set_config('enable_sort', 'off', true)"))
    rows = list(conn.execute(query))
    conn.execute(text("SELECT set_config('enable_sort', :value, true)"), {"value": previous})
    return rows


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
        # no DISTINCT in the aggregate (a sort per group): the ids are made unique in Python
        query = base.add_columns(*keys, func.sum(lines.c.quantity, type_=_NUM), func.sum(lines.c.net, type_=_NUM),
                                 func.array_agg(BillableItem.cdr_id),
                                 func.array_agg(BillableItem.cdr_id).filter(BillableItem.credit))
    else:
        query = base.add_columns(*keys, func.group_concat(lines.c.quantity, _SEP, type_=_TEXT),
                                 func.group_concat(lines.c.net, _SEP, type_=_TEXT),
                                 func.group_concat(BillableItem.cdr_id, _SEP),
                                 func.group_concat(case((BillableItem.credit, BillableItem.cdr_id), else_=None), _SEP))
    out = []
    for row in _hash_aggregated(session, query) if postgres else session.execute(query):
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


@dataclass
class PeriodOverview:
    """One pass over a party's items of a period: the summary by power type x category, the
    number of sessions (items) and late ones, the id of the newest item (by session date, then
    id) and the net by cost centre."""

    summary: list[CategoryTotals]
    sessions: int
    late: int
    newest_item: int | None
    centre_nets: dict[str | None, Decimal] = field(default_factory=dict)   # all items' net by cost centre


_ID_WIDTH = 12


def period_overview(session: Session, stream: str, period_key: str, party_ref: str) -> PeriodOverview:
    """``period_summary`` plus counts and the newest item, aggregated in the same SQL pass.
    The newest item is the greatest ``session_date`` + zero-padded id text (both fixed width)."""
    items = BillableItem
    sessions = func.sum(case((items.credit, -1), else_=1))
    late = func.sum(case((items.late, 1), else_=0))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        newest = func.max(items.session_date + func.lpad(cast(items.id, String), _ID_WIDTH, "0"))
    else:
        newest = func.max(items.session_date + func.printf(f"%0{_ID_WIDTH}d", items.id))
    base = (select(items.power_type, items.category, items.cost_centre, sessions, late, func.count(), newest)
            .where(*_line_filter(stream, period_key, party_ref))
            .group_by(items.power_type, items.category, items.cost_centre)
            .order_by(items.power_type, items.category))
    if postgres:
        query = base.add_columns(func.sum(items.energy_kwh, type_=_NUM), func.sum(items.minutes, type_=_NUM),
                                 func.sum(items.net, type_=_NUM))
    else:
        query = base.add_columns(func.group_concat(items.energy_kwh, _SEP, type_=_TEXT),
                                 func.group_concat(items.minutes, _SEP, type_=_TEXT),
                                 func.group_concat(items.net, _SEP, type_=_TEXT))
    totals: dict[tuple[str | None, str | None], list[Any]] = {}
    centres: dict[str | None, Decimal] = {}
    count = late_count = 0
    top: str | None = None
    for power, category, centre, n, n_late, rows, key, energy, minutes, net in session.execute(query):
        if postgres:
            energy, minutes, net = Decimal(energy), Decimal(minutes), Decimal(net)
        else:
            energy, minutes, net = _split_sum(energy), _split_sum(minutes), _split_sum(net)
        acc = totals.setdefault((power, category), [0, 0, Decimal(0), Decimal(0), Decimal(0)])
        acc[0] += int(n or 0)
        acc[1] += int(n_late or 0)
        acc[2] += energy
        acc[3] += minutes
        acc[4] += net
        centres[centre] = centres.get(centre, Decimal(0)) + net
        count += int(rows or 0)
        late_count += int(n_late or 0)
        if key is not None and (top is None or key > top):
            top = key
    out = [CategoryTotals(power, category, n, _norm(energy), _norm(minutes), net.quantize(Decimal("0.01")), n_late)
           for (power, category), (n, n_late, energy, minutes, net) in totals.items()]
    return PeriodOverview(out, count, late_count, int(top[-_ID_WIDTH:]) if top else None, centres)


def period_summary(session: Session, stream: str, period_key: str, party_ref: str) -> list[CategoryTotals]:
    """Sessions, kWh, minutes and net by power type x location category, aggregated in SQL."""
    return period_overview(session, stream, period_key, party_ref).summary


__all__ = ["ALL_PARTIES", "CategoryTotals", "LineGroup", "assign_period", "centre_nets", "count_assigned", "count_late", "ensure_period",
           "last_decision", "mark_billed", "open_periods", "parties_in", "pending_cdrs", "period_counts", "period_groups",
           "PeriodOverview", "period_overview",
           "period_items", "period_status", "period_summary", "sync_billable", "waiting_earlier"]
