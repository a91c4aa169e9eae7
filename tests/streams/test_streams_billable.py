"""Billable items are built straight into their period while it is open; a close then only
assigns what waits (late items, items built while their period was locked or closing)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select, update

from billing_helpers import SAMPLES, bundle, ingest_cdrs, ingest_samples, variant
from engine.store.billing_models import BillableItem
from engine.store.cdrs import current_decision, replace_decision
from engine.store.models import BillingPeriod, Cdr
from engine.streams.billable import ensure_period, sync_billable, waiting_earlier
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


def test_a_period_a_closer_holds_is_not_waited_for(session_factory, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    ingest_samples(session_factory, names=MSP_FILES)
    with session_factory() as session:
        ensure_period(session, "msp", OCT)
        session.commit()
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
