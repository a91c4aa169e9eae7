"""Reference data in the database: the embedded FactSource (``DbSource``) and idempotent upserts.

Records come from files (``cdrflow load``) or HTTP pushes; either way they are first normalised
and validated with the Cerberus schemas of ``engine.reference`` (``validate_records``) and then
stored by :func:`upsert_records`, one row per business key:

* a new key is inserted (``inserted``);
* the same record again changes nothing - not even ``updated_at`` (``unchanged``); "the same"
  is decided by a content hash of the record as it is stored (``4.4`` == ``4.40``);
* a changed record updates the row and bumps ``updated_at`` (``updated``);
* a record the store cannot hold (a field too long for its column, an amount with more than two
  decimals, a token that belongs to another customer, the same key twice in one batch) is
  ``rejected`` with the field and the reason; the others are stored regardless.

Concurrency: the business keys are unique constraints, rows are inserted with ``ON CONFLICT DO
NOTHING`` and re-read under ``FOR UPDATE`` (PostgreSQL), each record in its own SAVEPOINT, so
two loaders pushing the same data both end with one row and neither fails the other's batch.
The caller owns the transaction.

``DbSource`` serves the facts lookups of the pure core from these tables: tokens and PSP
transactions through indexed queries on every call (a PSP transaction may arrive any second),
locations and MSP contracts - read for every CDR, changed rarely - from a per-instance cache
(``cache_ttl`` seconds; cleared at once when this process upserts either kind). A batch of CDRs
decided inside ``DbSource.sharing(session, cdrs)`` (the API, ``cdrflow ingest``) reads the PSP
transactions and the customers/subscriptions its CDRs refer to with one query each up front, in
the same transaction as the lookups would have run - never a cache across requests, so nothing
can be stale.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import String, any_, bindparam, case, delete, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.jsonable import to_jsonable
from engine.problems import Problem
from engine.store._sql import for_update, insert_ignore, utcnow
from engine.store.canonical import hash_of_value
from engine.store.reference_models import (
    KIND_MODELS, Customer, CustomerToken, Location, MspContract, PspTransaction, Subscription,
)

INSERTED, UPDATED, UNCHANGED, REJECTED = "inserted", "updated", "unchanged", "rejected"
RECORD_OUTCOMES = (INSERTED, UPDATED, UNCHANGED, REJECTED)

_INT32 = 2 ** 31


# --- how each kind's record maps onto its table ---------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    """Record field -> column, for one kind (the record fields are ``engine.reference.SCHEMAS``)."""

    kind: str
    model: Any
    key: tuple[str, ...]                       # record fields forming the business key
    columns: dict[str, str]                    # record field -> column name (key fields included)
    dates: frozenset[str] = frozenset()

    @property
    def table(self) -> Any:
        return self.model.__table__

    @property
    def key_columns(self) -> list[str]:
        return [self.columns[f] for f in self.key]

    def key_of(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record.get(f) for f in self.key)

    def label(self, record: dict[str, Any]) -> str:
        return "/".join(str(v) for v in self.key_of(record))


def _fields(*names: str) -> dict[str, str]:
    return {n: n for n in names}


SPECS: dict[str, KindSpec] = {
    "customers": KindSpec("customers", Customer, ("id",), {
        "id": "customer_id", **_fields("name", "type", "country", "email", "address", "vat_id")}),
    "subscriptions": KindSpec("subscriptions", Subscription, ("id",), {
        "id": "subscription_id", **_fields("customer_id", "plan_id", "status", "valid_from", "valid_to")},
        dates=frozenset({"valid_from", "valid_to"})),
    "msp_contracts": KindSpec("msp_contracts", MspContract, ("party", "contract_id"), _fields(
        "party", "contract_id", "name", "country", "vat_id", "reseller", "status", "valid_from", "valid_to",
        "tariff_id", "address", "email", "buyer_reference", "payment_terms_days"),
        dates=frozenset({"valid_from", "valid_to"})),
    "psp_transactions": KindSpec("psp_transactions", PspTransaction, ("id",), {
        "id": "transaction_id", **_fields("authorization_reference", "session_id", "status", "amount", "currency",
                                          "captured_at", "provider", "email")}),
    "locations": KindSpec("locations", Location, ("id",), {
        "id": "location_id", **_fields("name", "country", "city", "cost_centre", "category", "time_zone")}),
}
assert set(SPECS) == set(KIND_MODELS)

# Kinds DbSource caches; upserting one of them in this process clears every DbSource cache.
CACHED_KINDS = frozenset({"locations", "msp_contracts"})
_generation = 0
_generation_lock = threading.Lock()


def _bump_generation() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _money(value: Any) -> Any:
    return value.quantize(Decimal("0.01")) if isinstance(value, Decimal) else value


def record_from_row(spec: KindSpec, row: Any, tokens: Sequence[str] | None = None) -> dict[str, Any]:
    """The normalised record as stored (what the FactSource returns): schema fields, then extras."""
    record: dict[str, Any] = {}
    for fld, column in spec.columns.items():
        value = getattr(row, column)
        record[fld] = _iso(value) if fld in spec.dates else value
    if tokens is not None:
        record["tokens"] = list(tokens)
    extra = getattr(row, "extra", None)
    if extra:
        for k, v in extra.items():
            record.setdefault(k, v)
    return record


def _stored_view(spec: KindSpec, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str] | None]:
    """(column values, the record as it will read back, tokens) for a normalised record."""
    values: dict[str, Any] = {}
    view: dict[str, Any] = {}
    for fld, column in spec.columns.items():
        value = record.get(fld)
        if fld in spec.dates:
            value = _date(value)
            view[fld] = _iso(value)
        elif fld == "amount":
            view[fld] = _money(value)
        else:
            view[fld] = value
        values[column] = value
    known = set(spec.columns) | ({"tokens"} if spec.kind == "customers" else set())
    extra = {k: v for k, v in record.items() if k not in known}
    values["extra"] = to_jsonable(extra) if extra else None
    view.update(values["extra"] or {})
    tokens = None
    if spec.kind == "customers":
        tokens = sorted({str(t).upper() for t in record.get("tokens") or []})
        view["tokens"] = tokens
    for k in ("address",):
        if k in values:
            values[k] = to_jsonable(values[k])
            view[k] = values[k]
    return values, view, tokens


class _Rejected(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _check(spec: KindSpec, record: dict[str, Any], values: dict[str, Any], tokens: list[str] | None) -> list[str]:
    """What the store cannot hold, as ``field: reason`` strings (empty: storable)."""
    reasons = []
    by_column = {column: fld for fld, column in spec.columns.items()}
    for column in spec.table.columns:
        if column.name not in values:
            continue
        value = values[column.name]
        fld = by_column.get(column.name, column.name)
        if value is None:
            if not column.nullable:
                reasons.append(f"{fld}: required")
            continue
        length = getattr(column.type, "length", None)
        if isinstance(column.type, String) and length and isinstance(value, str) and len(value) > length:
            reasons.append(f"{fld}: longer than {length} characters")
        if fld == "amount" and isinstance(value, Decimal):
            if value != value.quantize(Decimal("0.01")):
                reasons.append(f"{fld}: more than 2 decimal places")
            elif abs(value) >= Decimal(10) ** 16:
                reasons.append(f"{fld}: too large")
        if isinstance(value, int) and not isinstance(value, bool) and not -_INT32 <= value < _INT32:
            reasons.append(f"{fld}: out of range")
    for token in tokens or []:
        if len(token) > 64:
            reasons.append(f"tokens: {token!r} is longer than 64 characters")
        if not token:
            reasons.append("tokens: empty token")
    if _has_nul(record):
        reasons.append("record: contains a NUL character")
    return reasons


# --- upserts ---------------------------------------------------------------------------------------


@dataclass
class RecordOutcome:
    """What happened to one record of a batch (``index`` is its position in the batch)."""

    index: int
    key: str | None
    outcome: str                                   # inserted | updated | unchanged | rejected
    reasons: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = field(default=None, repr=False)   # the normalised record
    problems: list[Problem] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "key": self.key, "outcome": self.outcome}
        if self.reasons:
            out["reasons"] = list(self.reasons)
        return out


@dataclass
class UpsertResult:
    """The per-record outcomes of one batch of one kind, and their counts."""

    kind: str
    outcomes: list[RecordOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def inserted(self) -> int:
        return self.count(INSERTED)

    @property
    def updated(self) -> int:
        return self.count(UPDATED)

    @property
    def unchanged(self) -> int:
        return self.count(UNCHANGED)

    @property
    def rejected(self) -> int:
        return self.count(REJECTED)

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in RECORD_OUTCOMES}

    def changed_records(self) -> list[dict[str, Any]]:
        """The normalised records that were inserted or updated (in batch order)."""
        return [o.record for o in self.outcomes if o.outcome in (INSERTED, UPDATED) and o.record is not None]

    def accepted_records(self) -> list[dict[str, Any]]:
        """The normalised records that are stored now (inserted, updated or unchanged)."""
        return [o.record for o in self.outcomes if o.outcome != REJECTED and o.record is not None]

    def extend(self, other: "UpsertResult") -> None:
        self.outcomes.extend(other.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.counts(), "records": [o.to_json() for o in self.outcomes]}


def upsert_records(session: Session, kind: str, records: Iterable[dict[str, Any]], *, source: str | None = None,
                   now: datetime | None = None, first_index: int = 0) -> UpsertResult:
    """Store normalised records of ``kind`` (the output of ``validate_records``); see the module
    docstring. ``source`` is kept on inserted/updated rows (a file name, ``http``)."""
    spec = SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown reference kind {kind!r}; expected one of {sorted(SPECS)}")
    now = now or utcnow()
    result = UpsertResult(kind)
    seen: dict[tuple[Any, ...], int] = {}
    for offset, record in enumerate(records):
        index = first_index + offset
        label = spec.label(record)
        key = spec.key_of(record)
        if key in seen:
            result.outcomes.append(RecordOutcome(index, label, REJECTED, [
                f"{'/'.join(spec.key)}: {label} occurs twice in this batch (first at record {seen[key]})"],
                record=record))
            continue
        seen[key] = index
        try:
            with session.begin_nested():
                outcome = _upsert_one(session, spec, record, source, now)
        except _Rejected as exc:
            result.outcomes.append(RecordOutcome(index, label, REJECTED, exc.reasons, record=record))
            continue
        except DBAPIError as exc:  # a constraint the checks above did not foresee (or a lost race)
            message = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
            result.outcomes.append(RecordOutcome(index, label, REJECTED, [f"record: cannot be stored: {message}"],
                                                 record=record))
            continue
        result.outcomes.append(RecordOutcome(index, label, outcome, record=record))
    if kind in CACHED_KINDS and (result.inserted or result.updated):
        _bump_generation()
    return result


def _key_filter(spec: KindSpec, values: dict[str, Any]) -> list[Any]:
    return [spec.table.c[c] == values[c] for c in spec.key_columns]


def _upsert_one(session: Session, spec: KindSpec, record: dict[str, Any], source: str | None,
                now: datetime) -> str:
    values, view, tokens = _stored_view(spec, record)
    reasons = _check(spec, record, values, tokens)
    if reasons:
        raise _Rejected(reasons)
    digest = hash_of_value(to_jsonable(view))
    table = spec.table
    if tokens:
        _check_token_owners(session, values["customer_id"], tokens)

    locate = for_update(session, select(table.c.id, table.c.content_hash).where(*_key_filter(spec, values)))
    row = session.execute(locate).one_or_none()
    if row is None:
        new_id = insert_ignore(session, spec.model, {
            **values, "content_hash": digest, "source": source, "created_at": now, "updated_at": now,
        }, spec.key_columns)
        if new_id is not None:
            if tokens is not None:
                _sync_tokens(session, new_id, values["customer_id"], tokens)
            return INSERTED
        row = session.execute(locate).one()   # a concurrent writer inserted it first
    if row.content_hash == digest:
        return UNCHANGED
    session.execute(update(table).where(table.c.id == row.id)
                    .values(**values, content_hash=digest, source=source, updated_at=now))
    if tokens is not None:
        _sync_tokens(session, row.id, values["customer_id"], tokens)
    return UPDATED


_customers, _tokens = Customer.__table__, CustomerToken.__table__


def _check_token_owners(session: Session, customer_id: str, tokens: list[str]) -> None:
    rows = session.execute(
        select(_tokens.c.uid, _customers.c.customer_id)
        .select_from(_tokens.join(_customers, _customers.c.id == _tokens.c.customer_pk))
        .where(_tokens.c.uid.in_(tokens), _customers.c.customer_id != customer_id)).all()
    if rows:
        raise _Rejected([f"tokens: {uid} belongs to customer {owner}" for uid, owner in sorted(rows)])


def _sync_tokens(session: Session, customer_pk: int, customer_id: str, tokens: list[str]) -> None:
    dropped = delete(_tokens).where(_tokens.c.customer_pk == customer_pk)
    if tokens:
        dropped = dropped.where(_tokens.c.uid.not_in(tokens))
    session.execute(dropped)
    for uid in tokens:
        if insert_ignore(session, CustomerToken, {"customer_pk": customer_pk, "uid": uid}, ["uid"]) is None:
            owner = session.execute(select(_tokens.c.customer_pk).where(_tokens.c.uid == uid)).scalar_one()
            if owner != customer_pk:  # claimed by another customer since the check above
                raise _Rejected([f"tokens: {uid} belongs to another customer"])


# --- validate + upsert (what `cdrflow load` and the HTTP API share) ---------------------------------

_PROBLEM_PATH = re.compile(r"^[a-z_]+\[(\d+)\]\.(.*)$")


def store_records(session: Session, kind: str, raw_records: Sequence[Any], *, file: str = "<input>",
                  locs: Sequence[Any] | None = None, source: str | None = None,
                  now: datetime | None = None) -> UpsertResult:
    """Validate ``raw_records`` with the Cerberus schema of ``kind`` and upsert the valid ones.

    Invalid records are ``rejected`` outcomes carrying their field reasons and Problems (with
    ``file`` and, when ``locs`` are given, the line of each record)."""
    from engine.reference import validate_records

    good, problems = validate_records(kind, raw_records, file, list(locs) if locs is not None else None)
    bad: dict[int, list[Problem]] = {}
    for problem in problems:
        match = _PROBLEM_PATH.match(problem.path)
        bad.setdefault(int(match.group(1)) if match else -1, []).append(problem)
    valid = [i for i in range(len(raw_records)) if i not in bad]
    if -1 in bad or len(valid) != len(good):  # cannot tell records apart: validate one by one
        return _store_one_by_one(session, kind, raw_records, file=file, locs=locs, source=source, now=now)

    stored = upsert_records(session, kind, good, source=source, now=now)
    for outcome, index in zip(stored.outcomes, valid):
        outcome.index = index
    result = UpsertResult(kind, list(stored.outcomes))
    for index, found in bad.items():
        record = raw_records[index]
        spec = SPECS[kind]
        label = spec.label(record) if isinstance(record, dict) else None
        result.outcomes.append(RecordOutcome(index, label, REJECTED, [p.message for p in found], problems=found))
    result.outcomes.sort(key=lambda o: o.index)
    return result


def _store_one_by_one(session: Session, kind: str, raw_records: Sequence[Any], *, file: str,
                      locs: Sequence[Any] | None, source: str | None, now: datetime | None) -> UpsertResult:
    from engine.reference import validate_records

    result = UpsertResult(kind)
    for index, record in enumerate(raw_records):
        loc = [locs[index]] if locs is not None and index < len(locs) else None
        good, problems = validate_records(kind, [record], file, loc)
        if problems or not good:
            label = SPECS[kind].label(record) if isinstance(record, dict) else None
            result.outcomes.append(RecordOutcome(index, label, REJECTED, [p.message for p in problems]
                                                 or ["record: invalid"], problems=problems))
            continue
        result.extend(upsert_records(session, kind, good, source=source, now=now, first_index=index))
    return result


# --- the FactSource --------------------------------------------------------------------------------


class _Cache:
    """A small per-instance cache, dropped after ``ttl`` seconds or when this process upserts a
    cached kind (``_generation``)."""

    def __init__(self, ttl: float | None, max_entries: int = 10_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: dict[Any, Any] = {}
        self._stamp = time.monotonic()
        self._generation = _generation

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        if (self._generation != _generation or (self.ttl is not None and now - self._stamp > self.ttl)
                or len(self._data) >= self.max_entries):
            self.clear()
        try:
            return self._data[key]
        except KeyError:
            value = load()
            self._data[key] = value
            return value

    def clear(self) -> None:
        self._data = {}
        self._stamp = time.monotonic()
        self._generation = _generation


_psp, _subscriptions, _msp_contracts, _locations = (
    PspTransaction.__table__, Subscription.__table__, MspContract.__table__, Location.__table__)
_CUSTOMER_BY_TOKEN = (select(_customers).select_from(_customers.join(_tokens, _tokens.c.customer_pk == _customers.c.id))
                      .where(_tokens.c.uid == bindparam("uid")))
_SUBSCRIPTIONS_OF = (select(_subscriptions).where(_subscriptions.c.customer_id == bindparam("customer_id"))
                     .order_by(_subscriptions.c.valid_from, _subscriptions.c.id))
_MSPS_OF = (select(_msp_contracts).where(_msp_contracts.c.party == bindparam("party"))
            .order_by(_msp_contracts.c.valid_from, _msp_contracts.c.id))
_LOCATION = select(_locations).where(_locations.c.location_id == bindparam("location_id"))
# A match on authorization_reference wins over one on session_id; the newest wins within each.
# (``= NULL`` is never true, so an absent value matches nothing.)
_PSP_BY_AUTH = _psp.c.authorization_reference == bindparam("auth", type_=String())
_PSP_TRANSACTION = (select(_psp)
                    .where(_PSP_BY_AUTH | (_psp.c.session_id == bindparam("sid", type_=String())))
                    .order_by(case((_PSP_BY_AUTH, 0), else_=1), _psp.c.updated_at.desc(), _psp.c.id.desc())
                    .limit(1))

# The same, for all values of a batch at once (DbSource.sharing(cdrs=...), PostgreSQL only): the
# lists go over as arrays, one parameter each, so the statement is built once and its text is the
# same for every batch (see ``engine.store._sql.one_of``).
_TEXTS = ARRAY(String)
_PSP_TRANSACTIONS_OF = select(_psp).where((_psp.c.authorization_reference == any_(bindparam("auths", type_=_TEXTS)))
                                          | (_psp.c.session_id == any_(bindparam("sids", type_=_TEXTS))))
_CUSTOMERS_BY_TOKENS = (select(_tokens.c.uid.label("token_uid"), _customers,
                               *[c.label(f"sub_{c.name}") for c in _subscriptions.c])
                        .select_from(_customers.join(_tokens, _tokens.c.customer_pk == _customers.c.id)
                                     .outerjoin(_subscriptions, _subscriptions.c.customer_id == _customers.c.customer_id))
                        .where(_tokens.c.uid == any_(bindparam("uids", type_=_TEXTS)))
                        .order_by(_subscriptions.c.valid_from, _subscriptions.c.id))


class _Renamed:
    """The columns of a row whose labels carry a prefix, by their own names (for record_from_row)."""

    __slots__ = ("_mapping", "_prefix")

    def __init__(self, mapping: Any, prefix: str):
        self._mapping, self._prefix = mapping, prefix

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[self._prefix + name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class _Prefetched:
    """What ``DbSource.sharing(cdrs=...)`` read for a batch: the values asked for, and the rows."""

    auths: set[str]
    sids: set[str]
    uids: set[str]
    psp: list[Any] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)      # token uid -> customer
    subscriptions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # customer id -> ordered

    def psp_transaction(self, auth: str | None, sid: str | None) -> dict[str, Any] | None:
        """``_PSP_TRANSACTION`` over the rows read: a match on authorization_reference wins over
        one on session_id; the newest (updated_at, then id) wins within each."""
        for matches in ((lambda r: auth is not None and r.authorization_reference == auth),
                        (lambda r: sid is not None and r.session_id == sid)):
            rows = [r for r in self.psp if matches(r)]
            if rows:
                newest = max(rows, key=lambda r: (r.updated_at, r.id))
                return record_from_row(SPECS["psp_transactions"], newest)
        return None


class DbSource:
    """The FactSource of the embedded default: reference data from the database.

    ``DbSource(session)`` reads through that session (it sees what the session has written and
    not yet committed - what ``release`` needs); ``DbSource(session_factory)`` opens a short
    session per lookup (what a long-lived pipeline needs). On SQLite never use a factory-bound
    source while a write transaction is open in the same thread: every transaction there takes
    the write lock, so the lookup would wait for its own caller. Use :meth:`bound` instead.

    ``cache_ttl``: seconds the location and MSP contract caches live (None: for the life of the
    instance, or until this process upserts one of those kinds).
    """

    def __init__(self, bind: Session | Callable[[], Session], *, cache_ttl: float | None = 60.0):
        self._session = bind if isinstance(bind, Session) else None
        self._factory = None if isinstance(bind, Session) else bind
        self.cache_ttl = cache_ttl
        self._locations = _Cache(cache_ttl)
        self._msps = _Cache(cache_ttl)
        self._shared = threading.local()

    def bound(self, session: Session) -> "DbSource":
        """The same source reading through ``session`` (its own, fresh caches)."""
        return DbSource(session, cache_ttl=self.cache_ttl)

    def clear_cache(self) -> None:
        self._locations.clear()
        self._msps.clear()

    @contextmanager
    def sharing(self, session: Session | None = None, cdrs: Iterable[Any] | None = None, *,
                own_parties: Iterable[str] | None = None) -> Iterator[None]:
        """Within the block this thread's lookups share one session: one pool checkout (and its
        pre-ping) and one transaction instead of one each - what deciding a batch of CDRs wants
        (a few lookups per CDR). PostgreSQL only; on SQLite every transaction takes the write
        lock (see the class doc), so there each lookup keeps its own short session. Reads see the
        same either way (READ COMMITTED: each statement sees what was committed before it).

        ``session``: share this session (the caller's; it is left open, in its transaction - the
        API then records the CDRs in the same transaction) instead of a new one.

        ``cdrs``: the CDRs about to be decided (raw or normalised dicts). The PSP transactions
        matching any of their ``authorization_reference`` / ``session_id`` values, and the
        customers (with their subscriptions) of their token uids (only tokens issued by one of
        ``own_parties`` when that is given - the only ones the facts look up), are then read with
        one query each for the whole block, and lookups of those values are answered from what
        was read - the same answer as a query of its own at that moment (same rules:
        authorization_reference before session_id, newest first). Anything else is queried as
        usual."""
        if self._factory is None or getattr(self._shared, "session", None) is not None:
            yield
            return
        own = self._factory() if session is None else session
        try:
            if own.get_bind().dialect.name != "postgresql":
                yield
                return
            self._shared.session = own
            try:
                if cdrs is not None:
                    self._prefetch(own, list(cdrs), own_parties)
                yield
            finally:
                self._shared.session = None
                self._shared.prefetched = None
        finally:
            if session is None:
                own.rollback()
                own.close()

    def _prefetch(self, session: Session, cdrs: list[Any], own_parties: Iterable[str] | None) -> None:
        own = {str(p).upper() for p in own_parties} if own_parties is not None else None
        auths: set[str] = set()
        sids: set[str] = set()
        uids: set[str] = set()
        for cdr in cdrs:
            if not isinstance(cdr, dict):
                continue
            for name, into in (("authorization_reference", auths), ("session_id", sids)):
                value = cdr.get(name)
                if isinstance(value, str) and value:
                    into.add(value)
            token = cdr.get("cdr_token")
            if isinstance(token, dict) and token.get("uid"):
                country, party = token.get("country_code"), token.get("party_id")
                if own is None or (country and party and f"{str(country).upper()}*{str(party).upper()}" in own):
                    uids.add(str(token["uid"]).upper())
        found = _Prefetched(auths, sids, uids)
        if auths or sids:
            found.psp = list(session.execute(_PSP_TRANSACTIONS_OF, {"auths": sorted(auths), "sids": sorted(sids)}))
        if uids:
            # customers with their subscriptions in one statement (ordered as _SUBSCRIPTIONS_OF)
            seen: dict[str, set[Any]] = {}
            for r in session.execute(_CUSTOMERS_BY_TOKENS, {"uids": sorted(uids)}):
                customer = found.customers.get(r.token_uid)
                if customer is None:
                    customer = found.customers[r.token_uid] = record_from_row(SPECS["customers"], r)
                    found.subscriptions.setdefault(customer["id"], [])
                    seen.setdefault(customer["id"], set())
                if r.sub_id is not None and r.sub_id not in seen[customer["id"]]:
                    seen[customer["id"]].add(r.sub_id)
                    found.subscriptions[customer["id"]].append(record_from_row(
                        SPECS["subscriptions"], _Renamed(r._mapping, "sub_")))
        self._shared.prefetched = found

    def _prefetched(self) -> "_Prefetched | None":
        return getattr(self._shared, "prefetched", None)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        if self._session is not None:
            yield self._session
            return
        shared = getattr(self._shared, "session", None)
        if shared is not None:
            yield shared
            return
        assert self._factory is not None
        with self._factory() as session:
            try:
                yield session
            finally:
                session.rollback()

    # FactSource ----------------------------------------------------------------------------------

    # The lookups run for every CDR: their statements are built once (bound parameters), so
    # SQLAlchemy's compiled cache applies (building a statement costs more than running it).

    def customer_by_token(self, uid: str) -> dict[str, Any] | None:
        found = self._prefetched()
        if found is not None and str(uid).upper() in found.uids:
            customer = found.customers.get(str(uid).upper())
            return dict(customer) if customer is not None else None
        with self._reading() as session:
            row = session.execute(_CUSTOMER_BY_TOKEN, {"uid": str(uid).upper()}).one_or_none()
        return record_from_row(SPECS["customers"], row) if row is not None else None

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        found = self._prefetched()
        if found is not None and customer_id in found.subscriptions:
            return [dict(r) for r in found.subscriptions[customer_id]]
        with self._reading() as session:
            rows = session.execute(_SUBSCRIPTIONS_OF, {"customer_id": customer_id}).all()
        return [record_from_row(SPECS["subscriptions"], r) for r in rows]

    def msp_contracts_of(self, party: str) -> list[dict[str, Any]]:
        party = str(party).upper()
        return [dict(r) for r in self._msps.get(party, lambda: self._load_msps(party))]

    def _load_msps(self, party: str) -> list[dict[str, Any]]:
        with self._reading() as session:
            rows = session.execute(_MSPS_OF, {"party": party}).all()
        return [record_from_row(SPECS["msp_contracts"], r) for r in rows]

    def psp_transaction(self, authorization_reference: str | None, session_id: str | None) -> dict[str, Any] | None:
        """The newest transaction with this authorization_reference, else the newest with this
        session_id (an empty value is no value) - in one statement."""
        auth, sid = authorization_reference or None, session_id or None
        if auth is None and sid is None:
            return None
        found = self._prefetched()
        if found is not None and (auth is None or auth in found.auths) and (sid is None or sid in found.sids):
            return found.psp_transaction(auth, sid)
        with self._reading() as session:
            row = session.execute(_PSP_TRANSACTION, {"auth": auth, "sid": sid}).first()
        return record_from_row(SPECS["psp_transactions"], row) if row is not None else None

    def location(self, location_id: str) -> dict[str, Any] | None:
        found = self._locations.get(location_id, lambda: self._load_location(location_id))
        return dict(found) if found is not None else None

    def _load_location(self, location_id: str) -> dict[str, Any] | None:
        with self._reading() as session:
            row = session.execute(_LOCATION, {"location_id": location_id}).one_or_none()
        return record_from_row(SPECS["locations"], row) if row is not None else None

    # what InMemorySource offers besides the protocol ------------------------------------------------

    def msp_contract(self, party: str, contract_id: str | None = None) -> dict[str, Any] | None:
        for contract in self.msp_contracts_of(party):
            if contract_id is None or contract["contract_id"] == contract_id:
                return contract
        return None

    def is_empty(self) -> bool:
        """True when no reference record of any kind is stored (e.g. nothing loaded yet)."""
        with self._reading() as session:
            return all(session.execute(select(spec.table.c.id).limit(1)).first() is None for spec in SPECS.values())


def export_records(session: Session, kind: str) -> list[dict[str, Any]]:
    """Every stored record of ``kind`` (customers with their tokens), in key order."""
    spec = SPECS[kind]
    rows = session.execute(select(spec.table).order_by(*[spec.table.c[c] for c in spec.key_columns])).all()
    if kind != "customers":
        return [record_from_row(spec, r) for r in rows]
    tokens: dict[int, list[str]] = {}
    for pk, uid in session.execute(select(_tokens.c.customer_pk, _tokens.c.uid).order_by(_tokens.c.uid)):
        tokens.setdefault(pk, []).append(uid)
    return [record_from_row(spec, r, tokens.get(r.id, [])) for r in rows]


def preferred_source(session_factory: Callable[[], Session], fallback: Any) -> Any:
    """The database's reference data once any has been loaded (``cdrflow load`` or the HTTP
    API), else ``fallback`` (the YAML reference directory): the service reads the system of
    record, a fresh installation still works out of the box."""
    source = DbSource(session_factory)
    return fallback if source.is_empty() else source
