"""Billable items are built straight into their period while it is open; a close then only
assigns what waits (late items, items built while their period was locked or closing)."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import select, update

from billing_helpers import SAMPLES, bundle, ingest_cdrs, ingest_samples, variant
from engine.store.billing_models import BillableItem
from engine.store.cdrs import current_decision, replace_decision
from engine.store.models import BillingPeriod, Cdr
from engine.streams.billable import ensure_period, open_periods, sync_billable, waiting_earlier
from engine.streams.close import close_period
from engine.streams.periods import lock_period

MSP_FILES = sorted(p.name for p in SAMPLES.glob("msp-*.json"))
OCT, NOV_1 = "2026-10", date(2026, 11, 1)


def _sync(session_factory, stream: str = "msp") -> int:
    with session_factory() as session:
        built = sync_billable(session, stream)
        session.commit()
    return built


def _items(session_factory, *where):
    with session_factory() as session:
        return session.execute(select(BillableItem.cdr_id, BillableItem.own_period, BillableItem.period_key,
                                      BillableItem.late, BillableItem.decision_id, BillableItem.cdr_pk)
                               .where(BillableItem.stream == "msp", *where).order_by(BillableItem.cdr_id)).all()


def _set_status(session_factory, period: str, status: str) -> None:
    with session_factory() as session:
        session.execute(update(BillingPeriod).where(BillingPeriod.stream == "msp", BillingPeriod.period_key == period)
                        .values(status=status))
        session.commit()


def test_items_are_built_into_their_own_open_period(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    assert _sync(session_factory) > 0
    items = _items(session_factory)
    assert items and all(i.period_key == i.own_period and not i.late for i in items)
    with session_factory() as session:
        periods = dict(session.execute(select(BillingPeriod.period_key, BillingPeriod.status)
                                       .where(BillingPeriod.stream == "msp")).all())
    assert periods == {i.own_period: "open" for i in items}
    assert _sync(session_factory) == 0   # nothing new: nothing built twice


def test_an_item_of_a_closing_period_waits_and_the_next_close_bills_it_late(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    _sync(session_factory)
    _set_status(session_factory, OCT, "closing")
    ingest_cdrs(session_factory, [variant("msp-de-ldx-munich-dc-001.json", "VLT-ARRIVED-WHILE-CLOSING", days=1)])
    assert _sync(session_factory) == 1
    [item] = _items(session_factory, BillableItem.cdr_id == "VLT-ARRIVED-WHILE-CLOSING")
    assert (item.own_period, item.period_key) == (OCT, None)
    _set_status(session_factory, OCT, "closed")
    november = close_period(session_factory, bundle(), "msp", "2026-11", as_of=date(2026, 12, 1))
    [item] = _items(session_factory, BillableItem.cdr_id == "VLT-ARRIVED-WHILE-CLOSING")
    assert (item.period_key, item.late) == ("2026-11", True)
    assert november.late == 1


def _october_stored_and_open(session_factory, db_url: str) -> None:
    """The MSP samples ingested and October's period row committed open (PostgreSQL only)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    ingest_samples(session_factory, names=MSP_FILES)
    with session_factory() as session:
        ensure_period(session, "msp", OCT)
        session.commit()


def test_a_period_a_closer_holds_is_not_waited_for(session_factory, db_url):
    _october_stored_and_open(session_factory, db_url)
    closer = session_factory()
    try:
        assert lock_period(closer, "msp", OCT) is not None       # FOR UPDATE, held
        built: list[int] = []
        sync = threading.Thread(target=lambda: built.append(_sync(session_factory)))
        sync.start()
        sync.join(30)
        assert built and built[0] > 0, "the sync must not wait for the closer's row lock"
    finally:
        closer.rollback()
        closer.close()
    october = _items(session_factory, BillableItem.own_period == OCT)
    assert october and all(i.period_key is None for i in october)   # waiting, not in the period
    result = close_period(session_factory, bundle(), "msp", OCT, as_of=NOV_1)
    october = _items(session_factory, BillableItem.own_period == OCT)
    assert all(i.period_key == OCT and not i.late for i in october)
    assert result.assigned == len(october) and sum(len(d.sessions) for d in result.documents) == len(october)


def test_a_replayed_decision_rebuilds_its_item_only_while_the_period_is_open(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    _sync(session_factory)
    first = _items(session_factory, BillableItem.own_period == OCT)[0]

    def replay() -> int:
        with session_factory() as session:
            cdr = session.get(Cdr, first.cdr_pk)
            key = (cdr.country_code, cdr.party_id, cdr.cdr_id)
            new_id = replace_decision(session, first.cdr_pk, current_decision(session, key))
            session.commit()
        return new_id

    replayed = replay()
    assert _sync(session_factory) == 1
    [item] = _items(session_factory, BillableItem.cdr_id == first.cdr_id)
    assert (item.decision_id, item.period_key) == (replayed, OCT)

    _set_status(session_factory, OCT, "closing")
    replay()
    assert _sync(session_factory) == 0   # billed as it is once its period is closing
    [item] = _items(session_factory, BillableItem.cdr_id == first.cdr_id)
    assert item.decision_id == replayed


def test_items_in_an_open_earlier_period_are_reported_waiting(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    ingest_cdrs(session_factory, [variant("msp-de-ldx-munich-dc-001.json", "VLT-SEPTEMBER-ONE", days=-30)])
    _sync(session_factory)
    september = _items(session_factory, BillableItem.own_period == "2026-09")
    assert september and all(i.period_key == "2026-09" for i in september)
    result = close_period(session_factory, bundle(), "msp", OCT, as_of=NOV_1)
    assert result.waiting_earlier == {"2026-09": len(september)}
    with session_factory() as session:
        assert waiting_earlier(session, "msp", OCT) == {"2026-09": len(september)}


def test_items_built_during_a_close_are_billed_once_by_it_or_the_next(session_factory, db_url, monkeypatch):
    """The race the period-row lock decides: CDRs of October keep arriving and being built into
    items while October is being closed. Each must end up on exactly one invoice - October's if
    it was built before the close took the period, November's (late) otherwise - and no item may
    sit in October unbilled (built into the period after the close had aggregated it)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    from engine.streams import msp as msp_stream

    ingest_samples(session_factory, names=MSP_FILES)
    real = msp_stream.build_msp_document

    def slow(*args, **kwargs):   # keep the close busy while the CDRs arrive
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(msp_stream, "build_msp_document", slow)
    arrived: list[str] = []
    errors: list[BaseException] = []

    closed = threading.Event()

    def arrive() -> None:   # before, during and a little after the close
        try:
            after = 0
            while after < 3 and len(arrived) < 80:
                after += closed.is_set()
                cdr_id = f"VLT-RACE-{len(arrived):03d}"
                ingest_cdrs(session_factory, [variant("msp-de-ldx-munich-dc-001.json", cdr_id, days=1)])
                arrived.append(cdr_id)
                _sync(session_factory)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    feeder = threading.Thread(target=arrive)
    feeder.start()
    while not arrived and feeder.is_alive():
        time.sleep(0.01)
    october = close_period(session_factory, bundle(), "msp", OCT, as_of=NOV_1)
    closed.set()
    feeder.join(60)
    assert not errors, errors
    assert october.outcome == "closed" and len(arrived) >= 4
    _sync(session_factory)
    stranded = _items(session_factory, BillableItem.period_key == OCT)
    with session_factory() as session:
        unbilled = session.execute(select(BillableItem.cdr_id).where(
            BillableItem.period_key == OCT, BillableItem.document_number.is_(None))).scalars().all()
    assert unbilled == [], "an item built into October after its close aggregated it is never billed"
    november = close_period(session_factory, bundle(), "msp", "2026-11", as_of=date(2026, 12, 1))
    billed = [s.cdr_id for r in (october, november) for d in r.documents for s in d.sessions]
    race = sorted(c for c in billed if c.startswith("VLT-RACE-"))
    assert race == sorted(arrived), "every CDR on exactly one invoice"
    late = {s.cdr_id for d in november.documents for s in d.sessions if s.late}
    assert {c for c in race if c not in {i.cdr_id for i in stranded}} <= late


def test_a_close_waits_for_a_sync_that_holds_the_open_period(session_factory, db_url):
    """A sync mid-batch holds the open period's row FOR SHARE; the close must wait for it (a batch
    is brief), not report the period as being closed by someone else."""
    _october_stored_and_open(session_factory, db_url)
    syncing = session_factory()
    try:
        assert open_periods(syncing, "msp", [OCT]) == {OCT}     # FOR SHARE, held until commit
        threading.Timer(1.0, syncing.commit).start()
        result = close_period(session_factory, bundle(), "msp", OCT, as_of=NOV_1)
    finally:
        time.sleep(1.05)
        syncing.close()
    assert result.outcome == "closed" and len(result.documents) == 5
